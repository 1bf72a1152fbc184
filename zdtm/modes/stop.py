"""--stop: criu's --leave-stopped on dump and restore (as zdtm.py's --stop).

After each restore every thread of the restored tree must be stopped
(state T in /proc/PID/task/TID/stat); the harness then continues it with
SIGCONT. A dump that leaves the tree (--norst: --leave-running) must leave
it stopped too, and is continued; a dump that does not (the tree is to be
restored) leaves it stopped instead of killing it: checked, then killed, as
zdtm.py does, so the restore finds the pids free.
"""
from __future__ import annotations

import os
import signal
import time
from typing import Optional

from ..outcome import PhaseFailure
from ..procs import descendants, kill_trees, ns_pid, stopped_tasks
from .base import Mode, switch

#: criu detaches each task with a stop pending: it may take a moment to show
STOPPED_TIMEOUT = 5.0


def thread_states(root: int) -> dict:
    """{tid: state letter} of every thread of every task under root (None
    once a task is gone)."""
    states = {}
    for pid in descendants(root):
        try:
            tids = os.listdir(f"/proc/{pid}/task")
        except OSError:
            continue
        for tid in tids:
            try:
                with open(f"/proc/{pid}/task/{tid}/stat") as f:
                    data = f.read()
            except OSError:
                continue
            states[int(tid)] = data[data.rindex(")") + 2]
    return states


def not_stopped(root: int) -> dict:
    """The threads under root that are neither stopped (T) nor zombies."""
    return {tid: s for tid, s in thread_states(root).items() if s not in ("T", "Z", "X")}


def wait_stopped(root: int, timeout: Optional[float] = None) -> dict:
    """Wait until every thread under root is stopped; those that are not at the deadline."""
    deadline = time.monotonic() + (STOPPED_TIMEOUT if timeout is None else timeout)
    while True:
        left = not_stopped(root)
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.01)


def signal_tree(root: int, sig: int, spare: frozenset = frozenset()) -> None:
    """sig to every task of the tree but those whose own pid (in their pid
    namespace) is in spare."""
    for pid in descendants(root):
        if spare and ns_pid(pid) in spare:
            continue
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def stopped_by_test(root: int) -> frozenset:
    """The tasks the test itself keeps stopped (group stop, T), by their own
    pid: criu restores them stopped, and the harness must not continue them."""
    found = {ns_pid(pid) for pid in stopped_tasks(root)}
    return frozenset(found - {None})


class StopMode(Mode):
    name = "stop"
    order = 31
    id_suffix = "stop"
    marker = "stop"
    description = "criu --leave-stopped on dump and restore: the tree must be stopped, then continued"
    options = (switch("stop", "criu dump and restore with --leave-stopped: check the tree is stopped (T), "
                              "then continue it"),)

    def outside_ignore(self, flavor: str) -> tuple:
        # The harness's SIGCONT stays pending where the test blocks SIGCONT
        # (sigpending), as zdtm.py's --stop leaves it.
        return ("signals.shdpnd",)

    def before_dump(self, step) -> None:
        self.spare = stopped_by_test(step.run.root_pid)

    def dump_opts(self, step) -> list:
        return ["--leave-stopped"]

    def restore_opts(self, step) -> list:
        return ["--leave-stopped"]

    def _check_stopped(self, step, phase: str, after: str) -> None:
        root = step.run.root_pid
        left = wait_stopped(root)
        if left:
            shown = ", ".join(f"{tid} ({s})" for tid, s in sorted(left.items())[:10])
            # Don't leave it stopped for the clean-up: continue what is stopped.
            signal_tree(root, signal.SIGCONT)
            raise PhaseFailure(phase, f"--leave-stopped: {len(left)} thread(s) of the tree of {root} not "
                                      f"stopped {STOPPED_TIMEOUT:g}s after {after}: {shown}", criu=step.criu)

    def after_dump(self, step) -> None:
        run = step.run
        self._check_stopped(step, "dump", "criu dump --leave-stopped")
        if any(m.leave_running for m in run.modes):
            signal_tree(run.root_pid, signal.SIGCONT, getattr(self, "spare", frozenset()))
        else:
            # The dumped tree, stopped instead of killed: gone before the restore.
            kill_trees([run.root_pid])

    def after_restore(self, step) -> None:
        self._check_stopped(step, "restore", "criu restore --leave-stopped")
        signal_tree(step.run.root_pid, signal.SIGCONT, getattr(self, "spare", frozenset()))
