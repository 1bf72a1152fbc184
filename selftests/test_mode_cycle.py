"""The restore variants and fault injection (zdtm/modes/{stop,sibling,join_ns,
empty_ns,freezecg,fault}.py) with real criu on a trivial workload: for each,
one test proving the mode really happened, and one where what the mode
checks goes wrong: a clear failure naming the phase, nothing left behind
(tasks, mounts, cgroups)."""
from __future__ import annotations

import os
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from conftest import tasks_mentioning
from zdtm.cycle import TestRun
from zdtm.modes import active_modes
from zdtm.modes import empty_ns, freezecg, join_ns, stop
from zdtm.modes.sibling import SiblingMode


@pytest.fixture
def engine(trivial_engine):
    return trivial_engine


def run_test(engine, flavor: str, replace=None, **mode_options):
    """The trivial workload in flavor with these mode options; replace:
    {mode class: a subclass to use instead} (what the test looks at)."""
    settings = engine.settings.with_mode_options(mode_options)
    modes = active_modes(settings)
    for i, m in enumerate(modes):
        cls = (replace or {}).get(type(m))
        if cls is not None:
            modes[i] = cls(settings)
    run = TestRun(engine, engine.suite.workloads[0], flavor, modes)
    return run, run.run()


def art(result) -> Path:
    return Path(result.artifacts)


def assert_clean(reachable_dir):
    assert not tasks_mentioning(reachable_dir)
    assert str(reachable_dir) not in Path("/proc/self/mountinfo").read_text()


# ---- --stop ---------------------------------------------------------------------------
class SeenStopped(stop.StopMode):
    seen: list = []

    def _check_stopped(self, step, phase, after):
        super()._check_stopped(step, phase, after)
        SeenStopped.seen.append((phase, sorted(set(stop.thread_states(step.run.root_pid).values()))))


def test_stop_leaves_the_tree_stopped_after_dump_and_restore(engine, reachable_dir):
    SeenStopped.seen = []
    run, r = run_test(engine, "h", {stop.StopMode: SeenStopped}, stop=True, iters=2)
    assert r.outcome == "passed", r.summary()
    assert r.flavor == "h-iters2-stop"
    assert all("--leave-stopped" in c for c in r.criu_commands), r.criu_commands
    # each dump and restore left every thread stopped; the harness continued it (PASS)
    assert SeenStopped.seen == [("dump", ["T"]), ("restore", ["T"])] * 2, SeenStopped.seen
    assert_clean(reachable_dir)


class ForgetsToStop(stop.StopMode):
    def restore_opts(self, step):
        return []           # criu restores the tree running


def test_stop_a_restored_tree_not_stopped_fails_the_restore(engine, reachable_dir, monkeypatch):
    monkeypatch.setattr(stop, "STOPPED_TIMEOUT", 0.5)
    run, r = run_test(engine, "h", {stop.StopMode: ForgetsToStop}, stop=True)
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert "--leave-stopped" in r.message and "not stopped 0.5s after criu restore" in r.message, r.message
    assert_clean(reachable_dir)


def test_stop_spares_the_tasks_the_test_keeps_stopped():
    """A task the test stopped itself stays stopped when the harness
    continues the tree (criu restores it stopped; zdtm.py's stopped* tests)."""
    root = subprocess.Popen(["sh", "-c", "sleep 30 & kill -STOP $!; sleep 30 & wait"])
    try:
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and sorted(stop.thread_states(root.pid).values()) != ["S", "S", "T"]:
            time.sleep(0.01)
        kids = sorted(p for p in stop.thread_states(root.pid) if p != root.pid)
        assert len(kids) == 2, kids
        spare = stop.stopped_by_test(root.pid)
        assert len(spare) == 1, spare
        for pid in stop.descendants(root.pid):
            os.kill(pid, signal.SIGSTOP)
        assert not stop.wait_stopped(root.pid, 2)
        stop.signal_tree(root.pid, signal.SIGCONT, spare)
        time.sleep(0.2)
        states = stop.thread_states(root.pid)
        assert sorted(states.values()) == ["S", "S", "T"], states
        assert {p for p, s in states.items() if s == "T"} == set(spare)     # one pid namespace here
    finally:
        for pid in stop.descendants(root.pid):
            os.kill(pid, signal.SIGKILL)
        root.wait()


# ---- --sibling ------------------------------------------------------------------------
def test_sibling_restores_the_root_as_the_harness_child(engine, reachable_dir):
    run, r = run_test(engine, "ns", sibling=True)
    assert r.outcome == "passed", r.summary()
    restore = [c for c in r.criu_commands if " restore " in c]
    assert restore and all("--restore-sibling" in c and "--restore-detached" in c for c in restore), restore
    log = (art(r) / "restore-1.log").read_text()
    flags = [line for line in log.splitlines() if "Forking task with 1 pid" in line]
    assert flags and int(flags[0].rsplit("0x", 1)[1].rstrip(")"), 16) & 0x8000, flags   # CLONE_PARENT
    assert_clean(reachable_dir)


