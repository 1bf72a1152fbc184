"""criu's own tree in the flavors h and ns: the upstream conventions the
harness emulates there, and the machine limits it names in advance.

Every test here runs real upstream tests (criu 4.2.1's tree from `zdtm
provision --source`, on a private copy) with the real criu; one run of the
module covers them all (RUN), each convention is asserted by its own test.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from conftest import copy_upstream_tree, run_zdtm, tasks_mentioning
from zdtm import check
from zdtm.kinds import upstream as up
from zdtm.snapshot import Fd, TaskSnap, TreeSnapshot, differences

H_TESTS = ("net_lock_socket_iptables", "netns_lock_iptables", "socket-tcp-close0", "cgroup_ignore",
           "cgroup_yard", "loginuid", "inotify04", "poll", "socket-tcpbuf6", "rtc",
           "socket-tcp-nft-nfconntrack", "cgroup_ifpriomap", "cgroupns", "socket-tcp", "dumpable02")
NS_TESTS = ("loginuid", "inotify04", "dumpable02", "autofs", "sit", "binfmt_misc")


def _filter_rules() -> set:
    out = set()
    for tool in ("iptables", "ip6tables"):
        res = subprocess.run([tool, "-w", "-S"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        out |= {line for line in res.stdout.splitlines() if line.startswith("-A ")}
    return out


@pytest.fixture(scope="module")
def run():
    """One run of H_TESTS in h and NS_TESTS in ns on a private copy of the
    tree: {(test, flavor): (result.json, artifacts dir)}."""
    res = run_zdtm("provision", "--source", timeout=900)
    assert res.returncode == 0, res.stdout
    src = Path(res.stdout.strip().splitlines()[-1])
    top = Path(tempfile.mkdtemp(prefix="zdtm-selftest-", dir="/var/tmp"))
    os.chmod(top, 0o755)
    tree = top / "criu"
    copy_upstream_tree(src, tree)
    rules = _filter_rules()
    state = top / "state"
    got = {}
    try:
        for flavor, tests in (("h", H_TESTS), ("ns", NS_TESTS)):
            res = run_zdtm("run", "--upstream", tree, "--zdtm-dir", state, "-f", flavor, "-p", "2",
                           *[a for t in tests for a in ("-t", f"upstream/static/{t}")], timeout=900)
            run_dir = (state / "runs" / "latest").resolve()
            report = {r["id"]: r for r in json.loads((run_dir / "report.json").read_text())["tests"]}
            for t in tests:
                # a skipped test has no result.json: its line of the run's report
                result = report[f"upstream/static/{t}[{flavor}]"]
                got[(t, flavor)] = (result, Path(result["artifacts"]))
            got[("output", flavor)] = res.stdout
        yield got
        assert not tasks_mentioning(top)
        assert str(top) not in Path("/proc/self/mountinfo").read_text()
        assert _filter_rules() <= rules
    finally:
        shutil.rmtree(top, ignore_errors=True)


def _passed(run, test, flavor="h") -> tuple:
    result, art = run[(test, flavor)]
    assert result["outcome"] == "passed", (result, run[("output", flavor)][-4000:])
    return result, art


def test_test_and_hook_share_their_directory(run):
    # net_lock_socket_*: the test writes socket_lock.sync in its cwd, the
    # hook waits for it in zdtm/static (it timed out in --post-start).
    _, art = _passed(run, "net_lock_socket_iptables")
    assert "--post-start\n[exit 0]" in (art / "hook.log").read_text()
    assert not (art / "work" / "socket_lock.sync").exists()      # the hook removed what it read


def test_hook_daemons_end_after_clean(run):
    # netns_lock_*: the hook's TCP server runs until zdtm.py's pid namespace
    # ends; here it is killed after --clean, not blamed on the test.
    _, art = _passed(run, "netns_lock_iptables")
    log = (art / "hook.log").read_text()
    assert "--clean\n[exit 0]" in log
    assert "killed what the hooks left running" in log
    # net_lock_socket_*: its daemon still serves the --clean hook
    _, art = _passed(run, "net_lock_socket_iptables")
    assert "--clean\n[exit 0]" in (art / "hook.log").read_text()


def test_leftovers_zdtm_ct_would_drop_are_warnings(run):
    result, _ = _passed(run, "socket-tcp-close0")
    assert any("iptables rule" in w and "--tcp-close" in w for w in result["warnings"]), result
    result, _ = _passed(run, "cgroup_ignore")
    assert any("left mounts behind" in w and "cgroup_ignore.test" in w for w in result["warnings"]), result


def test_relative_path_from_upstreams_images_dir(run):
    result, art = _passed(run, "cgroup_yard")
    dump = next(c for c in json.loads((art / "result.json").read_text())["criu_commands"] if " dump " in c)
    assert dump.endswith("--cgroup-yard ../../hook-tree/test/external_yard"), dump
    assert up._test_dir_paths(("--cgroup-yard", "../../../../../../y", "--x", "../z")) == \
        ["--cgroup-yard", "../../hook-tree/test/y"]


@pytest.mark.parametrize("test,flavor", [("loginuid", "h"), ("loginuid", "ns"), ("inotify04", "h")])
def test_state_only_root_criu_dumps(run, test, flavor):
    result, _ = _passed(run, test, flavor)
    if "identity: owner-dump" in run[("output", flavor)]:
        assert result["identity"].startswith("root instead of uid 18943"), result["identity"]
        assert "--unprivileged" in result["identity"]


def test_write_only_append_offset_moving_forward(run):
    # poll logs at each return of poll(), after the snapshot too.
    _passed(run, "poll")

    def snap(flags, pos):
        return TreeSnapshot(root_pid=1, tasks=[TaskSnap(pid=1, pos="0", fds={1: Fd("/log", flags, pos)})])
    log = 0o2001        # O_WRONLY|O_APPEND
    assert not differences(snap(log, 270), snap(log, 540))
    assert [d.item for d in differences(snap(log, 540), snap(log, 270))] == ["fd.1.pos"]
    assert [d.item for d in differences(snap(0o2002, 270), snap(0o2002, 540))] == ["fd.1.pos"]


def test_tests_volatile_items(run):
    _passed(run, "socket-tcpbuf6")
    kind = up.UpstreamKind()
    w = type("W", (), {"source": Path("static/socket-tcpbuf6.c")})()
    assert kind.outside_ignore(w) == ("fd.*.flags",)
    w.source = Path("static/pipe00.c")
    assert kind.outside_ignore(w) == ()


def test_machine_limits_are_named_skips(run):
    expect = {"rtc": None if os.path.exists("/dev/rtc") else "needs /dev/rtc",
              "socket-tcp-nft-nfconntrack": None if shutil.which("nft", path=up.SYSTEM_PATH)
              else "needs the command 'nft'",
              "cgroup_ifpriomap": check.net_prio_missing() and "net_prio is not mounted",
              "cgroupns": check.pid1_ns_denied() and "root cannot open /proc/1/ns/cgroup"}
    for test, reason in expect.items():
        result, _ = run[(test, "h")]
        if reason:
            assert result["outcome"] == "skipped" and reason in result["message"], result
        else:
            assert result["outcome"] != "skipped" or "checkskip" in result["message"], result
    # socket-tcp is the same source without -DZDTM_NFT_CONNTRACK: not skipped
    _passed(run, "socket-tcp")


def test_compiled_source_follows_the_makefiles_defines():
    src = Path(run_zdtm("provision", "--source").stdout.strip().splitlines()[-1]) / "test/zdtm/static"
    assert "ZDTM_NFT_CONNTRACK" in up._defines(src, "socket-tcp-nft-nfconntrack")
    nft = "\n".join(up._active_source(src / "socket-tcp-nft-nfconntrack.c",
                                      up._defines(src, "socket-tcp-nft-nfconntrack")))
    plain = "\n".join(up._active_source(src / "socket-tcp.c", up._defines(src, "socket-tcp")))
    assert 'system("nft' in nft and 'system("nft' not in plain


@pytest.mark.parametrize("flavor", ["h", "ns"])
def test_test_that_changes_its_own_binary_runs_a_copy(run, flavor):
    # dumpable02 chmods argv[0]: the build cache is read-only in the ns root
    _, art = _passed(run, "dumpable02", flavor)
    assert up.OWN_COPY in (art / "workload-command.txt").read_text()
    assert (art / "work" / "dumpable02").is_file()


def test_ns_root_has_upstreams_devices(run):
    # autofs opens /dev/autofs in the ns root (upstream's root has it); its
    # mount's pgrp= and pipe_ino= change on restore (snapshot canon)
    _passed(run, "autofs", "ns")


def test_ns_machine_limits_are_named_skips(run):
    for test, reason in (("sit", check.link_type_missing("sit")), ("binfmt_misc", check.binfmt_misc_unmounted())):
        result, _ = run[(test, "ns")]
        if reason:
            assert result["outcome"] == "skipped" and reason in result["message"], result
