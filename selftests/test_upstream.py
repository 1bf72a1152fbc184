"""Running an existing upstream ZDTM tree (criu's own test/zdtm) with --upstream.

The tree is the real one: upstream's tests from the source of the provisioned
criu (`zdtm provision --source`), built by upstream's Makefile and library,
checkpointed with the real criu. Each test works on a private copy, so the
hooks, checkskips and broken tests added here stay out of the cache.
"""
from __future__ import annotations

import json
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import copy_upstream_tree, run_zdtm, tasks_mentioning

# Upstream tests that pass here in every flavor, chosen to cover the ways
# upstream's Makefile starts a test: no file, --filename, --dirname, custom
# arguments (env00's --envname, fifo-rowo-pair's two names), and a
# transition (live) test.
TESTS = ("static/pipe00", "static/env00", "static/umask00", "static/fifo-rowo-pair", "static/cwd01",
         "static/write_read00", "static/maps00", "static/sockets00", "transition/fork")


@pytest.fixture(scope="session")
def upstream_source():
    res = run_zdtm("provision", "--source", timeout=900)
    assert res.returncode == 0, res.stdout
    src = Path(res.stdout.strip().splitlines()[-1])
    assert (src / "test" / "zdtm" / "static" / "Makefile").is_file()
    return src


@pytest.fixture
def upstream(upstream_source, reachable_dir):
    """A private copy of upstream's test tree, laid out as in a checkout."""
    top = reachable_dir / "criu"
    copy_upstream_tree(upstream_source, top)
    yield top
    assert not tasks_mentioning(reachable_dir)


def _run(upstream, state, *args, **kw):
    return run_zdtm("run", "--upstream", upstream, "--zdtm-dir", state, *args, **kw)


def test_upstream_tests_pass_in_every_flavor(upstream, reachable_dir):
    state = reachable_dir / "state"
    junit = reachable_dir / "junit.xml"
    names = [f"upstream/{t}" for t in TESTS]
    res = _run(upstream, state, *[a for n in names for a in ("-t", n)], "-f", "h,ns,uns", "-p", "2",
               "--junitxml", junit, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:]
    cases = {f"{c.get('classname')}.{c.get('name')}" for c in ET.parse(junit).getroot().iter("testcase")}
    for t in TESTS:
        group, name = t.split("/")
        for flavor in ("h", "ns", "uns"):
            assert f"zdtm.upstream.{group}.{name}[{flavor}]" in cases, sorted(cases)

    run_dir = (state / "runs" / "latest").resolve()
    for t in TESTS:
        art = run_dir / "upstream" / t / "ns"
        result = json.loads((art / "result.json").read_text())
        assert result["outcome"] == "passed"
        assert "Dumping finished successfully" in (art / "dump-1.log").read_text()
        assert "Restore finished successfully" in (art / "restore-1.log").read_text()
    # Arguments come from upstream's Makefile, relative paths land in the
    # harness's work dir, and the binary runs from the harness's build dir.
    cmd = (run_dir / "upstream/static/env00/h/workload-command.txt").read_text()
    assert "--envname=ENV_00_TEST" in cmd and re.search(r"/build/u-[0-9a-f]+/env00 ", cmd)
    cmd = (run_dir / "upstream/static/fifo-rowo-pair/h/workload-command.txt").read_text()
    assert "--name_master=fifo-rowo-pair.master.test" in cmd
    assert "--dirname=cwd01.test" in (run_dir / "upstream/static/cwd01/h/workload-command.txt").read_text()
    assert (run_dir / "upstream/static/env00/h/work/env00.out").read_text().strip().endswith("PASS")
    static = upstream / "test" / "zdtm" / "static"
    assert not list(static.glob("*.out")) and not list(static.glob("*.pid")), "test files in the source tree"


