"""The plain cycle: dump, wait until the dumped tree is gone, restore, check.
Always in the stack; every other mode adds to it."""
from __future__ import annotations

from .base import Mode


class PlainMode(Mode):
    name = "plain"
    order = 0
    description = "criu dump, then criu restore"

    @classmethod
    def enabled(cls, settings) -> bool:
        return True
