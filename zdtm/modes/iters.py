"""--iters N: N C/R cycles per test, each dumping the tree the last one restored."""
from __future__ import annotations

from ..config import Option
from .base import Mode


def _positive(value) -> int:
    return max(1, int(value))


class IterationsMode(Mode):
    name = "iters"
    order = 10
    description = "several C/R cycles per test"
    options = (Option("iters", "C/R cycles per test", cli=("--iters",), pytest="--zdtm-iters", type=int,
                      default=1, metavar="N", mode=True, convert=_positive),)

    @classmethod
    def enabled(cls, settings) -> bool:
        return settings.mode_option("iters", 1) > 1

    @property
    def iterations(self) -> int:
        return self.settings.mode_option("iters", 1)

    @property
    def id_suffix(self) -> str:
        return f"iters{self.iterations}"
