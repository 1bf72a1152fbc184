"""criu-ns: pid mismatch, drop-in use by hand, and the --criu-ns mode."""
import json
import subprocess
import sys

from conftest import PROJECT, WORKLOADS, run_zdtm, tasks_mentioning
from zdtm.build import Builder
from zdtm.desc import Desc
from zdtm.suite import Suite


def test_pid_mismatch_plain_restore_fails_criu_ns_restores(reachable_dir, real_criu):
    root = reachable_dir / "suite"
    (root / "static").mkdir(parents=True)
    (root / "static" / "trivial.c").write_text((WORKLOADS / "trivial.c").read_text())
    (root / "suite.yaml").write_text("roots:\n  - name: static\n    path: static\n")
    suite = Suite.load(root / "suite.yaml")
    w = suite.workloads[0]
    exe = w.kind.build(Builder(reachable_dir / "state"), w, Desc()).argv[0]
    work = reachable_dir / "work"
    work.mkdir()
    res = subprocess.run([sys.executable, str(PROJECT / "selftests" / "pid_mismatch.py"), real_criu, exe, str(work)],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120, cwd=PROJECT)
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["dump_rc"] == 0, out
    assert out["occupied"], "could not take the workload's pid for the test"
    assert out["plain_rc"] != 0, out
    assert any("File exists" in l or "pid" in l.lower() for l in out["plain_log_errors"]), out
    assert out["criu_ns_rc"] == 0, out
    assert out["restored_host_pid"] != out["pid"]
    assert int(out["restored_nspid"][-1]) == out["pid"]      # its own pid, in the new namespace
    assert out["verdict"] and "PASS" in out["verdict"], out
    assert not tasks_mentioning(reachable_dir)


def test_criu_ns_passes_other_actions_through(real_criu):
    res = subprocess.run([sys.executable, "-m", "zdtm", "criu-ns", "--criu-bin", real_criu, "check"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT)
    assert res.returncode == 0 and "Looks good" in res.stdout, res.stdout


def test_criu_ns_refuses_restore_sibling(real_criu):
    res = subprocess.run([sys.executable, "-m", "zdtm.criu_ns", "--criu-bin", real_criu, "restore",
                          "--restore-sibling", "-D", "/nonexistent"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=PROJECT)
    assert res.returncode != 0 and "--restore-sibling is not supported" in res.stdout


def test_criu_ns_mode_in_every_flavor(reachable_dir):
    state = reachable_dir / "state"
    res = run_zdtm("run", "-t", "static/pipe00", "-t", "static/py_env", "-t", "static/fork_tree",
                   "-f", "h,ns,uns", "--criu-ns", "--iters", "2", "-p", "2", "--zdtm-dir", state)
    assert res.returncode == 0, res.stdout[-4000:]
    assert "9 passed" in res.stdout
    run_dir = (state / "runs" / "latest").resolve()
    for flavor in ("h", "ns", "uns"):
        cmds = (run_dir / "static" / "pipe00" / f"{flavor}-iters2-criu-ns" / "criu-commands.txt").read_text()
        assert cmds.count("zdtm.criu_ns") == 4, cmds
    assert not tasks_mentioning(state)
