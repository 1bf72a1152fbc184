"""`--shard I/N`: a deterministic split of the selection into N parts of
about equal wall time, as CRIU's CI splits zdtm.py four ways.

Each test's duration comes from earlier runs: a file given (--durations),
else the one the project ships (desc/durations.json), else the state dir's
(durations.json, updated after every run: never the default while a shipped
file exists, since shards run one after another in one state dir would then
split differently). A test never timed counts as the median of those that
were. Items are dealt longest first to the shard with the least time so far
(ties: the lower index), so every shard of one selection computes the same
split on any machine.
"""
from __future__ import annotations

import json
import os
import statistics
from pathlib import Path

from .config import PROJECT_DIR

SHIPPED = PROJECT_DIR / "desc" / "durations.json"
DEFAULT = 1.0


def load_durations(state_dir: Path, given=None) -> dict:
    for path in ([Path(given)] if given else [SHIPPED, state_dir / "durations.json"]):
        try:
            return {k: float(v) for k, v in json.loads(path.read_text()).items()}
        except (OSError, ValueError, AttributeError):
            continue
    return {}


def schedule_durations(state_dir: Path) -> dict:
    """For ordering a run (not splitting it): what this machine measured,
    over the shipped file."""
    merged = {}
    for path in (SHIPPED, state_dir / "durations.json"):
        merged.update(load_durations(state_dir, path))
    return merged


def split(ids: list, count: int, durations: dict) -> list:
    """count lists of ids, balanced by duration."""
    known = [durations[i] for i in ids if i in durations]
    guess = statistics.median(known) if known else DEFAULT
    cost = {i: durations.get(i, guess) for i in ids}
    shards = [[] for _ in range(count)]
    load = [0.0] * count
    for i in sorted(ids, key=lambda i: (-cost[i], i)):
        k = min(range(count), key=lambda k: (load[k], k))
        shards[k].append(i)
        load[k] += cost[i]
    return shards


def store_durations(state_dir: Path, measured: dict) -> None:
    """Remember what this run measured (merged into what was known)."""
    path = state_dir / "durations.json"
    known = load_durations(state_dir, path) if path.exists() else {}
    known.update({k: round(v, 3) for k, v in measured.items()})
    tmp = path.with_name(f".durations-{os.getpid()}")
    tmp.write_text(json.dumps(dict(sorted(known.items())), indent=0) + "\n")
    os.replace(tmp, path)
