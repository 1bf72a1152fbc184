"""The outside check's warnings. On upstream's own tests (criu's test/zdtm,
the source of the provisioned criu), with the real criu: a difference that
is how criu restores things passes silently; a known criu deviation is a
warning for an upstream test (in the terminal, junit, report.json, TAP and
result.json) and a failure with --strict-outside. And the option's two
doors, and merged reports from before warnings existed."""
from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from conftest import run_zdtm
from zdtm.reports.jsonfile import SCHEMA_FILE
from zdtm.snapshot import TMPFILE_LOST, WATCH_ON_DELETED_LOST

# Each failed the outside check before it knew how criu restores them:
# stopped01 on the SIGSTOP left pending on a stopped task, mount_complex_sharing
# on peer group numbers, unlink_mmap01 on a deleted file's other name.
NORMALIZED = ("stopped01", "mount_complex_sharing", "unlink_mmap01")
# Loses its inotify watch on an unlinked file: a known criu deviation.
WARNED = "inotify00"


@pytest.fixture(scope="module")
def upstream_source():
    res = run_zdtm("provision", "--source", timeout=900)
    assert res.returncode == 0, res.stdout
    return Path(res.stdout.strip().splitlines()[-1])


def _run(upstream_source, state, names, *args):
    # -T, not -t: stopped01.c is a link to stopped.c, which -t resolves to "stopped"
    pattern = f"^upstream/static/({'|'.join(re.escape(n) for n in names)})$"
    return run_zdtm("run", "--upstream", upstream_source, "--zdtm-dir", state, "-T", pattern, "-f", "uns", *args,
                    timeout=600)


def test_how_criu_restores_passes_and_known_deviations_warn(upstream_source, reachable_dir):
    state, junit = reachable_dir / "state", reachable_dir / "junit.xml"
    res = _run(upstream_source, state, (*NORMALIZED, WARNED), "--junitxml", junit)
    out = res.stdout
    assert res.returncode == 0, out[-6000:]
    assert re.search(rf"^=+ {len(NORMALIZED) + 1} passed", out, re.M), out[-3000:]
    warned_id = f"upstream/static/{WARNED}[uns]"
    assert re.search(r"^zdtm: WARNINGS: 1 test with known criu deviations", out, re.M), out[-3000:]
    line = re.search(rf"^zdtm:   {re.escape(warned_id)}: outside check: (.*)$", out, re.M)
    assert line and WATCH_ON_DELETED_LOST in line.group(1) and "inotify wd 2" in line.group(1), out[-3000:]

    run_dir = (state / "runs" / "latest").resolve()
    doc = json.loads((run_dir / "report.json").read_text())
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))
    warnings = {t["id"]: t["warnings"] for t in doc["tests"]}
    assert warnings == {**{f"upstream/static/{n}[uns]": [] for n in NORMALIZED}, warned_id: [line.group(0)[
        len(f"zdtm:   {warned_id}: "):]]}
    result = json.loads((run_dir / "upstream/static" / WARNED / "uns" / "result.json").read_text())
    assert result["outcome"] == "passed" and result["warnings"] == warnings[warned_id]
    tap = (run_dir / "criu-testreport.tap").read_text()
    assert re.search(rf"^ok \d+ - {re.escape(warned_id)}\n  ---\n  warnings:\n    - \"outside check: ", tap, re.M)
    cases = {c.get("name"): c for c in ET.parse(junit).getroot().iter("testcase")}
    props = [p.get("value") for p in cases[f"{WARNED}[uns]"].iter("property") if p.get("name") == "warning"]
    assert props == warnings[warned_id]
    # zdtm report reads the warnings back from the JUnit file too
    merged = json.loads(run_zdtm("report", junit, "--json", "-").stdout)
    assert {t["id"]: t["warnings"] for t in merged["tests"]} == warnings


def test_strict_outside_fails_a_known_deviation(upstream_source, reachable_dir):
    res = _run(upstream_source, reachable_dir / "state", (WARNED,), "--strict-outside")
    out = res.stdout
    assert res.returncode == 1, out[-6000:]
    assert f"FAILED upstream/static/{WARNED}[uns]" in out, out[-3000:]
    assert re.search(r"phase 'verify': state seen from /proc changed across dump and restore: pid \S+ "
                     r"\(inotify00\) \[0\.0\]: fd \d+ inotify wd 2 ", out), out[-3000:]
    assert f"known criu deviation: {WATCH_ON_DELETED_LOST}" in out, out[-3000:]
    assert "WARNINGS" not in out


def test_strict_outside_through_both_doors():
    from zdtm.cli import build_parser
    from zdtm.options import pytest_args, settings_from
    args = build_parser().parse_args(["run", "--strict-outside"])
    assert pytest_args(args) == ["--zdtm-strict-outside"]
    assert settings_from(lambda dest: getattr(args, dest, None)).strict_outside
    assert not settings_from(lambda dest: None).strict_outside


def test_a_merged_report_from_before_warnings_follows_the_schema(tmp_path):
    """report.json files written before tests had warnings merge into a
    document of today's schema (no warnings for their tests)."""
    from zdtm.reports import merge
    from zdtm.reports.results import RunResults, TestRecord
    results = RunResults(str(tmp_path), facts={"kernel": "6.1", "hostname": "m"})
    results.tests = [TestRecord("static/a[h]", "static/a", "h", [], "passed", kernel="6.1", machine="m"),
                     TestRecord("upstream/static/b[h]", "upstream/static/b", "h", [], "passed", kernel="6.1",
                                machine="m", warnings=["outside check: why (seen: it)"])]
    old = results.to_dict()
    for t in old["tests"]:
        del t["warnings"]
    doc = merge.merge([old, results.to_dict()])
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))
    assert {t["id"]: t["warnings"] for t in doc["tests"]} == {"static/a[h]": [],
                                                              "upstream/static/b[h]": ["outside check: why (seen: it)"]}
    assert "WARNING upstream/static/b[h] (6.1, m): outside check: why (seen: it)" in merge.terminal(doc)
    assert "| upstream/static/b[h] (6.1, m) | outside check: why (seen: it) |" in merge.markdown(doc)


TMPFILE_WORKLOAD = r"""
#include <fcntl.h>
#include "zdtmtst.h"

int main(int argc, char **argv)
{
	test_init(argc, argv);
	if (open(".", O_TMPFILE | O_RDWR, 0600) < 0) {
		fail("open(O_TMPFILE)");
		return 1;
	}
	test_daemon();
	test_waitsig();
	pass();
	return 0;
}
"""


def test_our_workloads_fail_on_a_known_deviation(mini_suite):
    """What is a warning for upstream's tests fails ours, and says why."""
    mini_suite.add("tmpfile", TMPFILE_WORKLOAD)
    res = mini_suite.run("-t", "static/tmpfile")
    out = res.stdout
    assert res.returncode == 1, out[-4000:]
    assert re.search(r"phase 'verify': state seen from /proc changed across dump and restore: pid \d+ "
                     r"\(tmpfile\) \[0\]: fd \d+ flags 020000002 -> 02", out), out[-4000:]
    assert f"known criu deviation: {TMPFILE_LOST}" in out, out[-4000:]
    assert "WARNINGS" not in out