def test_kerndat_cache_in_the_tests_own_mount_namespace(upstream, reachable_dir):
    """On a host whose /run is no tmpfs criu keeps no kerndat cache and
    probes the kernel on every call; an upstream test's own mount namespace
    gets a tmpfs /run with the host's entries bound in, seeded with the
    run's cache, which a later test's criu loads. The host's /run is left
    as it was."""
    from zdtm import check
    if check._is_tmpfs("/run"):
        pytest.skip("/run is a tmpfs here: criu caches its kerndat by itself")
    host_run = sorted(os.listdir("/run"))
    state = reachable_dir / "state"
    # uns: criu runs as root there, dumps too (in ns the owner's criu dumps
    # with --unprivileged, whose cache would be in $XDG_RUNTIME_DIR)
    res = _run(upstream, state, "-t", "upstream/static/pipe00", "-t", "upstream/static/env00", "-f", "uns",
               "-p", "1", timeout=600)
    assert res.returncode == 0, res.stdout[-4000:]
    run_dir = (state / "runs" / "latest").resolve()
    assert (run_dir / "criu.kdat").stat().st_mode & 0o777 == 0o600
    logs = [(run_dir / "upstream/static" / t / "uns" / f"{a}-1.log").read_text()
            for t in ("pipe00", "env00") for a in ("dump", "restore")]
    loaded = ["Loaded kdat cache from /run/criu.kdat" in log for log in logs]
    # each restore loads what its dump left; the second test's dump, the run's copy
    assert loaded[1] and loaded[3] and sum(loaded) == 3, [log[:600] for log in logs]
    # the host's /run entries stay reachable through the binds (criu's iptables lock)
    assert "/run/xtables.lock" not in res.stdout
    assert sorted(os.listdir("/run")) == host_run


def test_checkskip_hooks_and_exclusions(upstream, reachable_dir):
    static = upstream / "test" / "zdtm" / "static"
    (static / "umask00.checkskip").write_text("#!/bin/sh\necho 'no such thing here'\nexit 1\n")
    (static / "env00.hook").write_text('#!/bin/sh\necho "$1 pid=$ZDTM_TEST_PID" >> "$PWD/hook-calls"\n')
    (static / "pipe00.hook").write_text('#!/bin/sh\n[ "$1" = --pre-restore ] && { echo broken; exit 3; }\n'
                                        'exit 0\n')
    (static / "fifo-rowo-pair.hook").write_text("#!/usr/bin/env python3\nimport zdtm_no_such_module\n")
    for f in ("umask00.checkskip", "env00.hook", "pipe00.hook", "fifo-rowo-pair.hook"):
        (static / f).chmod(0o755)
    desc = upstream / "test" / "zdtm.desc"
    desc.write_text(desc.read_text().replace("'exclude': [", "'exclude': [ 'static/cwd01',"))
    state = reachable_dir / "state"
    res = _run(upstream, state, "-t", "upstream/static/umask00", "-t", "upstream/static/env00",
               "-t", "upstream/static/pipe00", "-t", "upstream/static/cwd01",
               "-t", "upstream/static/fifo-rowo-pair", "-f", "h")
    out = res.stdout
    assert res.returncode == 1, out
    assert re.search(r"SKIPPED .*umask00.checkskip exited with 1: no such thing here", out), out
    assert re.search(r"SKIPPED .*excluded by upstream's zdtm.desc", out), out
    assert re.search(r"SKIPPED .*fifo-rowo-pair.hook needs the Python module 'zdtm_no_such_module'", out), out
    assert "FAILED upstream/static/pipe00[h]" in out, out
    assert "phase 'hook': pipe00.hook --pre-restore exited with 3: broken" in out, out
    assert re.search(r"^=+ 1 failed, 1 passed, 3 skipped in ", out, re.M), out
    run_dir = (state / "runs" / "latest").resolve()
    # Hooks run from the test's own stand-in for the tree's test/ directory
    # (what they write there stays out of the tree).
    assert not (upstream / "test" / "hook-calls").exists()
    calls = (run_dir / "upstream/static/env00/h/hook-tree/test/hook-calls").read_text().split("\n")
    assert [c.split()[0] for c in calls if c] == ["--post-start", "--pre-dump", "--pre-restore",
                                                   "--post-restore", "--clean"]
    # The test's pid is known from --pre-dump on (--post-start runs while it starts).
    assert all(re.fullmatch(r"\S+ pid=\d+", c) for c in calls[1:] if c), calls
    log = (run_dir / "upstream/static/env00/h/hook.log").read_text()
    assert re.findall(r"^\$ env00.hook (\S+)$", log, re.M) == [c.split()[0] for c in calls if c]


