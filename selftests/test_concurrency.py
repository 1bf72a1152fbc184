"""Two runs at once on one host, as two checkouts (two state dirs) would
be: both pass, the tests with fixed host names (TCP ports and criu's
iptables lock, host cgroups) included. The host-wide locks (zdtm.hostwide)
keep them apart."""
import subprocess
import sys

from conftest import PROJECT, tasks_mentioning

SHARED = ["static/tcp_established00", "static/py_tcp", "live/tcp_stream", "static/cgroup00",
          "static/cgroup_root00", "static/pipe00"]


def test_two_runs_at_once_both_pass(reachable_dir):
    runs = []
    for n in (1, 2):
        state = reachable_dir / f"state{n}"
        argv = [sys.executable, "-m", "zdtm", "run", "--zdtm-dir", str(state), "-f", "h,ns,uns", "-p", "2"]
        for t in SHARED:
            argv += ["-t", t]
        runs.append((state, subprocess.Popen(argv, cwd=PROJECT, stdout=subprocess.PIPE,
                                             stderr=subprocess.STDOUT, text=True)))
    for state, proc in runs:
        out, _ = proc.communicate(timeout=600)
        assert proc.returncode == 0, out[-6000:]
        assert " failed" not in out.splitlines()[-1], out[-3000:]
        assert not tasks_mentioning(state)


def test_a_dead_runs_frozen_cgroup_is_thawed_killed_and_removed(tmp_path, monkeypatch):
    """--freezecg: a run killed while its test's freezer cgroup was frozen
    leaves a task that SIGKILL cannot end until the cgroup is thawed; the
    journal's clean-up thaws it, kills the task and removes the cgroup."""
    import json
    import os
    import time
    from pathlib import Path

    from zdtm import journal
    from zdtm.procs import start_time

    freezer = Path("/sys/fs/cgroup/freezer")
    if not (freezer / "freezer.state").exists() and not freezer.is_dir():
        import pytest
        pytest.skip("no v1 freezer hierarchy")
    (tmp_path / "runs").mkdir()
    (tmp_path / "locks").mkdir()
    monkeypatch.setattr(journal, "host_dir", lambda sub=None: tmp_path / sub if sub else tmp_path)
    monkeypatch.setattr("zdtm.hostwide.host_dir", lambda sub=None: tmp_path / sub if sub else tmp_path)
    prefix = f"zdtm-thawtest{os.getpid()}"
    cg = freezer / prefix
    cg.mkdir()
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        (cg / "cgroup.procs").write_text(str(sleeper.pid))
        (cg / "freezer.state").write_text("FROZEN")
        dead = subprocess.Popen(["true"])
        dead.wait()
        lines = [{"owner": dead.pid, "start": -1, "state_dir": str(tmp_path), "run_dir": "/gone/run"},
                 {"test": "static/x[h-freezecg]", "art": str(tmp_path / "art"), "work": str(tmp_path / "w"),
                  "cgroup_prefix": prefix},
                 {"test": "static/x[h-freezecg]", "tasks": [[sleeper.pid, start_time(sleeper.pid)]]}]
        (tmp_path / "runs" / "1-1.jsonl").write_text("".join(json.dumps(e) + "\n" for e in lines))
        done = journal.reap_dead_runs()
        assert any("thawed frozen cgroup" in d for d in done), done
        deadline = time.monotonic() + 5
        while sleeper.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert sleeper.returncode is not None, done
        assert not cg.exists(), done
    finally:
        if sleeper.poll() is None:
            (cg / "freezer.state").write_text("THAWED")
            sleeper.kill()
            sleeper.wait()
        if cg.exists():
            os.rmdir(cg)


def test_host_link_events_and_host_link_makers_never_overlap(reachable_dir):
    """netlink00 in h listens to the host's link events; a peer or hook
    adding host links (ext_link_plugin00's peer, upstream cr_veth's hook)
    would queue one on its socket, which criu refuses to dump ("netlink:
    The socket has data to read"). Both hold hostwide.HOST_LINKS: while
    it is held, netlink00[h] waits, then passes."""
    import time
    from zdtm import hostwide
    peer = (PROJECT / "tests/static/ext_link_plugin00.peer").read_bytes()
    assert hostwide.ADDS_HOST_LINKS.search(peer)
    lock = hostwide.lock(hostwide.HOST_LINKS)
    try:
        proc = subprocess.Popen([sys.executable, "-m", "zdtm", "run", "--zdtm-dir", str(reachable_dir / "state"),
                                 "-f", "h", "-t", "static/netlink00"], cwd=PROJECT, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
        time.sleep(5)
        assert proc.poll() is None, proc.communicate()[0][-3000:]
    finally:
        lock.close()
    out, _ = proc.communicate(timeout=300)
    assert proc.returncode == 0 and out.splitlines()[-1].startswith("=") and "1 passed" in out.splitlines()[-1], \
        out[-3000:]
