"""Where a tree hangs: every task and thread of it, as /proc shows them.

Attached to a failure when a phase times out (the workload never became
ready, did not exit after SIGTERM, criu did not finish): state, wchan,
kernel stack, pending and blocked signals, and the command line.
"""
from __future__ import annotations

import os
import signal

from .procs import descendants, proc_state

STACK_LINES = 12


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        return f"({e.strerror})"


def _status(path: str) -> dict:
    out = {}
    for line in _read(path).splitlines():
        key, _, value = line.partition(":")
        out[key] = value.strip()
    return out


def _signals(status: dict) -> str:
    parts = []
    for key in ("SigPnd", "ShdPnd", "SigBlk", "SigIgn", "SigCgt"):
        value = status.get(key)
        if value is not None and int(value, 16):
            parts.append(f"{key} {_names(int(value, 16))}")
    return ", ".join(parts) or "none pending, none blocked"


def _names(mask: int) -> str:
    names = []
    for sig in range(1, 65):
        if mask >> (sig - 1) & 1:
            try:
                names.append(signal.Signals(sig).name)
            except ValueError:
                names.append(f"SIG{sig}")
    return "|".join(names)


def _thread(pid: int, tid: int) -> list:
    base = f"/proc/{pid}/task/{tid}"
    status = _status(f"{base}/status")
    head = (f"  tid {tid} ({status.get('Name', '?')}): state {status.get('State', '?')}, "
            f"wchan {_read(f'{base}/wchan').strip() or '-'}; signals: {_signals(status)}")
    stack = [f"      {line}" for line in _read(f"{base}/stack").strip().splitlines()[:STACK_LINES]]
    return [head] + stack


def tree_report(roots) -> str:
    """Each live task under roots: its command line, then each thread."""
    lines, seen = [], set()
    for root in roots:
        if not root or proc_state(root) is None:
            continue
        for pid in descendants(root):
            if pid in seen:
                continue
            seen.add(pid)
            cmd = _read(f"/proc/{pid}/cmdline").replace("\0", " ").strip()
            status = _status(f"/proc/{pid}/status")
            uid = (status.get("Uid") or "?").split()[0]
            lines.append(f"pid {pid} (ppid {status.get('PPid', '?')}, uid {uid}): {cmd[:300]}")
            try:
                tids = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task"))
            except OSError:
                tids = []
            for tid in tids:
                lines += _thread(pid, tid)
    return "\n".join(lines) if lines else "(no task of the tree is left)"
