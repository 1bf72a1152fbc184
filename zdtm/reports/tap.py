"""TAP 13, as kselftest and CRIU's zdtm.py (criu-testreport.tap) write it:
a plan, one line per test, skips with their reason, and a YAML block under
each failure."""
from __future__ import annotations

from pathlib import Path


def _yaml_block(record) -> list:
    lines = ["  ---", f"  phase: {record.phase or 'unknown'}", "  message: |"]
    lines += [f"    {line}" for line in (record.message or "-").splitlines()]
    lines += [f"  flavor: {record.variant}", f"  artifacts: {record.artifacts or '-'}",
              f"  duration_ms: {int(record.duration * 1000)}", "  ..."]
    return lines


def render(results) -> str:
    lines = ["TAP version 13", f"1..{len(results.tests)}"]
    for n, t in enumerate(results.tests, 1):
        if t.outcome == "passed":
            lines.append(f"ok {n} - {t.id}")
        elif t.outcome == "skipped":
            reason = " ".join((t.message or "skipped").split())
            lines.append(f"ok {n} - {t.id} # SKIP {reason}")
        else:
            lines.append(f"not ok {n} - {t.id}")
            lines += _yaml_block(t)
    return "\n".join(lines) + "\n"


def write(results, path: Path) -> None:
    path.write_text(render(results))
