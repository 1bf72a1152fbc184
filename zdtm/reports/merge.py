"""`zdtm report RUN-DIR|FILE...`: render a past run, or merge several
(shards, machines, kernels; their JSON reports or JUnit files) into one
table of test x (flavor and mode, kernel, machine), for the terminal,
Markdown and HTML, and into one JSON document of the same schema."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path

from jinja2 import Environment

from .results import SCHEMA, TestRecord, records_from_dict

MARK = {"passed": "pass", "failed": "FAIL", "skipped": "skip", None: ""}


class ReportError(Exception):
    pass


def _from_junit(path: Path) -> dict:
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    tests, host, kernel = [], "", ""
    for suite in suites:
        host = suite.get("hostname", host)
        props = {p.get("name"): p.get("value") for p in suite.findall("properties/property")}
        kernel = props.get("zdtm_kernel", kernel)
        for case in suite.iter("testcase"):
            case_props = case.findall("properties/property")
            p = {e.get("name"): e.get("value") or "" for e in case_props}
            if "zdtm_test" not in p:
                continue
            outcome = "passed"
            for child in case:
                if child.tag in ("failure", "error"):
                    outcome = "failed"
                elif child.tag == "skipped":
                    outcome = "skipped"
            modes = [m for m in p.get("zdtm_modes", "").split(",") if m]
            variant = "-".join([p["zdtm_flavor"], *modes])
            tests.append(asdict(TestRecord(
                id=f"{p['zdtm_test']}[{variant}]", test=p["zdtm_test"], flavor=p["zdtm_flavor"], modes=modes,
                outcome=outcome, phase=p.get("phase") or None, message=p.get("message", ""),
                duration=float(case.get("time", 0) or 0),
                timings={k[5:]: float(v) for k, v in p.items() if k.startswith("time_")},
                identity=p.get("identity", ""), artifacts=p.get("artifacts", ""), kernel=kernel, machine=host,
                warnings=[e.get("value") for e in case_props if e.get("name") == "warning" and e.get("value")])))
    return {"schema": SCHEMA, "run": {"run_dir": str(path), "started": 0, "finished": None, "wall": 0,
                                      "argv": [], "shard": None},
            "machine": {"hostname": host, "kernel": kernel, "arch": "", "facts": {}},
            "criu": {"path": None, "version": None}, "identity": {"strategy": "", "text": ""}, "tests": tests}


def load(source: str) -> dict:
    """A run's report from a run dir, a report.json or a JUnit file."""
    path = Path(source)
    if path.is_dir():
        path = path / "report.json"
    try:
        if path.suffix == ".xml":
            return _from_junit(path)
        data = json.loads(path.read_text())
    except (OSError, ValueError, ET.ParseError) as e:
        raise ReportError(f"{source}: not a zdtm report (a run dir, report.json or a JUnit file): {e}") from None
    if data.get("schema") != SCHEMA:
        raise ReportError(f"{source}: schema {data.get('schema')!r}, expected {SCHEMA!r}")
    return data


def merge(docs: list) -> dict:
    """One document of the same schema; a test seen twice (same id, kernel,
    machine) keeps its last verdict."""
    tests = OrderedDict()
    for d in docs:
        for t in d["tests"]:
            # reports written before tests had warnings: none
            tests[(t["id"], t["kernel"], t["machine"])] = {**t, "warnings": t.get("warnings", [])}
    runs = [d["run"] for d in docs]
    hosts = sorted({t["machine"] for t in tests.values()})
    kernels = sorted({t["kernel"] for t in tests.values()})
    started = min((r["started"] for r in runs if r["started"]), default=0)
    finished = max((r["finished"] or 0 for r in runs), default=0) or None
    first = docs[0] if docs else {}
    return {
        "schema": SCHEMA,
        "run": {"run_dir": " + ".join(r["run_dir"] for r in runs), "started": started, "finished": finished,
                "wall": round(max(0.0, (finished or started) - started), 3), "argv": [], "shard": None},
        "machine": {"hostname": ", ".join(hosts), "kernel": ", ".join(kernels),
                    "arch": first.get("machine", {}).get("arch", ""), "facts": {}},
        "criu": first.get("criu", {"path": None, "version": None}),
        "identity": first.get("identity", {"strategy": "", "text": ""}),
        "inputs": [{"run_dir": r["run_dir"], "shard": r["shard"], "wall": r["wall"]} for r in runs],
        "tests": list(tests.values()),
    }


