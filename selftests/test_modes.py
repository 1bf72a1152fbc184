"""The C/R-mode interface, with real criu: a mode written in a test file
plugs into the cycle (its options reach criu, its hooks are called in
order), and a mode that fails a step fails the test in that phase with
nothing left behind."""

import pytest

from conftest import tasks_mentioning
from zdtm.config import Settings
from zdtm.cycle import TestRun
from zdtm.modes import MODES, active_modes, variant_name
from zdtm.modes.base import Mode
from zdtm.modes.plain import PlainMode
from zdtm.outcome import PhaseFailure


class StatsMode(Mode):
    """criu prints its statistics (--display-stats) on dump and restore."""
    name = "stats"
    id_suffix = "stats"

    def __init__(self, settings, fail_after_dump=False):
        super().__init__(settings)
        self.calls, self.fail_after_dump = [], fail_after_dump

    def start(self, run):
        self.calls.append("start")

    def dump_opts(self, step):
        return ["--display-stats"]

    def restore_opts(self, step):
        return ["--display-stats"]

    def before_dump(self, step):
        self.calls.append(f"before_dump {step.n}")

    def after_dump(self, step):
        self.calls.append(f"after_dump {step.n}")
        assert "Dumping finished successfully" in step.criu.log_text()
        if self.fail_after_dump:
            raise PhaseFailure("dump", "the stats mode did not like this dump")

    def before_restore(self, step):
        self.calls.append(f"before_restore {step.n}")

    def after_restore(self, step):
        self.calls.append(f"after_restore {step.n}")

    def stop(self, run):
        self.calls.append("stop")
        return []


@pytest.fixture
def engine(trivial_engine):
    return trivial_engine


def test_a_new_mode_plugs_into_the_real_cycle(engine, reachable_dir):
    mode = StatsMode(engine.settings)
    r = TestRun(engine, engine.suite.workloads[0], "h", modes=[PlainMode(engine.settings), mode]).run()
    assert r.outcome == "passed", r.summary()
    assert r.flavor == "h-stats"
    assert mode.calls == ["start", "before_dump 1", "after_dump 1", "before_restore 1", "after_restore 1", "stop"]
    assert all("--display-stats" in c for c in r.criu_commands), r.criu_commands
    art = reachable_dir / "state" / "runs"
    out = next(art.rglob("dump-1.log.out")).read_text()
    assert "Dumping time" in out or "Frozen time" in out, out      # criu printed its stats
    assert not tasks_mentioning(reachable_dir)


def test_a_mode_failing_a_step_fails_the_test_there_and_leaves_nothing(engine, reachable_dir):
    mode = StatsMode(engine.settings, fail_after_dump=True)
    r = TestRun(engine, engine.suite.workloads[0], "h", modes=[PlainMode(engine.settings), mode]).run()
    assert (r.outcome, r.phase, r.message) == ("failed", "dump", "the stats mode did not like this dump")
    assert mode.calls[-1] == "stop"
    assert not tasks_mentioning(reachable_dir)


def test_the_run_options_choose_the_modes():
    s = Settings(mode_options={"iters": 3, "criu_ns": True})
    modes = active_modes(s)
    assert [m.name for m in modes] == ["plain", "iters", "criu-ns"]
    assert variant_name("uns", modes) == "uns-iters3-criu-ns"
    assert max(m.iterations or 1 for m in modes) == 3
    assert [m.name for m in active_modes(Settings())] == ["plain"]
    assert len({m.name for m in MODES}) == len(MODES)
