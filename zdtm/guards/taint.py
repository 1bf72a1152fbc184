"""Kernel taint: a test during which the kernel tainted itself (an oops, a
warning) fails, whatever its verdict."""
from __future__ import annotations

from ..check import kernel_taint
from .base import Guard


class TaintGuard(Guard):
    name = "taint"

    def before(self, run) -> None:
        self.taint_before = kernel_taint()

    def leftovers(self, run) -> list:
        taint = kernel_taint()
        if taint == self.taint_before:
            return []
        # The flags are the kernel's: name the other runs that could have done it.
        others = run.engine.other_live_runs()
        also = f"; other zdtm runs were active on this host: {', '.join(others)}" if others else ""
        return [f"kernel taint changed from {self.taint_before} to {taint} during the test (see dmesg){also}"]