class NotReallySibling(SiblingMode):
    def restore_opts(self, step):
        return []


def test_sibling_a_root_not_forked_as_sibling_fails_the_restore(engine, reachable_dir):
    run, r = run_test(engine, "h", {SiblingMode: NotReallySibling}, sibling=True)
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert "no root forked with CLONE_PARENT" in r.message, r.message
    assert_clean(reachable_dir)


def test_sibling_with_criu_ns_is_a_skip(engine):
    run, r = run_test(engine, "h", sibling=True, criu_ns=True)
    assert r.outcome == "skipped" and "refuses --restore-sibling" in r.message, r.summary()


# ---- --join-ns ------------------------------------------------------------------------
class SeenNetns(join_ns.JoinNsMode):
    seen: list = []

    def after_restore(self, step):
        super().after_restore(step)
        SeenNetns.seen.append((os.stat(f"/proc/{step.run.pid}/ns/net").st_ino, os.stat(self.netns).st_ino))


def test_join_ns_restores_into_the_prepared_netns(engine, reachable_dir):
    SeenNetns.seen = []
    run, r = run_test(engine, "h", {join_ns.JoinNsMode: SeenNetns}, join_ns=True)
    assert r.outcome == "passed", r.summary()
    (restored, prepared), = SeenNetns.seen
    assert restored == prepared != os.stat("/proc/self/ns/net").st_ino
    assert any("--join-ns net:" + str(art(r) / join_ns.NETNS_FILE) in c for c in r.criu_commands)
    assert not (art(r) / join_ns.NETNS_FILE).exists()        # the namespace was let go
    assert_clean(reachable_dir)


class JoinsNothing(join_ns.JoinNsMode):
    def restore_opts(self, step):
        return []


def test_join_ns_a_tree_outside_the_prepared_netns_fails_the_restore(engine, reachable_dir):
    run, r = run_test(engine, "h", {join_ns.JoinNsMode: JoinsNothing}, join_ns=True)
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert "--join-ns: restored pid" in r.message and "not the prepared" in r.message, r.message
    assert not (art(r) / join_ns.NETNS_FILE).exists()
    assert_clean(reachable_dir)


