"""criu runs as root for both dump and restore: upstream's way, and what a
machine with CAP_SYS_RESOURCE (or a workload that is root anyway) allows."""
from __future__ import annotations

from .base import CriuDriver


class RootDriver(CriuDriver):
    name = "root"
    description = "criu runs as root for dump and restore"

    def identity(self, like: str, last: bool = True) -> tuple:
        return [], []
