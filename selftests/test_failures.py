"""Each kind of bad input or broken part gives one clear error naming the
test and phase, and leaves nothing behind (the mini_suite fixture checks)."""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import WORKLOADS


def result_of(suite, name="static/t", flavor="h"):
    art = suite.latest() / name / flavor
    return json.loads((art / "result.json").read_text()), art


def test_malformed_desc(mini_suite):
    mini_suite.add("t", copy_from="trivial.c", desc="{'flavor': 'h', 'flags': 'suid'\n")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 1, res.stdout
    assert "phase 'desc'" in res.stdout
    assert "t.desc" in res.stdout and "syntax error" in res.stdout


def test_unknown_flag_names_file_and_line(mini_suite):
    mini_suite.add("t", copy_from="trivial.c", desc="{'flavor': 'h',\n 'flags': 'suid bogus'}\n")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 1
    assert "t.desc:2: unknown flag 'bogus'" in res.stdout


def test_never_ready_is_bounded_and_killed(mini_suite):
    mini_suite.add("t", copy_from="never_ready.c", desc="{'timeout': 2}")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 1, res.stdout
    assert "phase 'start': workload did not become ready within 2s" in res.stdout
    assert "setting up forever" in res.stdout     # the workload's own output is shown
    # where it hung: each task of the tree, its state and kernel stack
    assert "the tree when the time ran out (state, wchan, kernel stack, signals)" in res.stdout
    assert re.search(r"pid \d+ \(ppid \d+, uid 18943\): \S+/t --pidfile=", res.stdout), res.stdout
    assert re.search(r"tid \d+ \(t\): state S \(sleeping\), wchan __do_sys_pause; signals: .*SigCgt SIGTERM",
                     res.stdout), res.stdout
    assert re.search(r"^\s+\[<0>\] \w+\+0x", res.stdout, re.M), res.stdout


def test_check_failing_after_restore(mini_suite):
    mini_suite.add("t", copy_from="fails_check.c")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 1, res.stdout
    assert "phase 'verify'" in res.stdout
    assert "counter is 41 after restore, expected 42" in res.stdout
    result, art = result_of(mini_suite)
    assert result["phase"] == "verify"
    # it did go through a real C/R before failing
    assert "Dumping finished successfully" in (art / "dump-1.log").read_text()
    assert "Restore finished successfully" in (art / "restore-1.log").read_text()
    assert (art / "img" / "1").is_dir(), "images are kept for a failed test"


def test_missing_criu(mini_suite):
    mini_suite.add("t", copy_from="trivial.c")
    res = mini_suite.run("-t", "static/t", "--criu-bin", "/nonexistent/criu")
    assert res.returncode == 4, res.stdout          # pytest's usage error: nothing ran
    assert "/nonexistent/criu" in res.stdout
    assert "no checkpoint/restore can run here" in res.stdout


def test_build_error_shows_compiler_output(mini_suite):
    mini_suite.add("t", copy_from="broken_build.c")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 1
    assert "phase 'build'" in res.stdout
    assert "this_is_not_c" in res.stdout


def test_workload_skip_becomes_pytest_skip(mini_suite):
    mini_suite.add("t", copy_from="skips.py")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 0, res.stdout
    assert "1 skipped" in res.stdout
    assert "needs a device this machine lacks" in res.stdout


def _fake_criu(suite, real_criu, action, behaviour):
    """A criu wrapper that misbehaves for one action, real otherwise."""
    suite.state.mkdir(parents=True, exist_ok=True)
    os.chmod(suite.state, 0o755)
    fake = suite.state / "fake-criu"
    fake.write_text(f"""#!/bin/sh
if [ "$1" = "{action}" ]; then
    {behaviour}
fi
exec {real_criu} "$@"
""")
    fake.chmod(0o755)
    return fake


def test_criu_crash_reported_with_signal(mini_suite, real_criu):
    mini_suite.add("t", copy_from="trivial.c")
    fake = _fake_criu(mini_suite, real_criu, "restore", "kill -SEGV $$")
    res = mini_suite.run("-t", "static/t", "--criu-bin", fake)
    assert res.returncode == 1, res.stdout
    assert "phase 'restore': criu restore was killed by SIGSEGV" in res.stdout


