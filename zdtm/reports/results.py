"""The results of a run as plain data: one record per test item, collected
in the controller from pytest's reports (xdist workers send theirs there),
plus what the run was: machine facts, criu, identity, shard."""
from __future__ import annotations

import platform
import time
from dataclasses import asdict, dataclass, field
from typing import Optional

SCHEMA = "zdtm-report/1"


@dataclass
class TestRecord:
    id: str                     # static/pipe00[uns-criu-ns]
    test: str                   # static/pipe00
    flavor: str                 # uns
    modes: list                 # ["criu-ns"]
    outcome: str                # passed | failed | skipped
    phase: Optional[str] = None
    message: str = ""
    duration: float = 0.0
    timings: dict = field(default_factory=dict)
    identity: str = ""
    artifacts: str = ""
    kernel: str = ""
    machine: str = ""
    warnings: list = field(default_factory=list)    # known criu deviations an upstream test passed with
    started: Optional[float] = None     # when the item began (epoch s): a run's timeline, per worker
    worker: str = ""                    # xdist worker (gw0...), "" without xdist

    @property
    def variant(self) -> str:
        return "-".join([self.flavor, *self.modes])


def record_from_report(report, kernel: str, machine: str) -> Optional[TestRecord]:
    """A TestRecord from a zdtm item's pytest report (None for other items)."""
    props = dict(report.user_properties)
    if "zdtm_test" not in props:
        return None
    message = props.get("message", "")
    if report.skipped and not message and isinstance(report.longrepr, tuple):
        message = str(report.longrepr[2]).removeprefix("Skipped: ")
    return TestRecord(
        id=report.nodeid, test=props["zdtm_test"], flavor=props["zdtm_flavor"],
        modes=[m for m in props.get("zdtm_modes", "").split(",") if m], outcome=report.outcome,
        phase=props.get("phase") or None, message=message, duration=round(report.duration, 3),
        timings={k[5:]: v for k, v in props.items() if k.startswith("time_")},
        identity=props.get("identity", ""), artifacts=props.get("artifacts", ""), kernel=kernel, machine=machine,
        warnings=[v for k, v in report.user_properties if k == "warning"],
        started=getattr(report, "start", None), worker=_worker(report))


def _worker(report) -> str:
    node = getattr(report, "node", None)
    gateway = getattr(node, "gateway", None)
    return str(getattr(gateway, "id", "") or getattr(report, "worker_id", "") or "")


@dataclass
class RunResults:
    run_dir: str
    started: float = field(default_factory=time.time)
    finished: Optional[float] = None
    argv: list = field(default_factory=list)
    shard: Optional[str] = None
    facts: dict = field(default_factory=dict)
    tests: list = field(default_factory=list)

    @property
    def kernel(self) -> str:
        return self.facts.get("kernel", platform.release())

    @property
    def machine(self) -> str:
        return self.facts.get("hostname") or platform.node()

    def to_dict(self) -> dict:
        f = self.facts
        return {
            "schema": SCHEMA,
            "run": {"run_dir": self.run_dir, "started": self.started, "finished": self.finished,
                    "wall": round((self.finished or time.time()) - self.started, 3), "argv": self.argv,
                    "shard": self.shard},
            "machine": {"hostname": self.machine, "kernel": self.kernel, "arch": f.get("machine", ""),
                        "facts": f},
            "criu": {"path": f.get("criu"), "version": f.get("criu_version")},
            "identity": {"strategy": f.get("strategy", ""), "text": f.get("strategy_text", "")},
            "tests": [asdict(t) for t in self.tests],
        }

    def counts(self) -> dict:
        """(variant) -> {passed, failed, skipped}"""
        out = {}
        for t in self.tests:
            c = out.setdefault(t.variant, {"passed": 0, "failed": 0, "skipped": 0})
            c[t.outcome] = c.get(t.outcome, 0) + 1
        return out


def records_from_dict(data: dict) -> list:
    out = []
    for t in data.get("tests", []):
        out.append(TestRecord(**{k: v for k, v in t.items() if k in TestRecord.__dataclass_fields__}))
    return out
