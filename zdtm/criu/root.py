"""criu runs as root for both dump and restore: upstream's way, and what a
machine with CAP_SYS_RESOURCE (or a workload that is root anyway) allows."""
from __future__ import annotations

from .base import CriuCall, CriuDriver, CriuRun


class RootDriver(CriuDriver):
    name = "root"
    description = "criu runs as root for dump and restore"

    def dump(self, pid: int, call: CriuCall, leave_running: bool = False) -> CriuRun:
        return self._run("dump", self._dump_argv(pid, call, leave_running), call)

    def restore(self, call: CriuCall, last: bool = True) -> CriuRun:
        return self._run("restore", self._restore_argv(call), call)
