from pathlib import Path

from zdtm.config import Settings
from zdtm.engine import Engine
from zdtm.suite import Suite


def test_old_runs_and_their_work_dirs_are_pruned(tmp_path, monkeypatch):
    monkeypatch.setenv("ZDTM_KEEP_RUNS", "3")
    engine = Engine(Settings(state_dir=tmp_path), Suite.load())
    runs = tmp_path / "runs"
    for i in range(5):
        (runs / f"20260101-00000{i}-1").mkdir(parents=True)
        (tmp_path / "w" / f"20260101-00000{i}-1").mkdir(parents=True)
    new = engine.new_run_dir()
    left = sorted(p.name for p in runs.iterdir() if not p.is_symlink())
    assert left == ["20260101-000003-1", "20260101-000004-1", new.name]
    assert sorted(p.name for p in (tmp_path / "w").iterdir()) == ["20260101-000003-1", "20260101-000004-1"]
    assert (runs / "latest").resolve() == new


def test_identity_choices_for_each_kind_of_test():
    from zdtm.check import identity
    assert identity("owner-dump", suid=False, flavor="h").driver == "owner-dump"
    assert not identity("owner-dump", suid=False, flavor="h").as_root
    # criu must be root (nouser, TCP options) but root's criu cannot dump uid 18943: run as root, say so
    ident = identity("owner-dump", suid=False, flavor="h", nouser=True)
    assert ident.as_root and ident.driver == "root" and "nouser" in ident.text
    # in uns criu is host root anyway, and may dump uid 18943 inside the user namespace
    assert not identity("owner-dump", suid=False, flavor="uns", nouser=True).as_root
    # where root's criu can dump anyone, nouser changes nothing
    assert not identity("root-criu", suid=False, flavor="h", nouser=True).as_root


def test_run_sysctls_are_raised_and_given_back_by_the_last_run(trivial_engine, monkeypatch, tmp_path):
    """A mode's host_sysctls (the lazy modes' vm.unprivileged_userfaultfd,
    fs.pipe-max-size) are raised for the run, never lowered, and given back by
    the last live run only (another run may still need them)."""
    from zdtm import hostwide
    from zdtm.config import Settings
    from zdtm.modes.base import Mode
    name = "kernel/msgmnb"                  # harmless to raise for a moment
    path = Path("/proc/sys") / name
    before = int(path.read_text())

    class NeedsMore(Mode):
        host_sysctls = {name: before + 4096}

    class NeedsLess(Mode):
        host_sysctls = {name: before - 1}

    monkeypatch.setattr(hostwide, "host_dir", lambda sub=None: tmp_path / sub if sub else tmp_path)
    (tmp_path / "locks").mkdir()
    eng = trivial_engine
    wanted = eng.host_sysctls([NeedsMore(Settings()), NeedsLess(Settings())])
    assert wanted[name] == before + 4096
    try:
        assert eng.raise_sysctls(wanted) == [f"kernel.msgmnb {before} -> {before + 4096} for this run"]
        assert int(path.read_text()) == before + 4096
        assert eng.raise_sysctls({name: before + 1}) == []             # never lowered
        monkeypatch.setattr(type(eng), "other_live_runs", lambda self: ["/another/run"])
        eng.release_sysctls()
        assert int(path.read_text()) == before + 4096                  # still needed elsewhere
        monkeypatch.setattr(type(eng), "other_live_runs", lambda self: [])
        eng.release_sysctls()
        assert int(path.read_text()) == before
        assert not list(tmp_path.glob("sysctl.*.orig"))
    finally:
        path.write_text(f"{before}\n")


def test_pruning_spares_live_runs_and_recent_failures(tmp_path, monkeypatch):
    """A run still going, or one with a failed test in the last day, stays
    however many runs came after it; an old failure and a passed run go."""
    import json
    import os
    import time
    from zdtm import engine as engine_mod
    monkeypatch.setenv("ZDTM_KEEP_RUNS", "1")
    engine = Engine(Settings(state_dir=tmp_path), Suite.load())
    runs = tmp_path / "runs"
    names = ["20260101-000001-1", "20260101-000002-1", "20260101-000003-1", "20260101-000004-1"]
    for name in names:
        (runs / name).mkdir(parents=True)
    live, failed, old_failed, passed = (runs / n for n in names)
    for run, outcome in ((failed, "failed"), (old_failed, "failed"), (passed, "passed")):
        (run / "report.json").write_text(json.dumps({"tests": [{"id": "static/x[h]", "outcome": outcome}]}))
    day_ago = time.time() - 25 * 3600
    os.utime(old_failed / "report.json", (day_ago, day_ago))
    monkeypatch.setattr(engine_mod, "live_runs", lambda: [{"run_dir": str(live)}])
    new = engine.new_run_dir()
    left = sorted(p.name for p in runs.iterdir() if not p.is_symlink())
    assert left == [live.name, failed.name, new.name]


def test_schedule_is_longest_first_in_rounds_of_flavors():
    """xdist hands tests out in this order: excl tests first (the host to
    themselves, they wait for nothing long there), then a test's flavors
    (which never run together) a round apart, each round longest first,
    unknown as the median."""
    from types import SimpleNamespace
    from zdtm import plugin

    class Fake(plugin.ZdtmItem):
        nodeid = property(lambda self: self.fake_id)

        def get_closest_marker(self, name, default=None):
            return name if name in self.fake_marks else default

    def Item(name, flavor, marks=()):
        item = Fake.__new__(Fake)       # no session: only what schedule() reads
        item.workload, item.fake_id, item.fake_marks = SimpleNamespace(name=name), f"{name}[{flavor}]", marks
        return item

    items = [Item(n, f) for n in ("a", "b", "c") for f in ("h", "ns")] + [Item("x", "h", ("excl",))]
    other = object()
    durations = {"a[h]": 1.0, "a[ns]": 9.0, "b[h]": 5.0, "b[ns]": 2.0, "x[h]": 3.5}  # c: the median (3.5)
    order = plugin.schedule(items + [other], durations)
    assert [i.nodeid for i in order[:-1]] == ["x[h]", "b[h]", "c[h]", "a[h]", "a[ns]", "c[ns]", "b[ns]"]
    assert order[-1] is other
