"""A tree's TCP connections seen from inside its network namespace (ss
through nsenter): what the hang report shows of a stalled connection, and
whether any of the tree's segments is still in flight before a dump."""
from __future__ import annotations

import os
import re
import subprocess
import time
from typing import Optional

from .procs import descendants

# between two looks at a tree's connections (each look is an nsenter+ss, ~5 ms)
QUIET_POLL = 0.005
# consecutive looks with nothing in flight before the connections count as quiet
QUIET_LOOKS = 2


def run_in_netns(pid: int, argv: list) -> Optional[str]:
    """What argv prints run in pid's net namespace; None if it cannot run."""
    try:
        res = subprocess.run(["nsenter", "-t", str(pid), "-n", *argv], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, timeout=5)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return res.stdout if res.returncode == 0 else None


def socket_inodes(pid: int) -> set:
    """The inodes (as strings) of the sockets pid holds open."""
    inodes = set()
    try:
        fds = os.listdir(f"/proc/{pid}/fd")
    except OSError:
        return inodes
    for fd in fds:
        try:
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[8:-1])
    return inodes


def in_flight(root: int) -> Optional[int]:
    """How many of the tree's established connections have sent segments not
    yet acknowledged (ss's unacked:N); None when ss cannot tell. Only the
    tree's own sockets count: in flavor h its netns is the host's."""
    tree = descendants(root)
    inodes = set().union(*(socket_inodes(p) for p in tree)) if tree else set()
    out = run_in_netns(root, ["ss", "-tineH", "state", "established"])
    if out is None:
        return None
    busy, mine = 0, False
    for line in out.splitlines():
        if not line[:1].isspace():
            m = re.search(r"\bino:(\d+)", line)
            mine = bool(m and m.group(1) in inodes)
        elif mine and re.search(r"\bunacked:\d+", line):
            busy += 1
    return busy


def wait_quiet(root: int, timeout: float) -> tuple:
    """Wait until none of the tree's connections has a segment in flight, as
    seen QUIET_LOOKS times in a row, at most timeout seconds.
    (quiet, seconds waited, looks taken); quiet is None when ss cannot tell."""
    start, looks, calm = time.monotonic(), 0, 0
    while True:
        busy = in_flight(root)
        looks += 1
        if busy is None:
            return None, time.monotonic() - start, looks
        calm = calm + 1 if busy == 0 else 0
        waited = time.monotonic() - start
        if calm >= QUIET_LOOKS or waited >= timeout:
            return calm >= QUIET_LOOKS, waited, looks
        time.sleep(QUIET_POLL)
