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
