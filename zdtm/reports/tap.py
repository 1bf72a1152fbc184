"""TAP 13, as kselftest and CRIU's zdtm.py (criu-testreport.tap) write it:
a plan, one line per test, skips with their reason, and a YAML block under
each failure and each test that passed with warnings."""
from __future__ import annotations

import json
from pathlib import Path


def _yaml_block(record) -> list:
    lines = ["  ---", f"  phase: {record.phase or 'unknown'}", "  message: |"]
    lines += [f"    {line}" for line in (record.message or "-").splitlines()]
    lines += _warnings(record)
    lines += [f"  flavor: {record.variant}", f"  artifacts: {record.artifacts or '-'}",
              f"  duration_ms: {int(record.duration * 1000)}", "  ..."]
    return lines


def _warnings(record) -> list:
    if not record.warnings:
        return []
    # JSON strings are YAML flow scalars: no quoting rules to get wrong
    return ["  warnings:"] + [f"    - {json.dumps(w)}" for w in record.warnings]


def render(results) -> str:
    lines = ["TAP version 13", f"1..{len(results.tests)}"]
    for n, t in enumerate(results.tests, 1):
        if t.outcome == "passed":
            lines.append(f"ok {n} - {t.id}")
            if t.warnings:      # passed with known criu deviations
                lines += ["  ---", *_warnings(t), "  ..."]
        elif t.outcome == "skipped":
            reason = " ".join((t.message or "skipped").split())
            lines.append(f"ok {n} - {t.id} # SKIP {reason}")
        else:
            lines.append(f"not ok {n} - {t.id}")
            lines += _yaml_block(t)
    return "\n".join(lines) + "\n"


def write(results, path: Path) -> None:
    path.write_text(render(results))
