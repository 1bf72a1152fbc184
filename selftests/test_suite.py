"""The real suite through both front doors, with real criu (host flavor)."""
import json
import os
import re
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import PROJECT, run_zdtm, tasks_mentioning
from zdtm.config import WORKLOAD_UID
from zdtm.suite import Suite


def _outcomes(junit: Path) -> dict:
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        # the plugin names "static/pipe00[h]" classname "zdtm.static", name "pipe00[h]"
        group = case.get("classname").split(".")
        assert group[0] == "zdtm", case.attrib
        name = "/".join([*group[1:], case.get("name")])
        kind = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                kind = child.tag
        out[name] = (kind, case)
    return out


def _check_artifacts(run_dir: Path, test: str, variant: str = "h"):
    art = run_dir / test / variant
    result = json.loads((art / "result.json").read_text())
    assert result["outcome"] == "passed", result
    if not (art / "restore-1.log").exists():      # crfail: refused dump, no restore
        assert "crfail" in (PROJECT / "tests" / (test + ".desc")).read_text()
        return result
    assert "Dumping finished successfully" in (art / "dump-1.log").read_text()
    assert "Restore finished successfully" in (art / "restore-1.log").read_text()
    assert "--images-dir" in (art / "criu-commands.txt").read_text()
    return result


def _expected_items(flavors=("h", "ns", "uns"), suffix="") -> set:
    out = set()
    for w in Suite.load().workloads:
        d = w.load_desc()
        if "noauto" in d.flags:
            continue
        out |= {f"{w.name}[{f}{suffix}]" for f in flavors if f in d.flavors}
    return out


# The only skips the suite may have here, each for its reason: anything else
# skipped is a regression into skips.
ALLOWED_SKIPS = {
    "static/rtc": "no RTC device",
    "static/chardev_crfail": "no character device criu refuses can be opened here",
    "static/exec_cmd00": "criu-ns restores detached under its own pseudo-init, which --exec-cmd excludes",
    "static/pdeath00": "criu-ns restores under a pseudo-init of a new pid namespace and refuses --restore-sibling",
}


def _check_skip(name: str, message: str) -> None:
    test = name.split("[")[0]
    assert test in ALLOWED_SKIPS, f"{name} skipped: {message}"
    assert ALLOWED_SKIPS[test] in message, f"{name} skipped: {message}"
    if test == "static/rtc":
        assert not any(os.path.exists(d) for d in ("/dev/rtc", "/dev/rtc0")), "an RTC exists: rtc must run"
    if test in ("static/exec_cmd00", "static/pdeath00"):
        assert name.endswith("-criu-ns]"), name


@pytest.mark.parametrize("criu_ns", [False, True], ids=["plain", "criu-ns"])
def test_whole_suite_every_flavor_via_pytest_xdist(reachable_dir, criu_ns):
    junit = reachable_dir / "junit.xml"
    state = reachable_dir / "state"
    res = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "zdtm",
                          "--zdtm-flavor", "all", "--zdtm-dir", str(state), "--junitxml", str(junit), "-rfEs",
                          *(["--zdtm-criu-ns"] if criu_ns else [])],
                         cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=1800)
    assert res.returncode == 0, res.stdout[-8000:]
    outcomes = _outcomes(junit)
    assert set(outcomes) == _expected_items(suffix="-criu-ns" if criu_ns else "")
    run_dir = (state / "runs" / "latest").resolve()
    for name, (kind, case) in outcomes.items():
        assert kind in ("passed", "skipped"), name
        if kind == "skipped":
            _check_skip(name, case.find("skipped").get("message") or "")
            continue
        test, variant = name[:-1].split("[")
        result = _check_artifacts(run_dir, test, variant)
        assert result["identity"], name
    assert not tasks_mentioning(state)


def test_whole_suite_via_zdtm_run(reachable_dir):
    state = reachable_dir / "state"
    res = run_zdtm("run", "-a", "-f", "h,ns,uns", "-p", "2", "--zdtm-dir", state, timeout=1800)
    assert res.returncode == 0, res.stdout[-8000:]
    counts = re.search(r"(\d+) passed(?:, (\d+) skipped)?", res.stdout.strip().splitlines()[-1])
    assert counts and int(counts.group(1)) + int(counts.group(2) or 0) == len(_expected_items()), res.stdout[-2000:]
    # -rs lists each skip with its reason: "SKIPPED [n] tests/static/rtc.c:1: reason"
    for path, message in re.findall(r"^SKIPPED \[\d+\] tests/(\S+)\.\w+:\d+: (.*)$", res.stdout, re.M):
        _check_skip(path, message)
    assert not tasks_mentioning(state)


