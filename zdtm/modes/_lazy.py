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

import os
import re
import threading
import time
from typing import Optional

from ..check import check_feature
from ..outcome import PhaseFailure
from ..procs import descendants, kill_trees, wait_gone
from .base import Mode

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
    rc = proc.poll()
    if rc is None:
        try:
            with open(f"/proc/{proc.pid}/stat") as f:
                state = f.read().rsplit(")", 1)[1].split()[0]
        except OSError:
            state = "?"
        return f"still running (pid {proc.pid}, state {state})"
    if helper.run.returncode is None:
        helper.run.returncode = rc
    helper.kill()           # already ended: its output and time recorded
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
            self.port = self.listening()
            if self.port is None:
                self.helper.kill()
                raise PhaseFailure(self.phase, f"{self.what} said it was ready, but its log "
                                               f"{call.log} names no port it listens on", criu=self.helper.run)
        return self

    def listening(self) -> Optional[int]:
        return listening_port(self.helper)

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


# criu's page server sizes the pipe it reads pages through (pipe_read_dest_init)
# to PIPE_MAX_SIZE pages: 819 on x86_64, which the kernel rounds up to 4 MiB.
SERVE_PIPE_BYTES = 4 << 20


def serving_unavailable(engine) -> Optional[str]:
    """Why a criu page server cannot serve lazy pages here (page-server
    --lazy-pages, dump --lazy-pages), or None."""
    try:
        with open("/proc/sys/fs/pipe-max-size") as f:
            limit = int(f.read())
    except (OSError, ValueError):
        return None
    if limit >= SERVE_PIPE_BYTES or "CAP_SYS_RESOURCE" not in engine.facts.caps_missing:
        return None
    return (f"criu's page server sizes its pipe to {SERVE_PIPE_BYTES} bytes (F_SETPIPE_SZ), above "
            f"fs.pipe-max-size ({limit}), which needs CAP_SYS_RESOURCE, missing here (see zdtm check); criu "
            f"ignores the refusal and fails serving the first page ('page-pipe: splice: -1: Bad file "
            f"descriptor'). sysctl fs.pipe-max-size={SERVE_PIPE_BYTES} lets it run")


def unprivileged_userfaultfd() -> bool:
    try:
        with open("/proc/sys/vm/unprivileged_userfaultfd") as f:
            return f.read().strip() != "0"
    except OSError:
        return True         # no such knob: the kernel does not restrict it


def transferred(log: str) -> list:
    """(copied, total) pages per task, as the lazy-pages daemon's log says."""
    return [(int(a), int(b)) for a, b in _UFFD.findall(log)]


def wait_tree_gone(tree: list, reaper, timeout: float) -> list:
    """The pids of tree still there after timeout."""
    return wait_gone(tree, timeout, reaper) if tree else []


def deadline_left(t0: float, total: float) -> float:
    return max(1.0, total - (time.monotonic() - t0))


class Watchdog(threading.Thread):
    """While the restore runs: a helper that ends with an error makes the
    restore end now (killed), rather than leave the restored tasks blocked
    in page faults until --criu-timeout; the failure then names the helper."""

    def __init__(self, helpers: list, restore_log: str):
        super().__init__(daemon=True, name="zdtm-lazy-watchdog")
        self.helpers, self.marker = [s.helper for s in helpers if s.helper], restore_log
        self.done = threading.Event()

    def run(self) -> None:
        while not self.done.wait(0.05):
            if any(h.proc is not None and h.proc.poll() not in (None, 0) for h in self.helpers):
                kill_trees(self._restores()[:1])
                return

    def _restores(self) -> list:
        found = []
        for pid in descendants(os.getpid(), include_self=False):
            try:
                with open(f"/proc/{pid}/cmdline", "rb") as f:
                    argv = f.read().split(b"\0")
            except OSError:
                continue
            if b"restore" in argv and self.marker.encode() in argv:
                found.append(pid)
        return found

    def stop(self) -> None:
        self.done.set()
        self.join()


