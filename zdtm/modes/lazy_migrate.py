"""--lazy-migrate: the dump itself serves the tree's memory (`criu dump
--lazy-pages`, on a port criu binds itself): it runs on in the background,
the dumped tree frozen, while the restore's lazy-pages daemon pulls the
pages from it; then the dump ends and kills the dumped tree. Its exit
status and log, and the daemon's, are checked once the restored tree has
all its pages, and the dumped tree must then be gone.

The dumped tree lives while the new one is restored, so the restore needs
pids of its own: the ns and uns flavors restore into a new pid namespace,
h only through --criu-ns. Tests flagged nolazy are skipped."""
from __future__ import annotations

import time
from typing import Optional

from ..criu import CriuRun
from ..outcome import PhaseFailure
from ..procs import descendants
from .base import switch
from ._lazy import ADDRESS, ServedLazyBase, Server, deadline_left, wait_tree_gone


class LazyMigrateMode(ServedLazyBase):
    name = "lazy-migrate"
    order = 62
    id_suffix = "lazy-migrate"
    marker = "lazy_migrate"
    description = "the dump serves the pages (dump --lazy-pages) to the restore's lazy-pages daemon"
    options = (switch("lazy_migrate", "the dump serves the tree's pages (dump --lazy-pages) to the restore's "
                                      "lazy-pages daemon"),)
    dump_in_background = True

    def __init__(self, settings):
        super().__init__(settings)
        self.dump: Optional[Server] = None
        self.tree: list = []

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if flavor == "h" and not self.settings.mode_option("criu_ns"):
            return ("the dumped tree stays (frozen) until the restore pulled its pages, and the h flavor "
                    "restores the same host pids: use the ns or uns flavor, or --criu-ns")
        if self.settings.mode_option("page_server"):
            return "--lazy-migrate and --page-server would both be the dump's page server"
        if "--file-locks" in desc.opts + desc.dopts:
            # criu: "Can't set lease: Resource temporarily unavailable"; upstream's
            # CI never runs lazy migration on one host
            return ("the dumped tree keeps its file locks and leases (frozen) until the restore pulled its "
                    "pages, so a restore on the same host cannot take them again")
        return super().skip_reason(desc, flavor)

    def start_dump(self, step, call) -> CriuRun:
        self.tree = descendants(step.run.root_pid)
        args = ["--tree", str(step.run.root_pid), "--lazy-pages", "--address", ADDRESS]
        self.dump, t0 = Server("criu dump --lazy-pages", "dump"), time.monotonic()
        self.dump.helper = step.start_criu("dump", call, args, like="dump")
        run = self.dump.helper.run
        if not self.dump.helper.ready:
            self.dump.helper = None
            return run
        self.dump.port = self.dump.listening()
        if self.dump.port is None:
            self.dump.helper.kill()
            raise PhaseFailure("dump", f"criu dump --lazy-pages said it was ready, but its log {call.log} "
                                       f"names no port it serves the pages on", criu=run)
        # ready: the images are written, the dump now serves the pages
        return CriuRun("dump", run.argv, run.log, returncode=0, duration=time.monotonic() - t0)

    def before_restore(self, step) -> None:
        # The dump finishes (and is judged) after the lazy-pages daemon.
        self.helpers.append(self.dump)
        self.dump = None
        self.start_daemon(step)

    def daemon_opts(self, step) -> list:
        return ["--page-server", "--address", ADDRESS, "--port", str(self.helpers[-1].port)]

    def finished(self, step, t0: float, total: float) -> None:
        left = wait_tree_gone(self.tree, step.run.engine.reaper, deadline_left(t0, total))
        if left:
            raise PhaseFailure("restore", f"criu dump --lazy-pages ended, but the dumped tree is still "
                                          f"there: {left}")

    def stop(self, run) -> list:
        if self.dump is not None:
            self.helpers.append(self.dump)
            self.dump = None
        return super().stop(run)
