"""Every run's reports, read by the tools their readers use: TAP by a TAP
parser, JSON against the schema the project ships, HTML in a real browser;
and `zdtm report` merging shards into the verdicts of one whole run."""
import json
import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

import jsonschema
import pytest
from tap.parser import Parser

from conftest import MiniSuite, run_zdtm
from zdtm.reports.jsonfile import SCHEMA_FILE
from zdtm.shard import SHIPPED, load_durations, split
from zdtm.suite import Suite

BROWSER = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def run_with_every_outcome():
    """One run: a pass, a failure, a skip (state in a world-reachable dir)."""
    base = tempfile.mkdtemp(prefix="zdtm-selftest-", dir="/var/tmp")
    os.chmod(base, 0o755)
    suite = MiniSuite(Path(base))
    suite.add("ok", copy_from="trivial.c")
    suite.add("bad", copy_from="fails_check.c")
    suite.add("skip", copy_from="skips.py")
    extra = suite.base / "extra"
    extra.mkdir()
    res = suite.run("-a", "--tap", extra / "r.tap", "--json-report", extra / "r.json", "--html", extra / "r.html")
    yield suite, res, extra
    shutil.rmtree(base, ignore_errors=True)


def test_tap_is_tap13_with_skip_reasons_and_failure_blocks(run_with_every_outcome):
    suite, res, extra = run_with_every_outcome
    assert res.returncode == 1, res.stdout
    text = (suite.latest() / "criu-testreport.tap").read_text()
    assert text == (extra / "r.tap").read_text()
    lines = list(Parser().parse_text(text))
    assert lines[0].category == "version" and lines[0].version == 13
    plan = next(line for line in lines if line.category == "plan")
    tests = {t.description.removeprefix("- "): t for t in lines if t.category == "test"}
    assert plan.expected_tests == len(tests) == 3
    assert tests["static/ok[h]"].ok and not tests["static/ok[h]"].skip
    assert tests["static/skip[h]"].skip and "workload:" in tests["static/skip[h]"].directive.reason
    bad = tests["static/bad[h]"]
    assert not bad.ok
    assert bad.yaml_block["phase"] == "verify"
    assert "counter is 41 after restore, expected 42" in bad.yaml_block["message"]
    assert bad.yaml_block["artifacts"].endswith("/static/bad/h")


def test_json_follows_the_shipped_schema(run_with_every_outcome):
    suite, res, extra = run_with_every_outcome
    doc = json.loads((suite.latest() / "report.json").read_text())
    jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))
    assert doc == json.loads((extra / "r.json").read_text())
    outcomes = {t["id"]: (t["outcome"], t["phase"]) for t in doc["tests"]}
    assert outcomes == {"static/ok[h]": ("passed", None), "static/bad[h]": ("failed", "verify"),
                        "static/skip[h]": ("skipped", None)}
    assert doc["criu"]["version"] and doc["machine"]["facts"]["kernel"] == doc["machine"]["kernel"]
    assert doc["identity"]["strategy"] in ("root-criu", "owner-dump", "as-root")
    with pytest.raises(jsonschema.ValidationError):      # the schema does say something
        doc["tests"][0]["outcome"] = "maybe"
        jsonschema.validate(doc, json.loads(SCHEMA_FILE.read_text()))


@pytest.mark.skipif(BROWSER is None, reason="no chromium (make test installs it)")
def test_html_shows_a_failure_in_a_browser(run_with_every_outcome, tmp_path):
    suite, res, extra = run_with_every_outcome
    assert (suite.latest() / "report.html").is_file()      # the run dir has it too
    dom = subprocess.run([BROWSER, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                          "--disable-background-networking", "--disable-component-update", "--disable-sync",
                          f"--user-data-dir={tmp_path / 'profile'}", "--dump-dom", f"file://{extra / 'r.html'}"],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=120).stdout
    # what the page's script rendered, not the data it carries
    rendered = re.sub(r'data-jsonblob="[^"]*"', "", dom)
    row = re.search(r'<tbody class="results-table-row">.*?static/bad\[h\].*?</tbody>', rendered, re.S)
    assert row, rendered[:3000]
    assert 'class="col-result">Failed<' in row.group(0)
    assert "counter is 41 after restore, expected 42" in row.group(0)
    assert "phase &#x27;verify&#x27;" in row.group(0) or "phase 'verify'" in row.group(0)
    assert re.search(r'href="file://[^"]*/static/bad/h"[^>]*>artifacts<', row.group(0))


def test_end_of_run_table_per_flavor(run_with_every_outcome):
    suite, res, extra = run_with_every_outcome
    assert re.search(r"^zdtm: h\s+1\s+1\s+1$", res.stdout, re.M), res.stdout
    assert re.search(r"^zdtm: slowest: static/\w+\[h\] [\d.]+s", res.stdout, re.M), res.stdout
    for what in ("JSON", "TAP", "HTML"):
        assert re.search(rf"^zdtm: {what} report: /", res.stdout, re.M), res.stdout


def test_report_renders_and_merges_junit_and_json(run_with_every_outcome, tmp_path):
    suite, res, extra = run_with_every_outcome
    out = run_zdtm("report", suite.latest(), "--markdown", "-")
    assert out.returncode == 1, out.stdout           # a failure in it
    assert "| static/bad | FAIL |" in out.stdout and "| static/ok | pass |" in out.stdout, out.stdout


def test_shards_merge_into_the_verdicts_of_one_run(reachable_dir):
    """Two shards of a selection, merged with zdtm report, give the same
    verdicts as the unsharded run; every test in exactly one shard."""
    sel = ["-T", "static/(pipe|env|sk|fifo|file)", "-f", "h,uns", "-p", "2"]
    whole = reachable_dir / "whole.json"
    assert run_zdtm("run", *sel, "--zdtm-dir", reachable_dir / "s0", "--json-report", whole).returncode == 0
    parts = []
    for i in (1, 2):
        part = reachable_dir / f"shard{i}.xml"
        r = run_zdtm("run", *sel, "--shard", f"{i}/2", "--zdtm-dir", reachable_dir / f"s{i}", "--junitxml", part)
        assert r.returncode == 0, r.stdout
        parts.append(part)
    merged = json.loads(run_zdtm("report", *parts, "--json", "-").stdout)
    verdicts = {t["id"]: t["outcome"] for t in merged["tests"]}
    expected = {t["id"]: t["outcome"] for t in json.loads(whole.read_text())["tests"]}
    assert verdicts == expected and len(expected) > 10
    ids = [set(), set()]
    for i, part in enumerate(parts):
        ids[i] = {t["id"] for t in json.loads(run_zdtm("report", part, "--json", "-").stdout)["tests"]}
    assert ids[0] and ids[1] and not ids[0] & ids[1]


def test_the_split_is_deterministic_and_balanced_by_duration():
    durations = load_durations(SHIPPED.parent, SHIPPED)
    assert len(durations) > 300, "desc/durations.json covers the suite"
    ids = sorted(durations)
    for count in (2, 3, 4):
        shards = split(ids, count, durations)
        assert split(list(reversed(ids)), count, durations) == shards        # order does not matter
        assert sorted(i for s in shards for i in s) == ids
        costs = [sum(durations[i] for i in s) for s in shards]
        assert max(costs) <= 1.25 * min(costs), costs
    assert [len(s) for s in split(["a", "b", "c"], 2, {})] == [2, 1]        # no history: median guess
    ours = {w.name for w in Suite.load().workloads}
    assert {i.split("[")[0] for i in durations if not i.startswith("upstream/")} <= ours
