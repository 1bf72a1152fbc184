"""Workload kinds: one module per kind of test, behind one interface
(zdtm.kinds.base.WorkloadKind). Adding a kind is one module plus a line here.

  c.py         our C workloads (zdtm/lib/c)
  python.py    our Python workloads (zdtm/lib/py)
  upstream.py  the tests of an existing ZDTM tree (criu's test/zdtm)
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from ..workload import SuiteError, TestRoot, Workload
from .base import Hooks, NO_HOOKS, WorkloadKind
from .c import CKind
from .python import PythonKind
from .upstream import UpstreamKind

KINDS = (CKind(), PythonKind(), UpstreamKind())
ROOT_KINDS = tuple(dict.fromkeys(k.root_kind for k in KINDS))

__all__ = ["KINDS", "ROOT_KINDS", "Hooks", "NO_HOOKS", "WorkloadKind", "roots_of", "workload_for", "workloads_of"]


def _kinds_of(root_kind: str) -> list:
    found = [k for k in KINDS if k.root_kind == root_kind]
    if not found:
        raise SuiteError(f"unknown kind of test root {root_kind!r} (known: {', '.join(ROOT_KINDS)})")
    return found


def roots_of(root_kind: str, path: Path, name: Optional[str] = None) -> list:
    """The test roots (with the tree's own exclusions) a suite entry stands for."""
    kind = _kinds_of(root_kind)[0]
    roots = kind.tree_roots(Path(path), name)
    return [(root, kind.exclusions(root)) for root in roots]


def workload_for(root: TestRoot, path: Path) -> Optional[Workload]:
    """The workload whose source is path, if path is a test of root."""
    if path.parent != root.path or path.name.startswith(("_", ".")):
        return None
    for kind in _kinds_of(root.kind):
        if kind.is_test(root, path):
            return Workload(f"{root.name}/{path.stem}", path, kind, root)
    return None


def workloads_of(root: TestRoot) -> list:
    if not root.path.is_dir():
        return []
    candidates = dict.fromkeys(p for kind in _kinds_of(root.kind) for p in kind.candidates(root))
    found = (workload_for(root, p) for p in sorted(candidates))
    return [w for w in found if w]