def test_join_ns_prepared_netns_has_the_host_s_ping_group_range(tmp_path):
    """The empty namespace gets the host's per-netns sysctls the tests'
    sockets depend on (upstream socket_icmp failed to restore without)."""
    host = " ".join(Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    netns = tmp_path / "n"
    join_ns.make_netns(netns)
    try:
        seen = subprocess.run(["nsenter", f"--net={netns}", "cat", "/proc/sys/net/ipv4/ping_group_range"],
                              capture_output=True, text=True, check=True).stdout
        assert " ".join(seen.split()) == host
    finally:
        assert join_ns.remove_netns(netns) == []


# ---- --empty-ns -----------------------------------------------------------------------
class SeenLinks(empty_ns.EmptyNsMode):
    seen: list = []

    def after_restore(self, step):
        out = subprocess.run(["nsenter", f"--net=/proc/{step.run.pid}/ns/net", "ip", "-o", "link"],
                             capture_output=True, text=True).stdout
        SeenLinks.seen.append(out)


def test_empty_ns_restores_an_empty_netns_with_lo_up(engine, reachable_dir):
    SeenLinks.seen = []
    run, r = run_test(engine, "ns", {empty_ns.EmptyNsMode: SeenLinks}, empty_ns=True)
    assert r.outcome == "passed", r.summary()
    links, = SeenLinks.seen
    assert [line.split(":")[1].strip() for line in links.splitlines()] == ["lo"], links
    assert "UP" in links.split("<")[1].split(">")[0], links         # the action script's work
    assert all("--empty-ns net" in c for c in r.criu_commands), r.criu_commands
    assert not list((art(r) / "images").rglob("netdev-*.img"))      # the netns was not dumped
    assert_clean(reachable_dir)


def _wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not cond():
        time.sleep(0.02)
    return cond()


def test_empty_ns_names_the_state_a_restore_would_lose():
    """An address, a rule, a sysctl, a second netns in the tree: what the
    harness names (the test becomes a skip) instead of a failed verify."""
    script = ("ip link set up dev lo; ip addr add 10.9.8.7/32 dev lo; iptables -A INPUT -p icmp -j DROP; "
              "echo 7 > /proc/sys/net/unix/max_dgram_qlen; unshare --net sleep 30 & touch ready; wait")
    with tempfile.TemporaryDirectory() as d:
        tree = subprocess.Popen(["unshare", "--net", "sh", "-c", script], cwd=d)
        try:
            assert _wait_for(lambda: os.path.exists(os.path.join(d, "ready")) and
                             len(list(stop.descendants(tree.pid))) > 1)
            lost = empty_ns.netns_losses(tree.pid)
            assert "address lo inet 10.9.8.7/32" in lost, lost
            assert "iptables-save: -A INPUT -p icmp -j DROP" in lost, lost
            assert any(x.startswith("sysctl net.unix.max_dgram_qlen = 7 (fresh: ") for x in lost), lost
            nested = empty_ns.other_netns(tree.pid)
            assert len(nested) == 1 and nested[0] != tree.pid, nested
        finally:
            for pid in stop.descendants(tree.pid):
                os.kill(pid, signal.SIGKILL)
            tree.wait()


def test_empty_ns_a_failing_action_script_fails_the_restore(engine, reachable_dir, monkeypatch):
    monkeypatch.setattr(empty_ns, "SCRIPT", "#!/bin/sh\necho no lo for you >&2\nexit 3\n")
    run, r = run_test(engine, "ns", empty_ns=True)
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert r.message.startswith("criu restore exited with"), r.message
    assert any("script" in line.lower() for line in r.criu_error_lines), r.criu_error_lines
    assert_clean(reachable_dir)


def test_empty_ns_in_h_is_a_skip(engine):
    run, r = run_test(engine, "h", empty_ns=True)
    assert r.outcome == "skipped" and "flavors ns and uns only" in r.message, r.summary()


# ---- --freezecg ------------------------------------------------------------------------
class SeenFrozen(freezecg.FreezeCgroupMode):
    seen: list = []

    def before_dump(self, step):
        super().before_dump(step)
        SeenFrozen.seen.append(((self.cgroup / "freezer.state").read_text().strip(),
                                step.run.pid in freezecg.members(self.cgroup), self.cgroup))


def test_freezecg_dumps_a_frozen_cgroup(engine, reachable_dir):
    SeenFrozen.seen = []
    run, r = run_test(engine, "h", {freezecg.FreezeCgroupMode: SeenFrozen}, freezecg=("zdtmst", "f"))
    assert r.outcome == "passed", r.summary()
    (state, member, cgroup), = SeenFrozen.seen
    assert (state, member) == ("FROZEN", True)
    assert any(f"--freeze-cgroup {cgroup}" in c for c in r.criu_commands), r.criu_commands
    assert f"{os.getpid()}" not in freezecg.members(cgroup)      # the harness left it
    assert not cgroup.exists()
    assert_clean(reachable_dir)


class RestoresElsewhere(freezecg.FreezeCgroupMode):
    def restore_opts(self, step):
        return ["--manage-cgroups=ignore"]      # the tree comes back in the harness's cgroups


def test_freezecg_a_test_restored_outside_its_cgroup_fails(engine, reachable_dir):
    run, r = run_test(engine, "uns", {freezecg.FreezeCgroupMode: RestoresElsewhere}, freezecg=("zdtmst", "t"))
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert "--freezecg: the restored test" in r.message and "is not in" in r.message, r.message
    assert not list(freezecg.FREEZER.glob("zdtmst-*"))
    assert_clean(reachable_dir)


# ---- --fault --------------------------------------------------------------------------
@pytest.mark.parametrize("code, action", [(3, "dump"), (2, "restore")])
def test_fault_fires_then_the_retry_passes(engine, reachable_dir, code, action):
    run, r = run_test(engine, "h", fault=code)
    assert r.outcome == "passed", r.summary()
    assert r.flavor == f"h-fault{code}"
    assert [c.split(" --images-dir")[0].split()[-1] for c in r.criu_commands].count(action) == 2, r.criu_commands
    assert any(title.startswith(f"--fault {code}: the fault fired") for title, _ in r.sections), r.sections
    failed = art(r) / f"{action}-1.log.failed"
    assert failed.exists()
    assert "fault:" in failed.read_text()        # criu's own word that it injected it
    assert_clean(reachable_dir)


def test_fault_that_does_not_fire_fails_the_test(engine, reachable_dir):
    # 4 breaks a restore that opens a link-remap file: the trivial test has none
    run, r = run_test(engine, "h", fault=4)
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert r.message == ("fault 4 did not fire: criu restore passed with CRIU_FAULT=4 "
                         "(FI_RESTORE_OPEN_LINK_REMAP)"), r.message
    assert_clean(reachable_dir)


def test_fault_codes_are_criu_s():
    from zdtm.modes.fault import _fault_code
    assert _fault_code("136") == 136
    for bad in ("0", "7", "139", "x"):
        with pytest.raises(ValueError):
            _fault_code(bad)