class LazyBase(Mode):
    """The three lazy modes: a `criu lazy-pages` daemon (like a restore)
    gives the restored tree its memory through userfaultfd; the restore
    runs with --lazy-pages. Where the daemon gets the pages from is what
    differs (the images, a page server, the dump itself)."""
    lazy = True
    restores = True
    # The restored tasks open their userfaultfd themselves, inside the test's
    # user namespace in uns: CRIU's CI sets this for its lazy runs too.
    host_sysctls = {"vm/unprivileged_userfaultfd": 1}

    def __init__(self, settings):
        super().__init__(settings)
        self.helpers: list = []         # Servers of the current restore, in the order they finish
        self.watchdog: Optional[Watchdog] = None

    def unavailable(self, engine) -> Optional[str]:
        return uffd_unavailable(engine)

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if "nolazy" in desc.flags:
            return "flag nolazy: the test does not work with lazy pages"
        if flavor == "uns" and not unprivileged_userfaultfd():
            return ("vm.unprivileged_userfaultfd is 0: the restored tasks open their userfaultfd inside the "
                    "test's user namespace, without CAP_SYS_PTRACE in the initial one, and the kernel refuses "
                    "(criu: 'Unable to open an userfaultfd descriptor: Operation not permitted'; CRIU's CI sets "
                    "the sysctl to 1 for its lazy runs)")
        if self.settings.mode_option("norst"):
            return f"--{self.name} acts at the restore, and --norst never restores"
        return None

    def identity_note(self) -> str:
        return f"--{self.name}: a criu lazy-pages daemon with the restore's identity"

    def incompatible(self, run) -> Optional[str]:
        iterations = max([m.iterations for m in run.modes if m.iterations] or [1])
        if iterations > 1 and "--unprivileged" in run.driver.identity("restore", last=False)[1]:
            return ("the restores before the last run as the workload's owner with --unprivileged, and criu "
                    "--unprivileged never uses userfaultfd (kerndat skips it: the lazy-pages daemon exits 1 "
                    "without a word); run a single iteration, or the uns flavor")
        return None

    def restore_opts(self, step) -> list:
        return ["--lazy-pages"]

    def daemon_opts(self, step) -> list:
        """The lazy-pages daemon's options: where its pages come from."""
        return []

    def start_daemon(self, step) -> None:
        self.helpers.insert(0, Server("criu lazy-pages daemon", "restore").start(
            step, "lazy-pages", self.daemon_opts(step), like="restore"))
        self.watchdog = Watchdog(self.helpers, str(step.run.paths.log(f"restore-{step.n}.log")))
        self.watchdog.start()

    def unwatch(self) -> None:
        if self.watchdog is not None:
            self.watchdog.stop()
            self.watchdog = None

    def retry(self, step, action: str) -> bool:
        """A failed restore: say what became of the helpers."""
        self.unwatch()
        if action == "restore" and self.helpers:
            states = "; ".join(f"{s.what}: {helper_state(s.helper)}" for s in self.helpers if s.helper)
            raise PhaseFailure("restore", f"{step.criu.status()} (with --lazy-pages; {states})", criu=step.criu)
        return False

    def after_restore(self, step) -> None:
        """The restored tree runs: every helper must now finish its work (the
        daemon pushes the pages not yet faulted in, then exits) and exit 0."""
        self.unwatch()
        t0, total = time.monotonic(), self.settings.criu_timeout
        lines = []
        while self.helpers:
            server = self.helpers[0]
            log = server.finish(step, deadline_left(t0, total))
            self.helpers.pop(0)
            if server.what.startswith("criu lazy-pages"):
                pages = transferred(log)
                lines.append(f"iteration {step.n}: the lazy-pages daemon transferred "
                             + (", ".join(f"{a}/{b}" for a, b in pages) or "no") + " pages (per task)")
        self.finished(step, t0, total)
        step.run.result.sections.append((self.name, "\n".join(lines)))

    def finished(self, step, t0: float, total: float) -> None:
        """After the helpers ended (lazy-migrate: the dumped tree's going)."""

    def stop(self, run) -> list:
        self.unwatch()
        problems = []
        while self.helpers:
            problems += self.helpers.pop(0).kill(run.result)
        return problems


class ServedLazyBase(LazyBase):
    """The lazy modes whose pages come from a criu page server (a page-server
    --lazy-pages, or the dump itself) rather than from the images."""
    # criu's page server sizes its pipes beyond the default limit, which
    # only CAP_SYS_RESOURCE (missing here) may exceed
    host_sysctls = {**LazyBase.host_sysctls, "fs/pipe-max-size": SERVE_PIPE_BYTES}

    def unavailable(self, engine) -> Optional[str]:
        return super().unavailable(engine) or serving_unavailable(engine)
