"""How a test ends: passed, skipped (with a reason) or failed in a phase.

Every part of the harness (kinds, flavors, modes, guards, the cycle) raises
these; the orchestrator (zdtm.cycle) turns them into one TestResult.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Optional

# The phases a failure can name, in the order a test goes through them.
PHASES = ("desc", "check", "build", "start", "hook", "dump", "restore", "verify", "stop", "cleanup")


class Skip(Exception):
    """The test cannot run here; str() is the reason."""


class PhaseFailure(Exception):
    """The test failed in `phase`; `criu` is the CriuRun at fault, if any."""

    def __init__(self, phase: str, message: str, criu=None, details: str = ""):
        super().__init__(message)
        self.phase, self.message, self.criu, self.details = phase, message, criu, details


@dataclass
class TestResult:
    test: str
    flavor: str                          # the variant: flavor plus mode suffixes (uns-criu-ns)
    outcome: str = "failed"              # passed | failed | skipped
    phase: Optional[str] = None          # where it failed
    message: str = ""
    identity: str = ""
    artifacts: str = ""
    timings: dict = field(default_factory=dict)
    started: Optional[float] = None      # wall clock, once it may run (excl lock held)
    finished: Optional[float] = None
    criu_commands: list = field(default_factory=list)
    criu_error_lines: list = field(default_factory=list)
    workload_lines: list = field(default_factory=list)
    sections: list = field(default_factory=list)     # (title, text) for the report
    warnings: list = field(default_factory=list)     # known criu deviations an upstream test passed with

    def add_time(self, key: str, seconds: float) -> None:
        self.timings[key] = round(self.timings.get(key, 0.0) + seconds, 4)

    def summary(self) -> str:
        """The short failure text: test, flavor, phase, cause, and where to look."""
        out = [f"phase '{self.phase}': {self.message}", f"test {self.test}, flavor {self.flavor}"]
        if self.criu_error_lines:
            out.append("criu log:")
            out += [f"  {line}" for line in self.criu_error_lines]
        verdict_lines = [line for line in self.workload_lines if re.search(r"\b(FAIL|ERR|SKIP)\b", line)]
        shown = verdict_lines or self.workload_lines[-5:]
        if shown:
            out.append("workload output:")
            out += [f"  {line}" for line in shown[-10:]]
        out.append(f"identity: {self.identity}")
        out.append(f"artifacts: {self.artifacts}")
        return "\n".join(out)
