"""Guards: the checks and clean-ups around a test, one module each behind
one interface (zdtm.guards.base.Guard: before / leftovers / remove).

  tasks.py     every task the test started is killed and reaped
  mounts.py    nothing stays mounted under its dirs
  iptables.py  the host's filter rules (h-flavor TCP tests)
  cgroups.py   host cgroups made by tests with criu's cgroup options
  hostpaths.py fixed paths in the host's /tmp that upstream tests make
  taint.py     the kernel's taint flags

The tasks guard runs first: the others (and upstream's --clean hook) look
once the test's tasks are gone.
"""
from __future__ import annotations

from .base import Guard
from .cgroups import CgroupsGuard
from .hostpaths import HostPathsGuard
from .iptables import IptablesGuard
from .mounts import MountsGuard
from .tasks import TasksGuard
from .taint import TaintGuard

GUARDS = (TasksGuard, MountsGuard, IptablesGuard, CgroupsGuard, HostPathsGuard, TaintGuard)

__all__ = ["GUARDS", "Guard", "guards_for"]


def guards_for(run) -> list:
    """Fresh guards watching this test (each keeps its own before-state)."""
    guards = [g() for g in GUARDS]
    return [g for g in guards if g.applies(run)]
