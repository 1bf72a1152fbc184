"""--page-server: each dump sends the tree's pages to a `criu page-server`
started for it (with the identity of the dump, on a port criu binds
itself), which writes them into the images dir; the server's exit status
and log are checked once the dump is done (as zdtm.py does). With --dedup
the server punches the holes (--auto-dedup)."""
from __future__ import annotations

from ..outcome import PhaseFailure
from ._lazy import ADDRESS, Server, helper_state
from .base import Mode, switch


class PageServerMode(Mode):
    name = "page-server"
    order = 50
    id_suffix = "page-server"
    marker = "page_server"
    description = "each dump sends its pages to a criu page-server"
    options = (switch("page_server", "dump through a criu page-server (one per dump, on a port criu picks)"),)

    def __init__(self, settings):
        super().__init__(settings)
        self.server = None

    def identity_note(self) -> str:
        return "the pages go through a criu page-server with the dump's identity"

    def adjust_call(self, call, action: str, step) -> None:
        # Here rather than in before_dump: a dump a mode retries gets a fresh server.
        if action != "dump":
            return
        if self.server is not None:
            self.server.kill(step.run.result)
        opts = ["--address", ADDRESS] + (["--auto-dedup"] if self.settings.mode_option("dedup") else [])
        self.server = Server("criu page-server", "dump").start(step, "page-server", opts, like="dump",
                                                                listen=True)
        call.opts += ["--page-server", "--address", ADDRESS, "--port", str(self.server.port)]

    def retry(self, step, action: str) -> bool:
        """A failed dump: say whether the page server is why."""
        if action == "dump" and self.server is not None and self.server.helper is not None:
            state = helper_state(self.server.helper)
            if not state.startswith("still running") and not state.endswith("exited with 0"):
                raise PhaseFailure("dump", f"{step.criu.status()}; its criu page-server "
                                           f"(port {self.server.port}) had ended: {state}",
                                   criu=self.server.helper.run)
        return False

    def after_dump(self, step) -> None:
        log = self.server.finish(step, self.settings.criu_timeout)
        self.server = None
        if "Accepted connection from" not in log:
            raise PhaseFailure("dump", "criu page-server exited with 0 but never accepted the dump's "
                                       "connection (its log has no 'Accepted connection from')")

    def stop(self, run) -> list:
        return self.server.kill(run.result) if self.server is not None else []
