"""The guard interface: a check and clean-up around one test.

Before the test a guard notes what it needs (the host's iptables rules, the
kernel's taint); afterwards it says what the test left behind and removes
it. What a passing test left behind fails it (phase cleanup). The guard
sees the test through `run` (zdtm.cycle.TestRun): its artifacts, its task
roots, its flavor and .desc, the engine.
"""
from __future__ import annotations


class Guard:
    name = "abstract"

    def applies(self, run) -> bool:
        """Does this guard watch this test at all?"""
        return True

    def before(self, run) -> None:
        """Note the state to compare with (and take what must be exclusive)."""

    def leftovers(self, run) -> list:
        """What the test left behind, one readable line each."""
        return []

    def remove(self, run) -> list:
        """Remove whatever is left (called whatever happened; idempotent).
        Returns what could not be removed, one line each."""
        return []

    def release(self, run) -> None:
        """Give back what before() took (locks)."""


def in_upstream_ct(run) -> bool:
    """Is this an upstream test, which its own zdtm.py runs (flavor h too)
    inside zdtm_ct, in mount, network, pid and ipc namespaces of their own
    that end with the run? What such a test leaves in them (a mount it
    never unmounts, iptables rules) is gone with them there; here it is
    removed all the same and reported as a warning, not a failure."""
    return run.workload.kind.name == "upstream"


def warn(run, line: str) -> None:
    if line not in run.result.warnings:
        run.result.warnings.append(line)
