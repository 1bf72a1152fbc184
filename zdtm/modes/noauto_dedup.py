"""--noauto-dedup: `criu dedup` after each dump of an iteration > 1, as
zdtm.py does. criu dedup punches holes in the parent images (the images
dir's `parent` link) for the pages the new dump has again. zdtm.py's dumps
get a parent from its pre-dumps (--prev-images-dir --track-mem); without
soft-dirty tracking there are none, and a dump given --prev-images-dir
without --track-mem is refused by criu ("Pid-reuse detection failed: no
parent inventory": the parent inventory has a dump uptime only with memory
tracking). So the harness itself links the previous iteration's images as
the `parent` of the new dump's, runs `criu dedup` (with the dump's
identity), checks that the parent's pages images lost blocks, and removes
the link (the dump has no page in its parent, and a root restore refuses
symlinks in owner-written images). The mode runs two iterations unless
--iters asks more."""
from __future__ import annotations

import os

from ..config import Option
from ..outcome import PhaseFailure
from .base import Mode
from .dedup import pages_usage


class NoAutoDedupMode(Mode):
    name = "noauto-dedup"
    order = 41
    id_suffix = "noauto-dedup"
    marker = "noauto_dedup"
    description = "criu dedup after each dump of an iteration > 1"
    options = (Option("noauto_dedup", "run criu dedup after each dump of an iteration > 1 (two iterations "
                                      "at least; each dump's parent is the previous one)",
                      cli=("--noauto-dedup",), pytest="--zdtm-noauto-dedup", action="store_true", mode=True),)
    iterations = 2

    @classmethod
    def enabled(cls, settings) -> bool:
        return bool(settings.mode_option("noauto_dedup"))

    def skip_reason(self, desc, flavor: str):
        if self.settings.mode_option("norst"):
            return "--noauto-dedup dedups a dump against the previous iteration's, and --norst has one dump"
        return None

    def after_dump(self, step) -> None:
        if step.n < 2:
            return
        parent = step.images.with_name(str(step.n - 1))
        before = pages_usage(parent)
        link = step.images / "parent"
        os.symlink(f"../{step.n - 1}", link)
        try:
            criu = step.run_criu("dedup", step.criu_call("dedup"), like="dump")
        finally:
            os.unlink(link)
        if not criu.ok:
            raise PhaseFailure("dedup", criu.status(), criu=criu)
        after = pages_usage(parent)
        line = (f"criu dedup of iteration {step.n}: the parent's pages images ({before[0]} bytes) had "
                f"{before[1]} bytes allocated, {after[1]} after")
        step.run.result.sections.append(("noauto-dedup", line))
        if before[1] and after[1] >= before[1]:
            raise PhaseFailure("dedup", f"criu dedup punched no hole in the parent's pages images ({line})",
                               criu=criu)
