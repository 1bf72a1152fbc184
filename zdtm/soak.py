"""`zdtm run --repeat N`: the same selection N times in a row, each round a
fresh run, then a table of every test that did not pass every time. A flake
is a bug; this is how one is found before a user finds it.

`--alternate criu-ns` makes every other round a --criu-ns round.
"""
from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

OUTCOMES = ("passed", "failed", "skipped")


def _outcomes(junit: Path) -> dict:
    out = {}
    try:
        root = ET.parse(junit).getroot()
    except (OSError, ET.ParseError):
        return out
    for case in root.iter("testcase"):
        group = case.get("classname", "").split(".")[1:]
        name = "/".join([*group, case.get("name", "?")])
        kind = "passed"
        for child in case:
            if child.tag in ("failure", "error"):
                kind, message = "failed", (child.get("message") or "").splitlines()[:1]
                out[name] = (kind, message[0] if message else "")
                break
            if child.tag == "skipped":
                kind = "skipped"
        out.setdefault(name, (kind, ""))
    return out


def _round_argv(base: list, n: int, alternate: str, junit: Path) -> list:
    argv = [sys.executable, "-m", "zdtm", "run", *base, "--junitxml", str(junit)]
    if alternate and n % 2 == 0:
        argv.append(f"--{alternate}")
    return argv


def _table(history: dict, rounds: int) -> list:
    rows = []
    for name, seen in sorted(history.items()):
        counts = {k: sum(1 for kind, _ in seen if kind == k) for k in OUTCOMES}
        if counts["passed"] == len(seen) or counts["skipped"] == len(seen):
            continue
        last = next((msg for kind, msg in reversed(seen) if kind == "failed"), "")
        rows.append(f"  {name:<44} {counts['passed']:>3}/{len(seen):<3} passed  "
                    f"{counts['failed']} failed  {counts['skipped']} skipped   {last[:90]}")
    return rows


def soak(base_argv: list, rounds: int, alternate: str = "") -> int:
    history = defaultdict(list)
    summary = []
    with tempfile.TemporaryDirectory(prefix="zdtm-soak-") as tmp:
        for n in range(1, rounds + 1):
            junit = Path(tmp) / f"round-{n}.xml"
            argv = _round_argv(base_argv, n, alternate, junit)
            t = time.monotonic()
            res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True)
            wall = time.monotonic() - t
            last = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else "(no output)"
            mode = f" --{alternate}" if alternate and n % 2 == 0 else ""
            summary.append(f"round {n}/{rounds}{mode}: exit {res.returncode}, {wall:.0f} s: {last.strip('= ')}")
            print(summary[-1], flush=True)
            for name, outcome in _outcomes(junit).items():
                history[name].append(outcome)
            if res.returncode not in (0, 1):        # interrupted, usage error: no point going on
                print(res.stdout[-3000:])
                return res.returncode
    rows = _table(history, rounds)
    print(f"\n{len(history)} tests over {rounds} rounds; "
          + (f"{len(rows)} did not pass every time:" if rows else "every test passed (or skipped) every time"))
    print("\n".join(rows))
    return 1 if rows else 0
