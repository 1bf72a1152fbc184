"""--remote-lazy-pages: as --lazy-pages, but the daemon gets the pages from
a `criu page-server --lazy-pages` serving the images (the dump's identity,
on a port criu binds itself), as a migration would. Tests flagged nolazy
or noremotelazy are skipped."""
from __future__ import annotations

from typing import Optional

from .base import switch
from ._lazy import ADDRESS, ServedLazyBase, Server


class RemoteLazyPagesMode(ServedLazyBase):
    name = "remote-lazy-pages"
    order = 61
    id_suffix = "remote-lazy-pages"
    marker = "remote_lazy_pages"
    description = "restore --lazy-pages, the daemon fed by a criu page-server --lazy-pages"
    options = (switch("remote_lazy_pages", "restore with --lazy-pages, the daemon fed by a criu page-server "
                                           "--lazy-pages"),)

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
