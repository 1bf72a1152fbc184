"""The workload-kind interface: what the harness asks of a kind of test.

A kind knows where its tests are in a test root, how to build one (once, in
the build cache), why one cannot run here, which hooks it runs at the points
of the cycle and which criu options it adds. Everything else (flavors, C/R
modes, checks) is the same for every kind.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from pathlib import Path
from typing import Callable, Optional

from ..build import Builder, Executable
from ..desc import Desc
from ..workload import TestRoot, Workload


class Hooks:
    """Called at the points of the cycle (upstream's NAME.hook). The default
    kind has none. `stage` is one of post-start, pre-dump, pre-restore,
    post-restore, clean; raising Skip or PhaseFailure ends the test.
    root_pid(): the host pid of the tree's root (the test, or the ns
    flavors' init), as upstream's pidfile holds it; None while unknown (it
    may become known while the post-start hook runs). log: where the hook's
    output goes (appended), in the test's artifacts dir (root's), where the
    hook may keep files of its own."""

    present = False

    def call(self, stage: str, *, root_pid: Callable[[], Optional[int]], log: Path, timeout: float,
             images: Optional[Path] = None) -> None:
        return None


NO_HOOKS = Hooks()


class WorkloadKind(ABC):
    #: marker and `zdtm list` column: c, py, upstream
    name = "abstract"
    #: the kind of suite root its tests live in (desc/suite.yaml `kind:`)
    root_kind = "native"
    #: tests may switch to uids of their own and still write in their work
    #: dir (upstream's zdtm.py makes it world-writable)
    shared_work_dir = False

    # ---- discovery -----------------------------------------------------------
    @abstractmethod
    def is_test(self, root: TestRoot, path: Path) -> bool:
        """Is path (a file directly in root.path) one of this kind's tests?"""

    def candidates(self, root: TestRoot) -> list:
        """Files of root that may be tests (sorted)."""
        return sorted(root.path.iterdir())

    def tree_roots(self, path: Path, name: Optional[str]) -> list:
        """The test roots a suite entry of this root kind stands for."""
        return [TestRoot(name or path.name, path, self.root_kind)]

    def exclusions(self, root: TestRoot) -> dict:
        """test name -> skip reason, from the tree's own exclusion list."""
        return {}

    # ---- running -------------------------------------------------------------
    def will_run(self, workloads: list) -> None:
        """The run's selection of this kind's workloads, known before the
        first test starts (a kind may build them all at once, in parallel)."""

    @abstractmethod
    def build(self, builder: Builder, workload: Workload, desc: Desc) -> Executable:
        """Build (or find in the cache) what runs the test; raises BuildError."""

    def skip_reason(self, workload: Workload) -> Optional[str]:
        """Why this test cannot run here (upstream's NAME.checkskip), or None."""
        return None

    def hooks(self, workload: Workload) -> Hooks:
        return NO_HOOKS

    def flavor_skip_reason(self, workload: Workload, flavor: str) -> Optional[str]:
        """Why this test cannot run in this flavor on this machine, or None."""
        return None

    def settle(self, workload: Workload) -> Optional[Callable[[int], str]]:
        """How to wait for the state this test must be dumped in: None (at
        once, most tests), or a function of the tree's root pid that waits
        and returns a line on what it waited for and how long. It runs at
        criu's pre-dump stage, right before criu seizes the tree
        (zdtm.settle_gate). Only for a test whose pass needs the state its
        own harness dumps it in, with the reason beside it."""
        return None

    def criu_opts(self, builder: Builder, workload: Workload, desc: Desc, criu_bin: Optional[str]) -> list:
        """Extra criu options for dump and restore (a `crlib` test's --libdir)."""
        return []