def test_criu_hang_is_bounded(mini_suite, real_criu):
    mini_suite.add("t", copy_from="trivial.c")
    fake = _fake_criu(mini_suite, real_criu, "dump", "exec sleep 600")
    res = mini_suite.run("-t", "static/t", "--criu-bin", fake, "--", "--zdtm-criu-timeout=3")
    assert res.returncode == 1, res.stdout
    assert "phase 'dump': criu dump timed out after 3s and was killed" in res.stdout
    assert "criu dump's tree when it timed out" in res.stdout and "sleep 600" in res.stdout, res.stdout


def test_crfail_dump_that_succeeds_is_a_failure(mini_suite):
    mini_suite.add("t", copy_from="trivial.c", desc="{'flags': 'crfail'}")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 1
    assert "criu dumped a test marked crfail" in res.stdout


def test_crlib_plugin_is_built_and_loaded(mini_suite):
    mini_suite.add("with_plugin", copy_from="trivial.c", desc="{'flags': 'crlib'}")
    (mini_suite.tests / "plugins").mkdir()
    (mini_suite.tests / "plugins" / "with_plugin.c").write_text(
        (WORKLOADS / "plugins" / "with_plugin.c").read_text())
    res = mini_suite.run("-t", "static/with_plugin", "--keep-img", "always")
    assert res.returncode == 0, res.stdout
    result, art = result_of(mini_suite, "static/with_plugin")
    assert all("--libdir" in c for c in result["criu_commands"])
    assert "zdtm_selftest" in (art / "dump-1.log").read_text()


def test_crlib_without_plugin_source(mini_suite):
    mini_suite.add("t", copy_from="trivial.c", desc="{'flags': 'crlib'}")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 1
    assert "phase 'build'" in res.stdout and "no plugin source" in res.stdout


def test_outside_check_reports_a_real_change(mini_suite, real_criu):
    """The workload changes its umask just before criu dumps it (a wrapper
    signals it): the diff names the task and the item."""
    mini_suite.add("t", copy_from="changes_on_usr1.c")
    fake = _fake_criu(mini_suite, real_criu, "dump",
                      'pid=$(echo "$@" | sed -n "s/.*--tree \\([0-9]*\\).*/\\1/p"); kill -USR1 $pid; sleep 0.2')
    res = mini_suite.run("-t", "static/t", "--criu-bin", fake)
    assert res.returncode == 1, res.stdout
    assert "phase 'verify': state seen from /proc changed across dump and restore" in res.stdout
    assert re.search(r"pid \d+ \(t\) \[0\]: creds umask 0022 -> 0077", res.stdout), res.stdout


def test_differs_in_desc_explains_a_change(mini_suite, real_criu):
    mini_suite.add("t", copy_from="changes_on_usr1.c",
                   desc="{'differs': {'creds.umask': 'the test changes it on purpose'}}")
    fake = _fake_criu(mini_suite, real_criu, "dump",
                      'pid=$(echo "$@" | sed -n "s/.*--tree \\([0-9]*\\).*/\\1/p"); kill -USR1 $pid; sleep 0.2')
    res = mini_suite.run("-t", "static/t", "--criu-bin", fake)
    assert res.returncode == 0, res.stdout


def test_task_left_running_fails_the_test(mini_suite):
    mini_suite.add("t", copy_from="leaves_helper.c")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 1, res.stdout
    assert re.search(r"phase 'cleanup': left 1 task\(s\) running after it ended: \d+ \(t\)", res.stdout), res.stdout
    # (the mini_suite fixture checks the helper is gone)


def test_mount_left_in_the_work_dir_fails_the_test_and_is_removed(mini_suite):
    mini_suite.add("t", copy_from="leaves_mount.c", desc="{'flavor': 'h', 'flags': 'suid'}")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 1, res.stdout
    assert re.search(r"phase 'cleanup': left mounts behind: \S+/leaked", res.stdout), res.stdout
    # (the mini_suite fixture checks no mount is left)


