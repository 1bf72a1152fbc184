"""What a test is: a workload source in a test root, of one workload kind."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .desc import Desc, load_desc


class SuiteError(Exception):
    """A suite description or test tree that cannot be used."""


@dataclass(frozen=True)
class TestRoot:
    name: str          # prefix of its tests' names: static, upstream/transition
    path: Path
    kind: str = "native"   # "native": our sources; "upstream": an existing ZDTM tree

    @property
    def leaf(self) -> str:
        """The last part of the name: static, live or transition (upstream/static -> static)."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def live(self) -> bool:
        """Workloads that keep changing their state (upstream: transition/)."""
        return self.leaf in ("live", "transition")


@dataclass(frozen=True)
class Workload:
    name: str          # e.g. "static/pipe00"
    source: Path       # NAME.c / NAME.py (upstream: NAME.c, built by upstream's Makefile)
    kind: object       # the zdtm.kinds.WorkloadKind that builds and runs it
    root: TestRoot

    @property
    def stem(self) -> str:
        return self.source.stem

    @property
    def desc_path(self) -> Path:
        return self.source.with_suffix(".desc")

    def load_desc(self) -> Desc:
        return load_desc(self.desc_path)

    @property
    def live(self) -> bool:
        return self.root.live
