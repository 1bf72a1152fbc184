"""What the page-server and lazy-pages modes share: criu helpers that
serve pages over TCP (a page server, a lazy-pages daemon, a dump that
serves its tree's memory), started in the background with the test's
identity and judged when their work is done.

Ports: a server is started without --port, so criu binds an ephemeral
port itself (its log says "Using N port" before it reports ready on
--status-fd); the client gets that port. No port is ever guessed, so
parallel tests and other runs on the host cannot collide.
"""
from __future__ import annotations

import re
import time
from typing import Optional

from ..check import check_feature
from ..outcome import PhaseFailure
from ..procs import wait_gone

ADDRESS = "127.0.0.1"
_PORT = re.compile(r"Using (\d+) port")
_UFFD = re.compile(r"UFFD transferred pages: \((\d+)/(\d+)\)")


def listening_port(helper) -> Optional[int]:
    """The port criu bound for itself (no --port given)."""
    m = _PORT.search(helper.run.log_text())
    return int(m.group(1)) if m else None


def helper_state(helper) -> str:
    """A helper's state for a message: running (and /proc's state), or its end."""
    proc = helper.proc
    if proc is None or helper.run.spawn_error:
        return helper.run.status()
    if proc.poll() is None:
        try:
            with open(f"/proc/{proc.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "?"
        return f"still running (pid {proc.pid}, state {state})"
    helper.kill()           # already ended: records its status
    return helper.run.status()


class Server:
    """One criu helper of a test: started ready, then finished and judged."""

    def __init__(self, what: str, phase: str):
        self.what, self.phase = what, phase
        self.helper = None
        self.port: Optional[int] = None

    def start(self, step, action: str, opts: list, like: str, tag: str = "", listen: bool = False):
        call = step.criu_call(action, tag=tag, opts=opts)
        self.helper = step.start_criu(action, call, like=like)
        if not self.helper.ready:
            raise PhaseFailure(self.phase, f"{self.what} did not get ready: {self.helper.run.status()}",
                               criu=self.helper.run)
        if listen:
            self.port = listening_port(self.helper)
            if self.port is None:
                self.helper.kill()
                raise PhaseFailure(self.phase, f"{self.what} said it was ready, but its log "
                                               f"{call.log} names no port it listens on", criu=self.helper.run)
        return self

    def finish(self, step, timeout: float) -> str:
        """Wait for its end (its work is done): its log, or a PhaseFailure
        naming it, its status and its log's error lines."""
        run = self.helper.finish(timeout)
        self.helper = None
        step.run.result.add_time(run.action, run.duration)
        if run.timed_out:
            raise PhaseFailure(self.phase, f"{self.what} did not exit within {timeout:g}s after its work "
                                           f"was done (killed)", criu=run)
        if not run.ok:
            raise PhaseFailure(self.phase, f"{self.what}: {run.status()}", criu=run)
        return run.log_text()

    def kill(self, result) -> list:
        """Stop it whatever it is doing (a failed test): its status and
        error lines go into the report."""
        if self.helper is None:
            return []
        helper, self.helper = self.helper, None
        state = helper_state(helper)
        helper.kill()
        result.sections.append((f"{self.what}, stopped at the end of the failed test ({state})",
                                "\n".join(helper.run.error_lines()) or "(no error lines in its log)"))
        return []


def uffd_unavailable(engine) -> Optional[str]:
    criu = engine.criu_bin or engine.resolve_criu()
    if not criu:
        return None         # the test fails on the missing criu itself
    if not check_feature(criu, "uffd"):
        return "criu check --feature uffd fails: this kernel has no userfaultfd for criu"
    if not check_feature(criu, "uffd-noncoop"):
        return "criu check --feature uffd-noncoop fails: no non-cooperative userfaultfd (fork, mremap events)"
    return None


def transferred(log: str) -> list:
    """(copied, total) pages per task, as the lazy-pages daemon's log says."""
    return [(int(a), int(b)) for a, b in _UFFD.findall(log)]


def wait_tree_gone(tree: list, reaper, timeout: float) -> list:
    """The pids of tree still there after timeout."""
    return wait_gone(tree, timeout, reaper) if tree else []


def deadline_left(t0: float, total: float) -> float:
    return max(1.0, total - (time.monotonic() - t0))