def matrix(doc: dict) -> tuple:
    """(columns, rows): a column per variant (and kernel, machine where they
    vary), a row per test: {column: record}."""
    records = records_from_dict(doc)
    kernels = {r.kernel for r in records}
    hosts = {r.machine for r in records}

    def column(r: TestRecord) -> str:
        parts = [r.variant] + ([r.kernel] if len(kernels) > 1 else []) + ([r.machine] if len(hosts) > 1 else [])
        return " @ ".join(parts)

    columns = sorted({column(r) for r in records}, key=lambda c: (c.split(" @ ")[1:], c))
    rows = OrderedDict()
    for r in sorted(records, key=lambda r: r.test):
        rows.setdefault(r.test, {})[column(r)] = r
    return columns, rows


def counts(doc: dict) -> dict:
    out = {"passed": 0, "failed": 0, "skipped": 0}
    for t in doc["tests"]:
        out[t["outcome"]] += 1
    return out


def terminal(doc: dict) -> str:
    columns, rows = matrix(doc)
    width = max([len(t) for t in rows] + [4])
    cw = [max(len(c), 4) for c in columns]
    out = ["test".ljust(width) + "  " + "  ".join(c.ljust(w) for c, w in zip(columns, cw))]
    for test, cells in rows.items():
        marks = [MARK[cells[c].outcome if c in cells else None].ljust(w) for c, w in zip(columns, cw)]
        out.append(test.ljust(width) + "  " + "  ".join(marks))
    c = counts(doc)
    out.append(f"\n{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped")
    out += [f"FAILED {t['id']} ({t['kernel']}, {t['machine']}): phase {t['phase']}: {t['message']}"
            for t in doc["tests"] if t["outcome"] == "failed"]
    out += [f"WARNING {t['id']} ({t['kernel']}, {t['machine']}): {w}"
            for t in doc["tests"] for w in t.get("warnings", [])]
    return "\n".join(out).rstrip() + "\n"


def markdown(doc: dict) -> str:
    columns, rows = matrix(doc)
    out = ["| test | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    for test, cells in rows.items():
        out.append(f"| {test} | " + " | ".join(MARK[cells[c].outcome if c in cells else None] or "·"
                                               for c in columns) + " |")
    c = counts(doc)
    out.append(f"\n**{c['passed']} passed, {c['failed']} failed, {c['skipped']} skipped**")
    fails = [t for t in doc["tests"] if t["outcome"] == "failed"]
    if fails:
        out.append("\n| failed | phase | message |\n|---|---|---|")
        out += [f"| {t['id']} ({t['kernel']}, {t['machine']}) | {t['phase']} | "
                f"{t['message'].replace('|', '/').splitlines()[0] if t['message'] else ''} |" for t in fails]
    warned = [(t, w) for t in doc["tests"] for w in t.get("warnings", [])]
    if warned:
        out.append("\n| warning (known criu deviation) | |\n|---|---|")
        out += [f"| {t['id']} ({t['kernel']}, {t['machine']}) | {w.replace('|', '/')} |" for t, w in warned]
    return "\n".join(out) + "\n"


HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>zdtm report</title>
<style>
body { font-family: sans-serif; margin: 1.5em; }
table { border-collapse: collapse; font-size: 90%; }
th, td { border: 1px solid #ccc; padding: 2px 6px; }
td.passed { background: #d8f5d8; } td.failed { background: #f8c8c8; font-weight: bold; }
td.skipped { background: #eee; color: #666; }
details { margin: 0.5em 0; } pre { white-space: pre-wrap; }
</style></head><body>
<h1>zdtm report</h1>
<p>{{ c.passed }} passed, {{ c.failed }} failed, {{ c.skipped }} skipped &mdash;
criu {{ doc.criu.version or "?" }}, {{ doc.machine.hostname }}, kernel {{ doc.machine.kernel }}</p>
<table id="matrix"><thead><tr><th>test</th>{% for col in columns %}<th>{{ col }}</th>{% endfor %}</tr></thead>
<tbody>{% for test, cells in rows.items() %}<tr><td>{{ test }}</td>
{% for col in columns %}{% set r = cells.get(col) %}<td class="{{ r.outcome if r else '' }}"
 title="{{ r.message if r else '' }}">{{ mark[r.outcome] if r else '' }}</td>{% endfor %}</tr>
{% endfor %}</tbody></table>
<h2>Failures</h2>
{% for t in fails %}<details class="failure" open><summary>{{ t.id }} ({{ t.kernel }}, {{ t.machine }}):
phase {{ t.phase }}</summary><pre>{{ t.message }}</pre>
<p>artifacts: <a href="file://{{ t.artifacts }}">{{ t.artifacts }}</a></p></details>
{% else %}<p>none</p>{% endfor %}
</body></html>
"""


def html(doc: dict) -> str:
    columns, rows = matrix(doc)
    fails = [t for t in doc["tests"] if t["outcome"] == "failed"]
    env = Environment(autoescape=True)
    return env.from_string(HTML).render(doc=doc, columns=columns, rows=rows, fails=fails, mark=MARK,
                                        c=counts(doc))
