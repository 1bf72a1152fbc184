"""--sibling: criu restore --restore-sibling (as zdtm.py's --sibling).

The restored root is created with CLONE_PARENT: it is criu's sibling, the
harness's own child, not one adopted through the subreaper after criu
exits. criu accepts --restore-sibling only with --restore-detached
(criu/config.c: "--restore-sibling only makes sense with
--restore-detached"), so the call stays detached. The harness reaps the
restored root when it exits (zdtm.procs: reap / Reaper). After each
restore the mode checks the restored root's parent is the harness.

criu-ns cannot do it (its restore puts the tree under a pseudo-init of a
new pid namespace, and refuses --restore-sibling, as upstream's criu-ns),
nor can a .desc's --exec-cmd restore (criu itself becomes the tree's
parent): those are skips.
"""
from __future__ import annotations

import os
import re
from typing import Optional

from ..outcome import PhaseFailure
from ..procs import proc_ppid
from .base import Mode, switch

CLONE_PARENT = 0x8000


class SiblingMode(Mode):
    name = "sibling"
    order = 32
    id_suffix = "sibling"
    marker = "sibling"
    description = "criu restore --restore-sibling: the restored root is the harness's child"
    options = (switch("sibling", "restore with --restore-sibling (the restored root is the harness's child)"),)

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if self.settings.mode_option("criu_ns"):
            return ("--sibling with --criu-ns: criu-ns restores under a pseudo-init of a new pid namespace "
                    "and refuses --restore-sibling (as upstream's criu-ns)")
        if "--exec-cmd" in desc.opts + desc.ropts:
            return "--sibling: the .desc restores with --exec-cmd (criu becomes the tree's parent), " \
                   "which criu refuses with --restore-detached, needed by --restore-sibling"
        return None

    def restore_opts(self, step) -> list:
        return ["--restore-sibling"]

    def adjust_call(self, call, action: str, step) -> None:
        if action == "restore":
            call.detach = True      # criu: --restore-sibling only with --restore-detached

    def after_restore(self, step) -> None:
        """criu forked the root with CLONE_PARENT, and it is our child."""
        m = re.search(r"Forking task with \d+ pid \(flags (0x[0-9a-f]+)\)", step.criu.log_text())
        if not m or not int(m.group(1), 16) & CLONE_PARENT:
            raise PhaseFailure("restore", "--restore-sibling: criu's log shows no root forked with CLONE_PARENT "
                                          f"({m.group(0) if m else 'no Forking task line'})", criu=step.criu)
        root = step.run.root_pid
        ppid = proc_ppid(root)
        if ppid != os.getpid():
            raise PhaseFailure("restore", f"--restore-sibling: the restored root {root} has parent {ppid}, "
                                          f"not the harness ({os.getpid()})", criu=step.criu)
