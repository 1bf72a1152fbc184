"""`zdtm bench`: what the harness costs around criu.

Runs a trivial workload through the real C/R cycle many times in-process and
prints the median wall time per test, the time spent inside criu dump and
restore, and the difference: the harness's overhead. Then times the whole
suite with one and with two xdist workers. Prints ratios, asserts nothing.
"""
from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .config import PROJECT_DIR, Settings
from .cycle import TestRun
from .engine import Engine
from .snapshot import snapshot_tree
from .suite import Suite

TRIVIAL = PROJECT_DIR / "selftests" / "workloads" / "trivial.c"
UPSTREAM_OVERHEAD = 0.7     # s per test, CRIU's zdtm.py on these machines (environment.md)


def _trivial_suite(base: Path) -> Suite:
    root = base / "suite"
    (root / "static").mkdir(parents=True)
    shutil.copy(TRIVIAL, root / "static" / "trivial.c")
    (root / "suite.yaml").write_text("roots:\n  - name: static\n    path: static\n")
    return Suite.load(root / "suite.yaml")


def bench_cycle(runs: int, criu_bin=None) -> dict:
    base = Path(tempfile.mkdtemp(prefix="zdtm-bench-", dir="/var/tmp"))
    os.chmod(base, 0o755)
    engine = None
    try:
        suite = _trivial_suite(base)
        engine = Engine(Settings(criu_bin=criu_bin, state_dir=base / "state", keep_img="never"), suite)
        engine.start_session()
        workload = suite.workloads[0]
        TestRun(engine, workload, "h").run()          # warm-up: build, checks
        rows = []
        for _ in range(runs):
            t = time.monotonic()
            r = TestRun(engine, workload, "h").run()
            wall = time.monotonic() - t
            if r.outcome != "passed":
                raise SystemExit(f"bench: the trivial workload did not pass: {r.summary()}")
            criu = r.timings.get("dump", 0) + r.timings.get("restore", 0)
            rows.append((wall, criu))
        return {
            "identity": r.identity,
            "wall": statistics.median(w for w, _ in rows),
            "criu": statistics.median(c for _, c in rows),
            "overhead": statistics.median(w - c for w, c in rows),
        }
    finally:
        if engine is not None:
            engine.end_session()
        shutil.rmtree(base, ignore_errors=True)


def bench_snapshot(runs: int = 20) -> float:
    """Median time of the outside check's look at a small tree (this process
    and a child), the cost it adds twice per C/R cycle."""
    child = subprocess.Popen(["sleep", "60"])
    try:
        snapshot_tree(os.getpid())
        return statistics.median(snapshot_tree(os.getpid()).duration for _ in range(runs))
    finally:
        child.kill()
        child.wait()


def bench_suite(workers: int) -> tuple:
    """Wall time and test count of `pytest -n N zdtm` over the real suite."""
    t = time.monotonic()
    res = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", str(workers),
                          "zdtm"], cwd=PROJECT_DIR, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    wall = time.monotonic() - t
    last = res.stdout.strip().splitlines()[-1] if res.stdout.strip() else ""
    return wall, last


def main(args) -> int:
    if args.against_zdtm_py:
        from .bench_zdtm_py import main as against
        from .engine import Engine
        from .options import settings_from
        engine = Engine.from_settings(settings_from(lambda dest: getattr(args, dest, None)))
        criu = engine.resolve_criu()
        if not criu:
            raise SystemExit(f"zdtm bench: {engine.criu_error}")
        return against(args.against_zdtm_py, criu, engine.facts.criu_version or "?", args.flavor, args.jobs)
    c = bench_cycle(args.runs, args.criu_bin)
    print(f"trivial workload, flavor h, {args.runs} runs (median); identity: {c['identity']}")
    print(f"  wall time per test          {c['wall']*1000:8.1f} ms")
    print(f"  inside criu dump+restore    {c['criu']*1000:8.1f} ms")
    print(f"  harness overhead            {c['overhead']*1000:8.1f} ms"
          f"   (target <= 150 ms; CRIU's zdtm.py ~{UPSTREAM_OVERHEAD*1000:.0f} ms: "
          f"{UPSTREAM_OVERHEAD / max(c['overhead'], 1e-6):.1f}x less)")
    print(f"  overhead / criu time        {c['overhead'] / max(c['criu'], 1e-6):8.2f}")
    print(f"  outside check, one look     {bench_snapshot() * 1000:8.2f} ms   (a process with a child and threads)")
    if not args.no_suite:
        w1, s1 = bench_suite(1)
        w2, s2 = bench_suite(2)
        print(f"whole suite, all flavors: -n 1 {w1:6.1f} s ({s1})")
        print(f"                          -n 2 {w2:6.1f} s ({s2})")
        print(f"  speed-up -n 2 vs -n 1       {w1 / max(w2, 1e-6):8.2f}x")
    return 0