def test_zdtm_run_single_test_as_workload_uid(reachable_dir):
    state = reachable_dir / "state"
    res = run_zdtm("run", "-t", "static/env00", "-t", "py_env", "-f", "h", "--zdtm-dir", state,
                   "--keep-img", "always")
    assert res.returncode == 0, res.stdout
    assert "2 passed" in res.stdout
    run_dir = (state / "runs" / "latest").resolve()
    for test in ("static/env00", "static/py_env"):
        result = _check_artifacts(run_dir, test)
        assert "uid 18943" in result["identity"]
        # The workload's files were created by the workload uid, not root.
        work = run_dir / test / "h" / "work"
        outs = list(work.glob("*.out"))
        assert outs and all(o.stat().st_uid == WORKLOAD_UID for o in outs)
        assert (run_dir / test / "h" / "img" / "1" / "inventory.img").exists()


def test_noauto_only_when_named(reachable_dir):
    state = reachable_dir / "state"
    res = run_zdtm("run", "-T", "noauto", "--zdtm-dir", state)
    assert res.returncode == 5, res.stdout          # nothing selected
    res = run_zdtm("run", "-t", "static/noauto00", "-f", "h", "--zdtm-dir", state)
    assert res.returncode == 0 and "1 passed" in res.stdout, res.stdout


def test_unknown_test_name(reachable_dir):
    res = run_zdtm("run", "-t", "static/no_such_test", "--zdtm-dir", reachable_dir / "s")
    assert res.returncode == 4
    assert "no test named 'static/no_such_test'" in res.stdout


@pytest.mark.parametrize("flavor", ["h", "ns", "uns"])
def test_ctrl_c_leaves_nothing(reachable_dir, flavor):
    """Interrupt a run while a workload is up: everything is reaped."""
    state = reachable_dir / "state"
    suite_dir = reachable_dir / "suite"
    (suite_dir / "static").mkdir(parents=True)
    (suite_dir / "static" / "slow.c").write_text((PROJECT / "selftests/workloads/never_ready.c").read_text())
    (suite_dir / "static" / "slow.desc").write_text("{'timeout': 60}")
    (suite_dir / "suite.yaml").write_text("roots:\n  - name: static\n    path: static\n")
    proc = subprocess.Popen([sys.executable, "-m", "zdtm", "run", "--suite", str(suite_dir / "suite.yaml"),
                             "--zdtm-dir", str(state), "-t", "slow", "-f", flavor], cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not [t for t in tasks_mentioning(state) if "/build/slow-" in t]:
        time.sleep(0.05)
    assert [t for t in tasks_mentioning(state) if "/build/slow-" in t], "the workload never started"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert not tasks_mentioning(state), out
    assert str(state) not in Path("/proc/self/mountinfo").read_text()


def test_check_reports_this_machine():
    res = run_zdtm("check", "--json")
    facts = json.loads(res.stdout[res.stdout.index("{"):])
    status = Path("/proc/self/status").read_text()
    cap_eff = int(re.search(r"CapEff:\s*(\w+)", status).group(1), 16)
    assert ("CAP_SYS_RESOURCE" in facts["caps_missing"]) == (not cap_eff >> 24 & 1)
    assert facts["kernel"] == os.uname().release
    assert facts["criu_check_ok"] is True and res.returncode == 0
    assert facts["devices"]["/dev/rtc"] == os.path.exists("/dev/rtc")
    assert facts["strategy"] in ("root-criu", "owner-dump", "as-root")
    text = run_zdtm("check").stdout
    assert "identity strategy" in text and facts["strategy"] in text


def test_list_info():
    res = run_zdtm("list", "--info", check=0)
    assert "static/env00" in res.stdout
    assert re.search(r"\d+ workloads:", res.stdout)


def test_iterations_and_norst(reachable_dir):
    state = reachable_dir / "state"
    res = run_zdtm("run", "-t", "static/pipe00", "-t", "static/py_pipe", "--iters", "3", "-f", "h", "--zdtm-dir", state)
    assert res.returncode == 0 and "2 passed" in res.stdout, res.stdout
    art = (state / "runs" / "latest").resolve() / "static" / "pipe00" / "h-iters3"
    for n in (1, 2, 3):
        assert "Restore finished successfully" in (art / f"restore-{n}.log").read_text()
    res = run_zdtm("run", "-t", "static/pipe00", "--norst", "--iters", "2", "-f", "h", "--zdtm-dir", state)
    assert res.returncode == 0, res.stdout
    art = (state / "runs" / "latest").resolve() / "static" / "pipe00" / "h-iters2-norst"
    commands = (art / "criu-commands.txt").read_text().splitlines()
    assert len(commands) == 2 and all("--leave-running" in c for c in commands)
    assert not list(art.glob("restore-*.log"))
