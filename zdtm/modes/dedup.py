"""--dedup: criu deduplicates the images itself (--auto-dedup) on dump,
restore and page server. A restore with --auto-dedup punches a hole in
the pages images for every page it read: after each restore the mode
checks that the pages images really lost their blocks (st_blocks below
st_size), so a dedup that did nothing fails the test."""
from __future__ import annotations

import os
from pathlib import Path

from ..outcome import PhaseFailure
from .base import Mode, switch


def pages_usage(images: Path) -> tuple:
    """(bytes of the pages images, bytes allocated to them on disk)."""
    size = allocated = 0
    for entry in os.scandir(images):
        if entry.name.startswith("pages-") and entry.name.endswith(".img") and entry.is_file(follow_symlinks=False):
            st = entry.stat(follow_symlinks=False)
            size += st.st_size
            allocated += st.st_blocks * 512
    return size, allocated


class DedupMode(Mode):
    name = "dedup"
    order = 40
    id_suffix = "dedup"
    marker = "dedup"
    description = "criu --auto-dedup on dump, restore and page server"
    options = (switch("dedup", "deduplicate the images as criu goes (--auto-dedup on dump, restore and "
                               "page server)"),)

    def dump_opts(self, step) -> list:
        return ["--auto-dedup"]

    def restore_opts(self, step) -> list:
        return ["--auto-dedup"]

    def after_restore(self, step) -> None:
        size, allocated = pages_usage(step.images)
        line = f"pages images of iteration {step.n}: {size} bytes, {allocated} allocated after restore --auto-dedup"
        step.run.result.sections.append(("dedup", line))
        # Lazy pages are read (and punched) by the lazy-pages daemon, which
        # has no --auto-dedup: only a restore that read them all is judged.
        lazy = any(getattr(m, "lazy", False) for m in step.run.modes)
        if size and allocated >= size and not lazy:
            raise PhaseFailure("restore", f"criu restore --auto-dedup punched no hole in the pages images "
                                          f"({line})", criu=step.criu)