def test_build_failure_names_the_test_and_shows_make_output(upstream, reachable_dir):
    static = upstream / "test" / "zdtm" / "static"
    (static / "zdtm_broken.c").write_text('#include "zdtmtst.h"\nint main(void) { return undeclared; }\n')
    with open(static / "Makefile", "a") as f:
        f.write("\nTST += zdtm_broken\n")
    res = _run(upstream, reachable_dir / "state", "-t", "upstream/static/zdtm_broken", "-f", "h")
    assert res.returncode == 1, res.stdout
    assert "FAILED upstream/static/zdtm_broken[h]" in res.stdout
    assert re.search(r"phase 'build': building upstream/static/zdtm_broken with upstream's Makefile: "
                     r"make .* exited with 2", res.stdout), res.stdout
    assert "'undeclared' undeclared" in res.stdout


def test_list_and_a_path_that_is_no_zdtm_tree(upstream_source, reachable_dir):
    res = run_zdtm("list", "--upstream", upstream_source)
    names = res.stdout.split()
    assert "upstream/static/pipe00" in names and "upstream/transition/fork" in names
    assert sum(n.startswith("upstream/") for n in names) > 400
    assert "static/pipe00" in names                # ours stay
    res = run_zdtm("run", "--upstream", reachable_dir, "-t", "upstream/static/pipe00")
    assert res.returncode == 4
    assert f"{reachable_dir}: not a ZDTM tree" in res.stdout


def _result(run_dir: Path, test: str, flavor: str) -> dict:
    return json.loads((run_dir / "upstream" / test / flavor / "result.json").read_text())


def _host_links() -> set:
    return set(os.listdir("/sys/class/net"))


def test_hooks_find_upstreams_pidfiles(upstream, reachable_dir):
    """cr_veth, macvlan and cr_veth02's hooks wait for zdtm/static/NAME.pid.inprogress
    while the test starts (the host pid of the ns init, whose netns gets the
    device), cr_veth02's reads zdtm/static/cr_veth02.pid after the restore:
    both are there, in the hook's own stand-in for test/, not in the tree.
    The bridge cr_veth's hook leaves on the host is removed after it (else
    macvlan's hook, next, fails to make it: zdtm.py's per-test netns takes it)."""
    state = reachable_dir / "state"
    before = _host_links()
    # One after the other: the hooks' device names are fixed, on the host.
    tests = ("static/cr_veth", "static/macvlan", "static/cr_veth02")
    res = _run(upstream, state, *[a for t in tests for a in ("-t", f"upstream/{t}")], "-f", "ns,uns", timeout=300)
    assert res.returncode == 0, res.stdout[-6000:]
    assert re.search(r"^=+ 6 passed in ", res.stdout, re.M), res.stdout
    run_dir = (state / "runs" / "latest").resolve()
    for test in tests:
        for flavor in ("ns", "uns"):
            # The hook found the pid (before: --post-start waited for it until
            # its 30 s ran out, and the test failed).
            assert _result(run_dir, test, flavor)["outcome"] == "passed"
            log = (run_dir / "upstream" / test / flavor / "hook.log").read_text()
            assert log.split("$ ", 2)[1].endswith("[exit 0]\n"), log[:3000]      # --post-start
    assert "removed the host link zdtmbr0" in (run_dir / "upstream/static/cr_veth/ns/hook.log").read_text()
    for flavor in ("ns", "uns"):
        art = run_dir / "upstream/static/cr_veth02" / flavor
        log = (art / "hook.log").read_text()
        init = (art / "init.pid").read_text().strip()
        assert f"+ TPID={init}\n" in log, log[:3000]
        # --post-restore: nsenter -t $(cat zdtm/static/cr_veth02.pid) sees the
        # restored netns (the old tree is gone: a stale pid would not).
        post_restore = log.split("$ cr_veth02.hook --post-restore", 1)[1].split("[exit 0]")[0]
        assert "zdtmvthc0" in post_restore, post_restore
        # (what the hook itself leaves there, cr_veth02.rst.state, stays, as in upstream's tree)
        left = [p.name for p in (art / "hook-tree/test/zdtm/static").iterdir() if ".pid" in p.name]
        assert not left, f"pidfiles left after --clean: {left}"
    static = upstream / "test" / "zdtm" / "static"
    assert not list(static.glob("*.pid*")), "pidfiles in the source tree"
    assert not {n for n in _host_links() - before if n.startswith("zdtm")}


