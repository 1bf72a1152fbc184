"""--remote-lazy-pages: as --lazy-pages, but the daemon gets the pages from
a `criu page-server --lazy-pages` serving the images (the dump's identity,
on a port criu binds itself), as a migration would. Tests flagged nolazy
or noremotelazy are skipped."""
from __future__ import annotations

from typing import Optional

from .base import switch
from ._lazy import ADDRESS, SERVE_PIPE_BYTES, LazyBase, serving_unavailable, Server


class RemoteLazyPagesMode(LazyBase):
    name = "remote-lazy-pages"
    order = 61
    id_suffix = "remote-lazy-pages"
    marker = "remote_lazy_pages"
    # criu's page server sizes its pipes beyond the default limit, which
    # only CAP_SYS_RESOURCE (missing here) may exceed
    host_sysctls = {**LazyBase.host_sysctls, "fs/pipe-max-size": SERVE_PIPE_BYTES}
    description = "restore --lazy-pages, the daemon fed by a criu page-server --lazy-pages"
    options = (switch("remote_lazy_pages", "restore with --lazy-pages, the daemon fed by a criu page-server "
                                           "--lazy-pages"),)

    def unavailable(self, engine) -> Optional[str]:
        return super().unavailable(engine) or serving_unavailable(engine)

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if "noremotelazy" in desc.flags:
            return "flag noremotelazy: the test does not work with remote lazy pages"
        if self.settings.mode_option("lazy_migrate"):
            return "--remote-lazy-pages and --lazy-migrate each serve the pages from another criu: choose one"
        return super().skip_reason(desc, flavor)

    def before_restore(self, step) -> None:
        server = Server("criu page-server --lazy-pages", "restore").start(
            step, "page-server", ["--lazy-pages", "--address", ADDRESS], like="restore", tag="-lazy", listen=True)
        self.helpers.insert(0, server)
        self.port = server.port
        self.start_daemon(step)

    def daemon_opts(self, step) -> list:
        return ["--page-server", "--address", ADDRESS, "--port", str(self.port)]
