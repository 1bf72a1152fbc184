"""--lazy-pages: restore with --lazy-pages and a local `criu lazy-pages`
daemon (the restore's identity) that serves the memory from the images
through userfaultfd; its exit status and log are checked once it has
given the restored tree all its pages. Tests flagged nolazy are skipped."""
from __future__ import annotations

from .base import switch
from ._lazy import LazyBase


class LazyPagesMode(LazyBase):
    name = "lazy-pages"
    order = 60
    id_suffix = "lazy-pages"
    marker = "lazy_pages"
    description = "restore --lazy-pages with a local criu lazy-pages daemon"
    options = (switch("lazy_pages", "restore with --lazy-pages, a criu lazy-pages daemon serving the images"),)

    @classmethod
    def enabled(cls, settings) -> bool:
        # --remote-lazy-pages and --lazy-migrate run their own daemon
        return bool(settings.mode_option("lazy_pages")) and not (
            settings.mode_option("remote_lazy_pages") or settings.mode_option("lazy_migrate"))

    def before_restore(self, step) -> None:
        self.start_daemon(step)