def test_pre_dump_notify_fds_and_noreap(upstream, reachable_dir):
    """pid_reuse (flag pre-dump-notify) gets zdtm.py's notification fds and
    waits on them across the C/R; helper_zombie_child asks its ns init not
    to reap (ZDTM_NOREAP), so its zombie is there to be dumped."""
    state = reachable_dir / "state"
    res = _run(upstream, state, "-t", "upstream/transition/pid_reuse", "-t", "upstream/static/helper_zombie_child",
               "-f", "ns,uns", "-p", "2", timeout=300)
    assert res.returncode == 0, res.stdout[-6000:]
    assert re.search(r"^=+ 4 passed in ", res.stdout, re.M), res.stdout
    run_dir = (state / "runs" / "latest").resolve()
    for flavor in ("ns", "uns"):
        out = (run_dir / "upstream/transition/pid_reuse" / flavor / "work/pid_reuse.out").read_text()
        assert "not initialized" not in out and out.strip().endswith("PASS"), out
        dump = (run_dir / "upstream/static/helper_zombie_child" / flavor / "dump-1.log").read_text()
        assert re.search(r"Collected \d+ in 2 state", dump), "no zombie in the dumped tree"


def test_hook_imports_provisioned_pycriu(upstream, reachable_dir):
    """socket-tcp-closing.hook imports pycriu: the provisioned one (Debian's,
    of the criu's version), found through PYTHONPATH; it then looks at the
    test's sockets with nsenter -t $ZDTM_TEST_PID, the ns init's host pid."""
    facts = json.loads(run_zdtm("check", "--json", check=0).stdout)
    assert facts["crit"] and Path(facts["crit"]).is_file(), facts["pycriu"]
    state = reachable_dir / "state"
    res = _run(upstream, state, "-t", "upstream/static/socket-tcp-closing", "-f", "uns", timeout=300)
    assert res.returncode == 0, res.stdout[-6000:]
    assert re.search(r"^=+ 1 passed in ", res.stdout, re.M), res.stdout
    log = ((state / "runs" / "latest").resolve() / "upstream/static/socket-tcp-closing/uns/hook.log").read_text()
    assert "Check TCP images" in log and "127.0.0.1:8880" in log, log


def _art(state: Path, test: str, flavor: str) -> Path:
    return (state / "runs" / "latest").resolve() / "upstream" / test / flavor


def _host_mounts() -> str:
    return Path("/proc/self/mountinfo").read_text()


