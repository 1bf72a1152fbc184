"""SIGINT, SIGTERM and SIGHUP stop a run in any phase as Ctrl-C does: every
test cleans up, nothing is left (tasks, mounts), pytest's exit code is 2.
The run is started with SIGINT ignored, as a shell starts a background job,
so the harness must not rely on the disposition it inherits."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import PROJECT, WORKLOADS, tasks_mentioning

PHASES = {
    # phase: (workload, how the harness shows it is there)
    "start": ("never_ready.c", "workload"),
    "dump": ("trivial.c", "marker dump"),
    "restore": ("trivial.c", "marker restore"),
    "stop": ("slow_stop.c", "stopping"),
}
# criu itself, after a pause in the action the test interrupts.
SLOW_CRIU = """#!/bin/sh
for a in "$@"; do
    case "$a" in dump|restore)
        if [ "$a" = "{action}" ]; then touch "{markers}/$a.$$"; {sleep} 60; fi
        break;;
    esac
done
exec {criu} "$@"
"""


def _suite(base: Path, workload: str) -> Path:
    static = base / "suite" / "static"
    static.mkdir(parents=True)
    (static / "t.c").write_text((WORKLOADS / workload).read_text())
    (static / "t.desc").write_text("{'timeout': 90}")
    (base / "suite" / "suite.yaml").write_text("roots:\n  - name: static\n    path: static\n")
    return base / "suite" / "suite.yaml"


def _slow_criu(base: Path, criu: str, action: str) -> tuple:
    markers = base / "markers"
    markers.mkdir()
    os.chmod(markers, 0o1777)          # criu may run as the workload's owner
    script = base / "slow-criu"
    sleep = base / "slow-sleep"        # named so that a leftover shows
    sleep.symlink_to("/bin/sleep")
    script.write_text(SLOW_CRIU.format(action=action, markers=markers, criu=criu, sleep=sleep))
    os.chmod(script, 0o755)
    return script, markers


def _in_phase(phase: str, state: Path, markers: Path) -> bool:
    if phase == "start":
        return len([t for t in tasks_mentioning(state) if "/build/t-" in t]) >= 2
    if phase == "stop":
        return len(list((state / "w").rglob("stopping"))) >= 2
    return len(list(markers.iterdir())) >= 2


@pytest.mark.parametrize("phase", list(PHASES))
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=lambda s: s.name)
def test_signal_in_any_phase_leaves_nothing(reachable_dir, real_criu, phase, sig):
    workload, _ = PHASES[phase]
    suite = _suite(reachable_dir, workload)
    state = reachable_dir / "state"
    criu, markers = _slow_criu(reachable_dir, real_criu, phase)
    # Two workers, three flavors: two tests are in the phase when the signal comes.
    proc = subprocess.Popen([sys.executable, "-m", "zdtm", "run", "--suite", str(suite), "--zdtm-dir", str(state),
                             "--criu-bin", str(criu), "-t", "static/t", "-f", "h,ns,uns", "-p", "2"],
                            cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN))
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not _in_phase(phase, state, markers) and proc.poll() is None:
        time.sleep(0.05)
    assert _in_phase(phase, state, markers), f"never reached phase {phase}: " + proc.communicate()[0][-3000:]
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out[-3000:]
    assert not tasks_mentioning(reachable_dir), out[-3000:]
    assert str(reachable_dir) not in Path("/proc/self/mountinfo").read_text()


@pytest.mark.parametrize("then", ["zdtm clean", "the next run"])
def test_sigkill_of_the_whole_run_then_clean_leaves_nothing(reachable_dir, real_criu, then):
    """SIGKILL (OOM, a CI runner) gives the harness no chance: what it left
    is found through its journal and removed, by `zdtm clean` or by the next
    run's start."""
    suite = _suite(reachable_dir, "never_ready.c")
    (suite.parent / "static" / "ok.c").write_text((WORKLOADS / "trivial.c").read_text())
    # and one that makes a host cgroup before it hangs
    (suite.parent / "static" / "hangs.c").write_text((WORKLOADS / "leaves_cgroup.c").read_text())
    (suite.parent / "static" / "hangs.desc").write_text(
        "{'flavor': 'h', 'flags': 'suid', 'opts': '--manage-cgroups', 'args': '--hang', 'timeout': 90}")
    state = reachable_dir / "state"
    # A journal dir of this test's own: another run on the host (a parallel
    # selftest) would otherwise clean up after the killed run first.
    env = dict(os.environ, ZDTM_HOST_DIR=str(reachable_dir / "host"))
    proc = subprocess.Popen([sys.executable, "-m", "zdtm", "run", "--suite", str(suite), "--zdtm-dir", str(state),
                             "-t", "static/t", "-t", "static/hangs", "-f", "h,ns,uns", "-p", "4"], cwd=PROJECT,
                            start_new_session=True, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 60
    cgroups = Path("/sys/fs/cgroup/pids")
    while time.monotonic() < deadline and not (len([t for t in tasks_mentioning(state) if "/build/t-" in t]) >= 3
                                               and list(cgroups.glob("zdtm-hangs-*"))):
        time.sleep(0.05)
    assert _in_phase("start", state, None) and list(cgroups.glob("zdtm-hangs-*")), "the workloads never started"
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(0.2)
    assert tasks_mentioning(state), "SIGKILL left nothing: the test proves nothing"
    if then == "zdtm clean":
        res = subprocess.run([sys.executable, "-m", "zdtm", "clean", "--zdtm-dir", str(state)], cwd=PROJECT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=60)
    else:
        res = subprocess.run([sys.executable, "-m", "zdtm", "run", "--suite", str(suite), "--zdtm-dir", str(state),
                              "-t", "static/ok", "-f", "h"], cwd=PROJECT, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=120)
        assert res.returncode == 0, res.stdout
    assert "killed" in res.stdout and "left running" in res.stdout, res.stdout
    assert not tasks_mentioning(state), res.stdout
    assert str(reachable_dir) not in Path("/proc/self/mountinfo").read_text()
    assert not list(cgroups.glob("zdtm-hangs-*")), res.stdout
    assert "removed cgroup /sys/fs/cgroup/pids/zdtm-hangs-" in res.stdout, res.stdout
