"""--norst: dump with --leave-running and never restore (the outside check
compares the tree before and after the dump)."""
from __future__ import annotations

from typing import Optional

from .base import Mode, switch


class NoRestoreMode(Mode):
    name = "norst"
    id_suffix = "norst"
    order = 20
    description = "dump with --leave-running, never restore"
    options = (switch("norst", "dump with --leave-running, never restore"),)
    restores = False
    leave_running = True

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if "reqrst" in desc.flags:
            return "flag reqrst: the test needs a restore, and --norst never restores"
        return None
