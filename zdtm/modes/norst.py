"""--norst: dump with --leave-running and never restore (the outside check
compares the tree before and after the dump)."""
from __future__ import annotations

from typing import Optional

from ..config import Option
from .base import Mode


class NoRestoreMode(Mode):
    name = "norst"
    id_suffix = "norst"
    order = 20
    description = "dump with --leave-running, never restore"
    options = (Option("norst", "dump with --leave-running, never restore", cli=("--norst",),
                      pytest="--zdtm-norst", action="store_true", mode=True),)
    restores = False
    leave_running = True

    @classmethod
    def enabled(cls, settings) -> bool:
        return bool(settings.mode_option("norst"))

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if "reqrst" in desc.flags:
            return "flag reqrst: the test needs a restore, and --norst never restores"
        return None