def test_zdtm_root_and_the_host_stage(upstream, reachable_dir):
    """mnt_ext_* read ZDTM_ROOT and, with ZDTM_NEWNS=1, prepare their external
    mounts from criu's side before their namespaces exist, as zdtm.py runs
    them: a tmpfs there, bound into the root (mnt_ext_root) or into the cwd,
    /zdtm/static inside (mnt_ext_manual, whose .desc names that path)."""
    state = reachable_dir / "state"
    left = Path("/tmp/zdtm_ext_auto.XXXXXX")   # mnt_ext_manual's mkdir, never removed by it
    if left.is_dir() and not os.listdir(left):
        left.rmdir()
    assert not left.exists(), f"{left} is there before the test: a run that did not remove it?"
    # -T: mnt_ext_manual.c is a symlink to mnt_ext_auto.c, which -t does not follow
    res = _run(upstream, state, "-T", "^upstream/static/mnt_ext_(root|manual)$", "-f", "ns,uns", "-p", "2",
               timeout=600)
    assert res.returncode == 0, res.stdout[-6000:]
    assert re.search(r"^=+ 4 passed in ", res.stdout, re.M), res.stdout[-3000:]
    for flavor in ("ns", "uns"):
        art = _art(state, "static/mnt_ext_root", flavor)
        dump = (art / "dump-1.log").read_text()
        assert re.search(r"type tmpfs source zdtm_ext_root .* @ \./mnt_ext_root\.test/dst ", dump), dump[-3000:]
        commands = (art / "criu-commands.txt").read_text()
        assert f"--root {art / 'root'}" in commands and "--external mnt[ZDTM]:/tmp/zdtm_ext_root.tmp" in commands
        assert not (art / "root").exists(), "the test's own root is removed after it"
        art = _art(state, "static/mnt_ext_manual", flavor)
        assert re.search(r"type tmpfs source zdtm_auto_ext_mnt .* @ \./zdtm/static/mnt_ext_manual\.test ",
                         (art / "dump-1.log").read_text())
        assert "removed what the test left in the host's /tmp: /tmp/zdtm_ext_auto.XXXXXX" in \
            (art / "cleanup.log").read_text()
    # ... and what they made in the host's /tmp is gone (zdtm.guards.hostpaths).
    assert not left.exists()
    # What the host stages mounted stayed in the tests' own mount namespaces.
    assert "zdtm_ext_root" not in _host_mounts() and "zdtm_auto_ext_mnt" not in _host_mounts()


def test_desc_expression_of_the_tree(upstream_source):
    """mnt_ext_dev.desc is a conditional expression upstream eval()s: read
    without eval, as zdtm.py's eval reads it, with ZDTM_MNT_EXT_DEV unset and
    set; no .desc of the tree is an error."""
    def row(env=None):
        res = run_zdtm("list", "--upstream", upstream_source, "--info", env=env)
        assert res.returncode == 0 and "DESC ERROR" not in res.stdout, res.stdout[-3000:]
        return next(line.split() for line in res.stdout.splitlines()
                    if line.startswith("upstream/static/mnt_ext_dev "))
    env = {k: v for k, v in os.environ.items() if k != "ZDTM_MNT_EXT_DEV"}
    assert row(env)[2:] == ["h", "ns", "uns", "noauto", "-", "-"]
    assert row({"ZDTM_MNT_EXT_DEV": "/dev/null"})[2:] == [
        "ns", "suid", "mnt_id", "--external", "dev[1/3]:loop", "--external", "dev[loop]:/dev/null"]


def test_writable_root(upstream, reachable_dir):
    """Upstream's ns root is writable: inotify_irmap watches files it makes
    in /etc, unlink_multiple_largefiles makes ten sparse 951 MiB files in /
    (FIEMAP: on the disk). Each test gets a root of its own; the shared one,
    the host's /etc and the host's mounts are untouched."""
    state = reachable_dir / "state"
    res = _run(upstream, state, "-t", "upstream/static/inotify_irmap", "-t",
               "upstream/static/unlink_multiple_largefiles", "-f", "ns,uns", "-p", "2", timeout=600)
    assert res.returncode == 0, res.stdout[-6000:]
    assert re.search(r"^=+ 4 passed in ", res.stdout, re.M), res.stdout[-3000:]
    for flavor in ("ns", "uns"):
        out = (_art(state, "static/unlink_multiple_largefiles", flavor) / "work" /
               "unlink_multiple_largefiles.out").read_text()
        assert "Created 10 unlinked files" in out and out.strip().endswith("PASS"), out[-2000:]
        dump = (_art(state, "static/inotify_irmap", flavor) / "dump-1.log").read_text()
        assert "Dumping /etc/zdtm-test as path for handle" in dump, dump[-3000:]
    assert not Path("/etc/zdtm-test").exists()
    shared = state / "nsroot"
    assert not list(shared.glob("unlinked*")) and not list((shared / "etc").iterdir())
    assert str(reachable_dir) not in _host_mounts()


