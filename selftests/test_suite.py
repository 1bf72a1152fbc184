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
        name = case.get("name")
        kind = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                kind = child.tag
        out[name] = (kind, case)
    return out


def _check_artifacts(run_dir: Path, test: str, flavor: str = "h"):
    art = run_dir / test / flavor
    result = json.loads((art / "result.json").read_text())
    assert result["outcome"] == "passed", result
    if "crfail" in result.get("identity", "") or not (art / "restore-1.log").exists():
        return result
    assert "Dumping finished successfully" in (art / "dump-1.log").read_text()
    assert "Restore finished successfully" in (art / "restore-1.log").read_text()
    assert "--images-dir" in (art / "criu-commands.txt").read_text()
    return result


def test_whole_suite_via_pytest_xdist(reachable_dir):
    junit = reachable_dir / "junit.xml"
    state = reachable_dir / "state"
    res = subprocess.run([sys.executable, "-m", "pytest", "-n", "2", "-p", "no:cacheprovider", "zdtm",
                          "--zdtm-dir", str(state), "--junitxml", str(junit), "-rfEs"],
                         cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=900)
    assert res.returncode == 0, res.stdout[-6000:]
    outcomes = _outcomes(junit)
    names = {w.name for w in Suite.load().workloads}
    noauto = {w.name for w in Suite.load().workloads if "noauto" in w.load_desc().flags}
    hosted = {w.name for w in Suite.load().workloads if "h" in w.load_desc().flavors}
    assert {n.removesuffix("[h]") for n in outcomes} == (hosted - noauto)
    run_dir = (state / "runs" / "latest").resolve()
    for name, (kind, case) in outcomes.items():
        assert kind in ("passed", "skipped"), name
        if kind == "skipped":
            assert case.find("skipped").get("message"), f"{name} skipped without a reason"
            continue
        result = _check_artifacts(run_dir, name.removesuffix("[h]"))
        assert result["identity"], name
    assert not tasks_mentioning(state)
    assert names


def test_zdtm_run_single_test_as_workload_uid(reachable_dir):
    state = reachable_dir / "state"
    res = run_zdtm("run", "-t", "static/env00", "-t", "py_env", "--zdtm-dir", state, "--keep-img", "always")
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
    res = run_zdtm("run", "-t", "static/noauto00", "--zdtm-dir", state)
    assert res.returncode == 0 and "1 passed" in res.stdout, res.stdout


def test_unknown_test_name(reachable_dir):
    res = run_zdtm("run", "-t", "static/no_such_test", "--zdtm-dir", reachable_dir / "s")
    assert res.returncode == 4
    assert "no test named 'static/no_such_test'" in res.stdout


def test_ctrl_c_leaves_nothing(reachable_dir):
    """Interrupt a run while a workload is up: everything is reaped."""
    state = reachable_dir / "state"
    suite_dir = reachable_dir / "suite"
    (suite_dir / "static").mkdir(parents=True)
    (suite_dir / "static" / "slow.c").write_text((PROJECT / "selftests/workloads/never_ready.c").read_text())
    (suite_dir / "static" / "slow.desc").write_text("{'timeout': 60}")
    (suite_dir / "suite.yaml").write_text("roots:\n  - name: static\n    path: static\n")
    proc = subprocess.Popen([sys.executable, "-m", "zdtm", "run", "--suite", str(suite_dir / "suite.yaml"),
                             "--zdtm-dir", str(state), "-t", "slow"], cwd=PROJECT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not [t for t in tasks_mentioning(state) if "/build/slow-" in t]:
        time.sleep(0.05)
    assert [t for t in tasks_mentioning(state) if "/build/slow-" in t], "the workload never started"
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 2, out
    assert not tasks_mentioning(state), out


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
    res = run_zdtm("run", "-t", "static/pipe00", "-t", "static/py_pipe", "--iters", "3", "--zdtm-dir", state)
    assert res.returncode == 0 and "2 passed" in res.stdout, res.stdout
    art = (state / "runs" / "latest").resolve() / "static" / "pipe00" / "h"
    for n in (1, 2, 3):
        assert "Restore finished successfully" in (art / f"restore-{n}.log").read_text()
    res = run_zdtm("run", "-t", "static/pipe00", "--norst", "--iters", "2", "--zdtm-dir", state)
    assert res.returncode == 0, res.stdout
    art = (state / "runs" / "latest").resolve() / "static" / "pipe00" / "h"
    commands = (art / "criu-commands.txt").read_text().splitlines()
    assert len(commands) == 2 and all("--leave-running" in c for c in commands)
    assert not list(art.glob("restore-*.log"))
