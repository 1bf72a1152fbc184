"""Tasks: every task the test started is killed and reaped; one still
running after a passing test ended (a helper it forgot) fails it."""
from __future__ import annotations

import os
import time

from ..procs import children, descendants, kill_trees, proc_state, wait_gone
from .base import Guard

# Set in the environment of upstream's hooks (kinds/upstream.py) to the
# test's artifacts dir: what a hook forks and leaves running carries it.
HOOK_ENV = "ZDTM_HOOK_OF"
LEFTOVER_GRACE = 1.0      # for what exits by itself: a pseudo-init, a helper told to stop
GONE_TIMEOUT = 10.0
_DEAD = (None, "Z", "X")


def _hook_daemon(pid: int, art: str) -> bool:
    """Is pid a task an upstream hook of this test left (its environment
    says so)? Upstream's zdtm.py runs its tests and their hooks in the pid
    namespace of zdtm_ct, which ends them all: netns_lock_*'s --post-start
    hook leaves a TCP server "closed when zdtm sends SIGKILL"."""
    try:
        with open(f"/proc/{pid}/environ", "rb") as f:
            env = f.read()
    except OSError:
        return False
    return f"{HOOK_ENV}={art}".encode() in env.split(b"\0")


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


class TasksGuard(Guard):
    name = "tasks"

    def before(self, run) -> None:
        self.children_before = set(children(os.getpid()))

    def _ours(self, run) -> tuple:
        """(live tasks of the test, our children it added: roots too)."""
        reaper = run.engine.reaper
        # An upstream hook's daemon is the hook's: it may serve the --clean
        # hook, which runs after this guard and ends it (UpstreamHook).
        art = str(run.paths.art)
        extra = [p for p in children(os.getpid()) if p not in self.children_before and p not in reaper.owned
                 and not _hook_daemon(p, art)]
        alive = [p for root in run.roots + extra if root and proc_state(root) not in _DEAD
                 for p in descendants(root) if proc_state(p) not in _DEAD]
        return alive, extra

    def leftovers(self, run) -> list:
        if run.result.outcome != "passed":
            return []           # a failed test's tasks are simply killed
        deadline = time.monotonic() + LEFTOVER_GRACE
        while self._ours(run)[0] and time.monotonic() < deadline:
            run.engine.reaper.reap_adopted()
            time.sleep(0.01)
        alive = sorted(set(self._ours(run)[0]))
        if not alive:
            return []
        return [f"left {len(alive)} task(s) running after it ended: "
                + ", ".join(f"{p} ({_comm(p)})" for p in alive[:10])]

    def remove(self, run) -> list:
        reaper = run.engine.reaper
        reaper.reap_adopted()
        _, extra = self._ours(run)
        killed = kill_trees(run.roots + extra)
        left = wait_gone(set(run.roots + extra + killed), GONE_TIMEOUT, reaper)
        for p in list(reaper.owned):
            if proc_state(p) is None:
                reaper.owned.discard(p)
        return [f"tasks still present after SIGKILL: {left}"] if left else []