def test_time_namespace_of_the_ns_init(upstream, reachable_dir):
    """Upstream's ns init gives the test a time namespace of its own (owned
    by the test's user namespace in uns): timens_nested leaves it for a
    nested one and goes back, which it cannot do into the host's; criu then
    refuses the nested time namespace (the test is crfail). criu dumps the
    time namespace of any upstream test (timens-*.img)."""
    state = reachable_dir / "state"
    res = _run(upstream, state, "-t", "upstream/static/timens_nested", "-t", "upstream/static/env00",
               "-f", "ns,uns", "-p", "2", "--keep-img", "always", timeout=600)
    assert res.returncode == 0, res.stdout[-6000:]
    assert re.search(r"^=+ 4 passed in ", res.stdout, re.M), res.stdout[-3000:]
    for flavor in ("ns", "uns"):
        dump = (_art(state, "static/timens_nested", flavor) / "dump-1.log").read_text()
        assert "Error" in dump, dump[-2000:]
        images = _art(state, "static/env00", flavor) / "img" / "1"
        assert list(images.glob("timens-*.img")), sorted(p.name for p in images.iterdir())


def test_cwd_is_part_of_the_root_mount(upstream, reachable_dir):
    """In upstream's root the test's cwd (/zdtm/static) is part of "/": a
    test that makes "/" shared and mounts under its cwd sees that propagate
    to a child's mount namespace (mntns_shared_bind: umount in the child
    fails with EINVAL otherwise), unless its .desc says `bind` (mnt_ro_root
    makes "/" read-only and writes its output in /zdtm/static: a mount of
    its own). The work dir is moved back out of the root afterwards, with
    the test's output."""
    state = reachable_dir / "state"
    res = _run(upstream, state, "-t", "upstream/static/mntns_shared_bind", "-t", "upstream/static/mnt_ro_root",
               "-f", "ns,uns", "-p", "2", timeout=600)
    assert res.returncode == 0, res.stdout[-6000:]
    assert re.search(r"^=+ 4 passed in ", res.stdout, re.M), res.stdout[-3000:]
    for flavor in ("ns", "uns"):
        work = _art(state, "static/mntns_shared_bind", flavor) / "work"
        assert work.resolve().is_dir() and not work.resolve().is_symlink()
        assert (work / "mntns_shared_bind.out").read_text().strip().endswith("PASS")
    assert str(reachable_dir) not in _host_mounts()


def test_tun_closed_to_the_user_namespace_is_a_named_skip(upstream, reachable_dir):
    """tun_ns in uns: criu opens /dev/net/tun as the root of the test's user
    namespace; with the node closed to others (0600, as here) that fails, in
    zdtm.py too, and is a skip naming the mode; open to all, it passes."""
    state = reachable_dir / "state"
    res = _run(upstream, state, "-t", "upstream/static/tun_ns", "-f", "uns", timeout=300)
    if os.stat("/dev/net/tun").st_mode & 0o006 == 0o006:
        assert res.returncode == 0 and re.search(r"^=+ 1 passed in ", res.stdout, re.M), res.stdout[-3000:]
    else:
        assert res.returncode == 0, res.stdout[-3000:]
        assert re.search(r"SKIPPED .*tun_ns\.c:1: flavor uns: /dev/net/tun is mode 0600 here: .*Permission denied",
                         res.stdout), res.stdout[-3000:]
