"""The end of a run in the terminal: passed, failed and skipped per flavor
and mode, the slowest tests, and where the reports are."""
from __future__ import annotations

SLOWEST = 5


def warning_lines(tests: list) -> list:
    """The warnings of the tests that have any (known criu deviations)."""
    warned = [t for t in tests if t.warnings]
    if not warned:
        return []
    out = [f"zdtm: WARNINGS: {len(warned)} test{'s' if len(warned) > 1 else ''} with known criu deviations "
           f"(accepted for upstream's tests; --strict-outside fails them):"]
    for t in warned:
        out += [f"zdtm:   {t.id}: {w}" for w in t.warnings]
    return out


def lines(results, reports: dict) -> list:
    counts = results.counts()
    if not counts:
        return []
    width = max(len(v) for v in counts) + 2
    out = [f"zdtm: {'variant':<{width}} {'passed':>7} {'failed':>7} {'skipped':>8}"]
    total = {"passed": 0, "failed": 0, "skipped": 0}
    for variant in sorted(counts, key=lambda v: (v.split("-")[0] != "h", v.split("-")[0] != "ns", v)):
        c = counts[variant]
        out.append(f"zdtm: {variant:<{width}} {c['passed']:>7} {c['failed']:>7} {c['skipped']:>8}")
        for k in total:
            total[k] += c[k]
    out.append(f"zdtm: {'all':<{width}} {total['passed']:>7} {total['failed']:>7} {total['skipped']:>8}")
    ran = [t for t in results.tests if t.outcome != "skipped"]
    if ran:
        slow = sorted(ran, key=lambda t: -t.duration)[:SLOWEST]
        out.append("zdtm: slowest: " + ", ".join(f"{t.id} {t.duration:.1f}s" for t in slow))
    out += warning_lines(results.tests)
    for what, path in reports.items():
        out.append(f"zdtm: {what} report: {path}")
    return out
