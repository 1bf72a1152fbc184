"""Where a tree hangs: every task and thread of it, as /proc shows them.

Attached to a failure when a phase times out (the workload never became
ready, did not exit after SIGTERM, criu did not finish): state, wchan,
kernel stack, pending and blocked signals, the command line, and the TCP
sockets the tree holds with their queues and timers (a restored connection
that waits on a backed-off retransmit or window probe shows there).
"""
from __future__ import annotations

import os
import re
import signal

from .netns_tcp import run_in_netns, socket_inodes
from .procs import descendants, proc_state, syscall_of

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
    call = _syscall(pid, tid)
    stack = [f"      {line}" for line in _read(f"{base}/stack").strip().splitlines()[:STACK_LINES]]
    return [head] + ([f"    in {call}"] if call else []) + stack


# syscalls a stuck task is most often in, by x86_64 number, with the
# argument that names an fd (so a report says which socket or pipe it waits on)
FD_CALLS = {0: "read", 1: "write", 7: "poll", 23: "select", 44: "sendto", 45: "recvfrom", 46: "sendmsg",
            47: "recvmsg", 232: "epoll_wait", 43: "accept", 288: "accept4"}


def _syscall(pid: int, tid: int) -> str:
    """The syscall the thread sleeps in, with the file its fd argument
    names, or ""."""
    call = syscall_of(pid, tid)
    if call is None:
        return ""
    nr, fd, target = call
    name = FD_CALLS.get(nr) if os.uname().machine == "x86_64" else None
    if name is None or name in ("poll", "select", "epoll_wait"):
        return f"{name or 'syscall ' + str(nr)}()"
    return f"{name}(fd {fd}: {target or '?'})"


TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING"}
TCP_TIMERS = {0: "none", 1: "retransmit", 2: "keepalive", 3: "time-wait", 4: "window-probe"}


def _endpoint(field: str) -> str:
    addr, port = field.split(":")
    if len(addr) == 8:  # IPv4, host byte order (little endian here)
        addr = ".".join(str(int(addr[i:i + 2], 16)) for i in (6, 4, 2, 0))
    return f"{addr}:{int(port, 16)}"


def tcp_sockets(pid: int) -> list:
    """The task's TCP sockets, from /proc/PID/net/tcp{,6} (its own netns):
    state, send/receive queue bytes, the pending timer and its retries."""
    inodes = socket_inodes(pid)
    out = []
    for table in ("tcp", "tcp6"):
        for line in _read(f"/proc/{pid}/net/{table}").splitlines()[1:]:
            f = line.split()
            if len(f) < 10 or f[9] not in inodes:
                continue
            tx, rx = (int(x, 16) for x in f[4].split(":"))
            timer, when = f[5].split(":")
            out.append(f"    {table} {_endpoint(f[1])} -> {_endpoint(f[2])}: {TCP_STATES.get(int(f[3], 16), f[3])}, "
                       f"send queue {tx}, receive queue {rx}, timer {TCP_TIMERS.get(int(timer, 16), timer)} "
                       f"(due in {int(when, 16)} jiffies, {int(f[6], 16)} expired)")
    return out


def tcp_details(pid: int) -> list:
    """ss's view of the task's TCP sockets (memory, windows, out-of-order
    segments, timers), from inside its netns: what /proc/net/tcp lacks to
    tell a stalled connection's cause. [] without ss or nsenter."""
    inodes = socket_inodes(pid)
    out, keep = [], False
    for line in (run_in_netns(pid, ["ss", "-tinmeoH"]) or "").splitlines():
        if not line[:1].isspace():
            m = re.search(r"\bino:(\d+)", line)
            keep = bool(m and m.group(1) in inodes)
        if keep:
            out.append("      " + " ".join(line.split()))
    return out


# at most this many TCP counters in a report (a host netns has hundreds)
TCP_COUNTERS_MAX = 60


def tcp_counters(pid: int) -> list:
    """The task's netns TCP counters (nstat, absolute, the non-zero ones:
    drops for a full or zero window, out-of-window segments, prunes...),
    [] without nstat. A test's own netns counts from its restore on."""
    out = []
    for line in (run_in_netns(pid, ["nstat", "-as"]) or "").splitlines():
        f = line.split()
        if len(f) >= 2 and f[0].startswith(("TcpExt", "Tcp")) and f[1] != "0":
            out.append(f"{f[0]} {f[1]}")
    return out[:TCP_COUNTERS_MAX]


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
            sockets = tcp_sockets(pid)
            if sockets:
                lines += ["  TCP sockets:"] + sockets
                details = tcp_details(pid)
                if details:
                    lines += ["    ss -tinmeo:"] + details
                counters = tcp_counters(pid)
                if counters:
                    lines.append("    netns TCP counters: " + ", ".join(counters))
    return "\n".join(lines) if lines else "(no task of the tree is left)"
