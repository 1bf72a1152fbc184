"""A tree's TCP connections seen from inside its network namespace (ss
through nsenter): what the hang report shows of a stalled connection, and
whether the tree is quiet before a dump (wait_quiet: nothing in flight,
nothing moving, its server waiting for its peer)."""
from __future__ import annotations

import os
import re
import subprocess
import time
from dataclasses import dataclass
from typing import Optional

from .procs import descendants, proc_state, syscall_of

# between two looks at a tree's connections (each look is an nsenter+ss, ~5 ms)
QUIET_POLL = 0.005
# consecutive quiet looks (after a first one) before the tree counts as quiet
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


# read-family syscalls by number, where we know them (an unknown arch: the
# server's wait cannot be told, only what is in flight)
READ_CALLS = {"x86_64": (0, 17, 19, 45, 47), "aarch64": (63, 65, 67, 207, 212)}


@dataclass
class Look:
    """One look at a tree's TCP connections."""
    in_flight: int                  # connections with segments sent, not yet acknowledged
    moved: int                      # bytes received and acknowledged over them, all told
    server_waits: Optional[bool]    # its server sleeps reading a connection with nothing queued
                                    # (None: cannot be told, or no task holds a listening socket)

    def quiet_after(self, before: Optional["Look"]) -> bool:
        return (before is not None and self.in_flight == 0 and self.moved == before.moved
                and self.server_waits is not False)


def _sockets(root: int, state: str, inodes: set) -> Optional[dict]:
    """inode -> (receive queue, segments in flight, bytes moved) of the
    tree's TCP sockets in that state in root's netns; None when ss cannot
    tell. Only the tree's own sockets count: in flavor h its netns is the
    host's."""
    out = run_in_netns(root, ["ss", "-tineH", "state", state])
    if out is None:
        return None
    socks, ino = {}, None
    for line in out.splitlines():
        if not line[:1].isspace():
            m = re.search(r"\bino:(\d+)", line)
            ino = m.group(1) if m and m.group(1) in inodes else None
            if ino:
                socks[ino] = (int(line.split()[0]), 0, 0)
        elif ino:
            info = dict(re.findall(r"\b(unacked|bytes_received|bytes_acked):(\d+)", line))
            socks[ino] = (socks[ino][0], int(info.get("unacked", 0)),
                          int(info.get("bytes_received", 0)) + int(info.get("bytes_acked", 0)))
    return socks


def _waits_for_peer(pid: int, established: dict) -> Optional[bool]:
    """Whether pid sleeps in a read on one of the tree's connections with
    nothing queued to read."""
    calls = READ_CALLS.get(os.uname().machine)
    state = proc_state(pid)
    if calls is None or state is None:
        return None
    call = syscall_of(pid) if state == "S" else None
    if call is None or call[0] not in calls:
        return False
    target = call[2] or ""
    ino = target[8:-1] if target.startswith("socket:[") else None
    return ino in established and established[ino][0] == 0


def look(root: int) -> Optional[Look]:
    """The tree's TCP connections now; None when ss cannot look."""
    tree = descendants(root)
    held = {pid: socket_inodes(pid) for pid in tree}
    inodes = set().union(*held.values()) if held else set()
    listening = _sockets(root, "listening", inodes)
    established = _sockets(root, "established", inodes)
    if listening is None or established is None:
        return None
    servers = [pid for pid, socks in held.items() if socks & set(listening)]
    waits = [_waits_for_peer(pid, established) for pid in servers]
    return Look(in_flight=sum(1 for _, unacked, _ in established.values() if unacked),
                moved=sum(moved for _, _, moved in established.values()),
                server_waits=None if not waits or None in waits else all(waits))


def wait_quiet(root: int, timeout: float) -> tuple:
    """Wait until the tree's connections are quiet (Look.quiet_after: nothing
    in flight, no byte moved since the look before, the server waiting for
    its peer) QUIET_LOOKS looks in a row, at most timeout seconds.
    (quiet, seconds waited, looks taken); quiet is None when ss cannot tell."""
    start, looks, calm, before = time.monotonic(), 0, 0, None
    while True:
        now = look(root)
        looks += 1
        if now is None:
            return None, time.monotonic() - start, looks
        calm = calm + 1 if now.quiet_after(before) else 0
        before = now
        waited = time.monotonic() - start
        if calm >= QUIET_LOOKS or waited >= timeout:
            return calm >= QUIET_LOOKS, waited, looks
        time.sleep(QUIET_POLL)
