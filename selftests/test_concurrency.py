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