def test_iptables_rule_left_by_a_tcp_test_fails_it_and_is_removed(mini_suite):
    mini_suite.add("t", copy_from="leaves_iptables_rule.c",
                   desc="{'flavor': 'h', 'flags': 'suid', 'opts': '--tcp-established'}")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 1, res.stdout
    assert re.search(r"phase 'cleanup': left 1 iptables rule\(s\) behind: iptables -A INPUT .*"
                     r'"zdtm selftest leak"', res.stdout), res.stdout
    assert "could not remove" not in res.stdout, res.stdout
    rules = subprocess.run(["iptables", "-w", "-S"], capture_output=True, text=True).stdout
    assert "zdtm selftest leak" not in rules


def test_cgroup_left_by_a_test_fails_it_and_is_removed(mini_suite):
    mini_suite.add("leaves", copy_from="leaves_cgroup.c",
                   desc="{'flavor': 'h', 'flags': 'suid', 'opts': '--manage-cgroups'}")
    res = mini_suite.run("-t", "static/leaves")
    assert res.returncode == 1, res.stdout
    assert re.search(r"phase 'cleanup': left 1 cgroup\(s\) behind: /sys/fs/cgroup/pids/zdtm-leaves-\d+",
                     res.stdout), res.stdout
    assert not list(Path("/sys/fs/cgroup/pids").glob("zdtm-leaves-*"))


@pytest.mark.parametrize("desc, reason", [
    ("{'feature': 'no_such_feature'}", "criu check --feature no_such_feature: not supported here"),
    ("{'arch': 'sparc64'}", "test is for sparc64"),
    ("{'deps': 'no-such-binary|neither-this'}", "needs 'no-such-binary|neither-this'"),
])
def test_unmet_requirements_are_skips_with_reasons(mini_suite, desc, reason):
    mini_suite.add("t", copy_from="trivial.c", desc=desc)
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 0 and "1 skipped" in res.stdout, res.stdout
    assert reason in res.stdout


@pytest.mark.parametrize("mode", [(), ("--page-server",)], ids=["plain", "page-server"])
def test_machine_limit_is_a_skip_naming_it(mini_suite, mode):
    """Without CAP_SYS_RESOURCE (this machine) root's criu cannot dump a
    task of another uid: a skip that says so; with it, a pass. A mode's
    helper (the page server, which exits 0 when the dump gives up) is not
    blamed for it."""
    mini_suite.add("t", copy_from="mixed_uids.c", desc="{'flags': 'suid'}")
    res = mini_suite.run("-t", "static/t", *mode)
    assert res.returncode == 0, res.stdout
    with open("/proc/self/status") as f:
        cap_eff = int(next(l for l in f if l.startswith("CapEff:")).split()[1], 16)
    if cap_eff >> 24 & 1:
        assert "1 passed" in res.stdout, res.stdout
    else:
        assert "1 skipped" in res.stdout, res.stdout
        assert re.search(r"criu cannot dump a task of another uid without CAP_SYS_RESOURCE, which this machine "
                         r"lacks \(see zdtm check\); criu said: Error \(criu/cr-dump.c:\d+\): Can't get rlimit",
                         res.stdout), res.stdout


def test_suite_exclusion_is_a_skip_with_its_reason(mini_suite):
    mini_suite.add("t", copy_from="trivial.c")
    mini_suite.file.write_text("roots:\n  - name: static\n    path: static\n"
                               "exclude:\n  - test: static/t\n    reason: broken on this kernel\n")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 0 and "1 skipped" in res.stdout, res.stdout
    assert "excluded by suite.yaml: broken on this kernel" in res.stdout


def test_excl_test_never_runs_beside_another(mini_suite):
    """An excl workload among slow ones on two workers: someone has to wait
    (contention happens), and the excl one overlaps no other."""
    mini_suite.add("a", copy_from="slow_ready.c", desc="{'flags': 'excl'}")
    for name in "bcd":
        mini_suite.add(name, copy_from="slow_ready.c")
    res = mini_suite.run("-a", "-p", "2")
    assert res.returncode == 0, res.stdout
    run = mini_suite.latest()
    spans, waits = {}, {}
    for name in "abcd":
        result = json.loads((run / "static" / name / "h" / "result.json").read_text())
        spans[name] = (result["started"], result["finished"])
        waits[name] = result["timings"]["wait"]
    assert max(waits.values()) > 0.5, waits        # a test waited for the lock
    a0, a1 = spans["a"]
    for other in "bcd":
        b0, b1 = spans[other]
        assert b1 <= a0 or b0 >= a1, spans
