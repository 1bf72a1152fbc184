"""Process bookkeeping: subreaping, bounded waits, killing and reaping trees.

The harness makes itself a child subreaper, so every workload task whose
parent exits (the protocol's launcher, criu after a detached restore) becomes
our child: we can wait for it precisely, reap it, and be sure nothing is left.
"""
from __future__ import annotations

import ctypes
import errno
import os
import select
import signal
import subprocess
import time
from typing import Iterable, Optional

PR_SET_CHILD_SUBREAPER = 36
_libc = ctypes.CDLL(None, use_errno=True)


def become_subreaper() -> None:
    if _libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_CHILD_SUBREAPER): {os.strerror(err)}")


def children(pid: int) -> list:
    """Direct children of pid (all its threads)."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except OSError:
            pass
    return out


def descendants(pid: int, include_self: bool = True) -> list:
    """pid and its descendants, parents before children."""
    seen, order, todo = set(), [], [pid]
    while todo:
        p = todo.pop(0)
        if p in seen:
            continue
        seen.add(p)
        if p != pid or include_self:
            order.append(p)
        todo.extend(children(p))
    return order


def stopped_tasks(root: int) -> list:
    """The tasks under root in group stop (state T)."""
    return [pid for pid in descendants(root) if proc_state(pid) == "T"]


def ns_pid(host_pid: int) -> Optional[int]:
    """The pid of a task in its own (innermost) pid namespace."""
    try:
        with open(f"/proc/{host_pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        return None
    return None


def proc_state(pid: int) -> Optional[str]:
    """One-letter state from /proc/PID/stat, None if the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return data[data.rindex(")") + 2]


def syscall_of(pid: int, tid: Optional[int] = None) -> Optional[tuple]:
    """(number, first argument, the file that argument names as an fd of pid
    or None) of the syscall the thread is in (/proc/PID/task/TID/syscall);
    None when it runs in user space or cannot be read."""
    try:
        with open(f"/proc/{pid}/task/{tid or pid}/syscall") as f:
            fields = f.read().split()
    except OSError:
        return None
    if len(fields) < 2 or not fields[0].isdigit():
        return None
    arg = int(fields[1], 16)
    try:
        target = os.readlink(f"/proc/{pid}/fd/{arg}")
    except (OSError, ValueError):
        target = None
    return int(fields[0]), arg, target


def _stat_field(pid: int, index: int) -> Optional[int]:
    """A numeric field of /proc/PID/stat, counted after the state letter
    (0: state... 1: ppid, 19: start time), None if the pid is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except OSError:
        return None
    return int(data[data.rindex(")") + 2:].split()[index])


def proc_ppid(pid: int) -> Optional[int]:
    return _stat_field(pid, 1)


def start_time(pid: int) -> Optional[int]:
    """The kernel's start time of pid (jiffies since boot): with the pid, it
    names a process even when pids are reused."""
    return _stat_field(pid, 19)


def is_descendant(pid: int, ancestor: Optional[int] = None) -> bool:
    """Is pid a descendant of ancestor (default: this process)? A pid read
    from a file the workload could write is dumped or killed only if so."""
    ancestor = os.getpid() if ancestor is None else ancestor
    seen = 0
    while pid and pid > 1 and seen < 4096:
        pid = proc_ppid(pid)
        if pid == ancestor:
            return True
        seen += 1
    return False


def pidfd(pid: int) -> Optional[int]:
    try:
        return os.pidfd_open(pid)
    except OSError:
        return None


def wait_child(proc, timeout: float) -> int:
    """proc.wait(timeout=...) without Popen's polling: that sleeps in steps
    doubling up to 50 ms, so a criu that ends is seen up to 50 ms late,
    twice per test. A pidfd wakes us as the child exits."""
    if proc.returncode is not None:
        return proc.returncode
    try:
        fd = os.pidfd_open(proc.pid)
    except OSError:                 # gone already (reaped) or no pidfd: Popen's way
        return proc.wait()
    try:
        if not select.select([fd], [], [], max(0.0, timeout))[0]:
            raise subprocess.TimeoutExpired(proc.args, timeout)
    finally:
        os.close(fd)
    return proc.wait()


def wait_pidfds(fds: Iterable[int], timeout: float) -> bool:
    """Wait until every pidfd signals exit; False on timeout."""
    pending = set(fds)
    deadline = time.monotonic() + timeout
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        ready, _, _ = select.select(list(pending), [], [], left)
        pending.difference_update(ready)
    return True


def reap(pid: int) -> Optional[int]:
    """Reap pid if it is our exited child; its wait status, or None."""
    try:
        res = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG)
    except ChildProcessError:
        return None
    if res is None:
        return None
    return res.si_status if res.si_code == os.CLD_EXITED else -res.si_status


class Reaper:
    """Reaps children adopted through the subreaper, never those a
    subprocess.Popen still owns (Popen would then lose the exit status)."""

    def __init__(self):
        self.owned: set = set()     # pids whose status someone else collects

    def reap_adopted(self) -> None:
        me = os.getpid()
        for pid in children(me):
            if pid in self.owned:
                continue
            if proc_state(pid) == "Z":
                reap(pid)


def wait_gone(pids: Iterable[int], timeout: float, reaper: Optional[Reaper] = None) -> list:
    """Wait until none of pids exists any more, reaping adopted zombies.
    Returns the pids still present at the deadline."""
    pids = list(pids)
    deadline = time.monotonic() + timeout
    delay = 0.0005
    while True:
        if reaper:
            reaper.reap_adopted()
        left = [p for p in pids if proc_state(p) is not None]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def kill_trees(roots: Iterable[int], sig: int = signal.SIGKILL) -> list:
    """Signal every live task under roots (children first found through
    /proc). Stopped tasks are signalled too. Only our own descendants are
    ever signalled (the harness is a subreaper: whatever it started stays
    below it). Returns the pids signalled."""
    victims = []
    for root in roots:
        if root and proc_state(root) is not None and is_descendant(root):
            victims.extend(p for p in descendants(root) if p not in victims)
    for pid in victims:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass
        except OSError as e:
            if e.errno != errno.ESRCH:
                raise
    if sig == signal.SIGKILL:
        thaw_frozen(victims)
    return victims


FREEZER_V1 = "/sys/fs/cgroup/freezer"


def thaw_frozen(pids: Iterable[int]) -> list:
    """Thaw the cgroup v1 freezer cgroups (not the root) that hold any of
    pids frozen: a frozen task never dies of its SIGKILL (a test a criu
    restore left in a frozen cgroup of its .desc's --cgroup-root, a killed
    --freezecg run). Returns the cgroups thawed."""
    thawed = []
    for pid in pids:
        if proc_state(pid) != "D":          # frozen tasks show as D
            continue
        try:
            with open(f"/proc/{pid}/cgroup") as f:
                path = next((line.split(":", 2)[2].strip() for line in f
                             if line.split(":", 2)[1] == "freezer"), "/")
        except (OSError, IndexError):
            continue
        state = os.path.join(FREEZER_V1, path.lstrip("/"), "freezer.state")
        if path == "/" or state in thawed:
            continue
        try:
            with open(state, "r+") as f:
                if f.read().strip() != "THAWED":
                    f.seek(0)
                    f.write("THAWED")
                    thawed.append(state)
        except OSError:
            continue
    return thawed
