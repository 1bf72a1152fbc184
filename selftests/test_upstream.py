"""Running an existing upstream ZDTM tree (criu's own test/zdtm) with --upstream.

The tree is the real one: upstream's tests from the source of the provisioned
criu (`zdtm provision --source`), built by upstream's Makefile and library,
checkpointed with the real criu. Each test works on a private copy, so the
hooks, checkskips and broken tests added here stay out of the cache.
"""
from __future__ import annotations

import json
import re
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import run_zdtm, tasks_mentioning

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
    shutil.copytree(upstream_source / "test" / "zdtm", top / "test" / "zdtm", symlinks=True)
    shutil.copy(upstream_source / "test" / "zdtm.desc", top / "test" / "zdtm.desc")
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
    # Hooks run from the tree's test/ directory, as upstream's zdtm.py runs them.
    calls = (upstream / "test" / "hook-calls").read_text().split("\n")
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
