"""The criu-driver interface: how the harness invokes criu for a dump and a
restore. The driver decides *who* runs criu and with which extra options;
the C/R mode decides *what* is asked of criu; the cycle decides *when*.
"""
from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..diagnose import tree_report
from ..procs import Reaper, kill_trees, wait_child


@dataclass
class CriuRun:
    action: str
    argv: list
    log: Path
    returncode: Optional[int] = None     # negative: killed by that signal
    duration: float = 0.0
    timed_out: bool = False
    output: str = ""
    spawn_error: Optional[str] = None
    exec_cmd_process: Optional[object] = None   # Popen of criu turned --exec-cmd
    hang: str = ""          # where criu's tree was when it timed out (zdtm.diagnose)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out and not self.spawn_error

    @property
    def crashed(self) -> bool:
        """Killed by a signal it did not ask for (not a clean refusal)."""
        return self.timed_out or bool(self.spawn_error) or (self.returncode or 0) < 0

    def status(self) -> str:
        if self.spawn_error:
            return f"criu {self.action} could not be started: {self.spawn_error}"
        if self.timed_out:
            return f"criu {self.action} timed out after {self.duration:.0f}s and was killed"
        if self.returncode is not None and self.returncode < 0:
            try:
                name = signal.Signals(-self.returncode).name
            except ValueError:
                name = f"signal {-self.returncode}"
            return f"criu {self.action} was killed by {name}"
        return f"criu {self.action} exited with {self.returncode}"

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def error_lines(self, limit: int = 8) -> list:
        """The first lines of criu's log that say what went wrong."""
        lines = [l for l in self.log_text().splitlines()
                 if re.search(r"\bError\b|\bError \(", l) and "RLIMIT_NOFILE" not in l]
        if not lines:
            lines = [l for l in self.output.splitlines() if l.strip()]
        return lines[:limit]

    def command_line(self) -> str:
        return " ".join(self.argv)


@dataclass
class CriuCall:
    """What the cycle asks of a driver; drivers add who/how."""
    images: Path
    log: Path
    opts: list = field(default_factory=list)
    #: a terminal slave to be criu's stdin and controlling tty (restore
    #: --shell-job hands criu's terminal to the tree)
    tty_slave: Optional[int] = None
    #: fds criu inherits (restore --inherit-fd fd[N]:...)
    pass_fds: tuple = ()
    #: restore --exec-cmd: criu execs this after restoring, as the tree's parent
    exec_cmd: list = field(default_factory=list)
    pidfile: Optional[Path] = None
    #: argv -> argv, applied last (a C/R mode's wrapper, e.g. criu-ns)
    wrappers: list = field(default_factory=list)
    #: extra environment for criu (a mode's CRIU_FAULT)
    env: dict = field(default_factory=dict)
    #: restore --restore-detached (off for --restore-sibling and --exec-cmd)
    detach: bool = True
    #: the driver made the call's files for whoever runs it (prepare_call)
    prepared: bool = False


class CriuDriver(ABC):
    name = "abstract"
    #: one line for `zdtm check` and the per-test result
    description = ""

    def __init__(self, criu_bin: str, timeout: float, reaper: Reaper):
        self.criu_bin = criu_bin
        self.timeout = timeout
        self.reaper = reaper

    def prepare_dir(self, path: Path) -> None:
        """Make path usable by whoever runs criu (images, logs)."""
        path.mkdir(parents=True, exist_ok=True)

    # ---- who runs criu: what a driver decides -----------------------------------
    @abstractmethod
    def identity(self, like: str, last: bool = True) -> tuple:
        """(argv prefix, extra criu options) for an action run the way this
        driver runs a dump (like="dump": also pre-dump, page-server, dedup)
        or a restore (like="restore": also lazy-pages). last: no dump of the
        restored tree follows."""

    def untrusted_images(self, last: bool) -> bool:
        """Were the images written by the workload's owner, and will root
        restore them? Then the cycle seals and checks them first."""
        return False

    def prepare_call(self, call: CriuCall, like: str, last: bool = True) -> None:
        """Make the call's files usable by whoever runs it (an owner's log)."""

    def _prepare(self, call: CriuCall, like: str, last: bool) -> None:
        if not call.prepared:
            self.prepare_call(call, like, last)
            call.prepared = True

    # ---- the actions ------------------------------------------------------------
    def dump(self, pid: int, call: CriuCall, leave_running: bool = False) -> CriuRun:
        return self.action("dump", call, ["--tree", str(pid)] + (["--leave-running"] if leave_running else []))

    def restore(self, call: CriuCall, last: bool = True) -> CriuRun:
        """criu writes the restored root's pid to call.pidfile."""
        # --exec-cmd makes criu itself the restored tree's parent, which
        # criu refuses to combine with --restore-detached.
        detach = ["--restore-detached"] if call.detach and not call.exec_cmd else []
        self._prepare(call, "restore", last)
        return self.action("restore", call, detach + ["--pidfile", str(call.pidfile)], like="restore",
                           last=last)

    def action(self, action: str, call: CriuCall, args: list = (), like: Optional[str] = None,
               last: bool = True) -> CriuRun:
        """Run `criu ACTION` to its end with this driver's identity for `like`
        (default: the action itself)."""
        return self._run(action, self.command(action, call, args, like, last), call)

    def start(self, action: str, call: CriuCall, args: list = (), like: str = "dump",
              last: bool = True) -> "CriuHelper":
        """Start `criu ACTION` in the background (a page server, a lazy-pages
        daemon, a dump that serves its pages): returns once criu reports it
        is ready on its --status-fd, or has failed."""
        read_end, write_end = os.pipe()
        try:
            argv = self.command(action, call, list(args) + ["--status-fd", str(write_end)], like, last)
            for wrap in call.wrappers:
                argv = wrap(argv, self.criu_bin)
            helper = CriuHelper(CriuRun(action, argv, call.log), self.reaper)
            helper.spawn(argv, call, write_end)
        finally:
            os.close(write_end)
        try:
            helper.wait_ready(read_end, self.timeout)
        finally:
            os.close(read_end)
        return helper

    def command(self, action: str, call: CriuCall, args: list = (), like: Optional[str] = None,
                last: bool = True) -> list:
        like = like or action
        self._prepare(call, like, last)
        prefix, extra = self.identity(like, last)
        return [*prefix, self.criu_bin, action, "--images-dir", str(call.images), "--log-file", str(call.log),
                "-v4", *args, *call.opts, *extra]

    def _run(self, action: str, argv: list, call: CriuCall) -> CriuRun:
        for wrap in call.wrappers:
            argv = wrap(argv, self.criu_bin)
        if call.exec_cmd:
            argv = argv + ["--", *call.exec_cmd]
        run = CriuRun(action, argv, call.log)
        stdin = subprocess.DEVNULL
        if call.tty_slave is not None:
            # A new session whose controlling terminal is the slave.
            argv = ["setsid", "--ctty"] + argv
            stdin = call.tty_slave
        out_path = call.log.with_name(call.log.name + ".out")
        start = time.monotonic()
        try:
            with open(out_path, "w") as out:
                proc = subprocess.Popen(argv, stdin=stdin, stdout=out, stderr=subprocess.STDOUT,
                                        env=_criu_env(call.env), pass_fds=call.pass_fds)
        except OSError as e:
            run.spawn_error = f"{argv[0]}: {e.strerror}"
            return run
        self.reaper.owned.add(proc.pid)
        try:
            if call.exec_cmd:
                # criu becomes the command once the tree is restored: done
                # when it has written the pidfile and exec'd the command
                # (criu writes the pidfile before its last restore steps:
                # until the exec, the tree's parent is still criu).
                run.returncode = _wait_for_exec(proc, call.pidfile, call.exec_cmd[0], self.timeout)
                run.exec_cmd_process = proc
            else:
                run.returncode = wait_child(proc, self.timeout)
        except subprocess.TimeoutExpired:
            run.timed_out = True
            run.hang = tree_report([proc.pid])
            _kill(proc)
        except BaseException:       # interrupted: never leave criu (or what it started) running
            _kill(proc)
            raise
        finally:
            if proc.returncode is not None:
                self.reaper.owned.discard(proc.pid)
        if run.returncode is None:
            run.returncode = proc.returncode
        run.duration = time.monotonic() - start
        run.output = out_path.read_text(errors="replace")
        return run


def _kill(proc: subprocess.Popen) -> None:
    kill_trees([proc.pid])
    proc.wait()


def _execd(pid: int, command: str) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/exe") == os.path.realpath(command)
    except OSError:
        return False


def _wait_for_exec(proc, path: Optional[Path], command: str, timeout: float) -> Optional[int]:
    deadline = time.monotonic() + timeout
    delay = 0.001
    while True:
        if path is not None and path.exists() and path.stat().st_size > 0 and _execd(proc.pid, command):
            return 0
        rc = proc.poll()
        if rc is not None:
            return rc
        if time.monotonic() > deadline:
            raise subprocess.TimeoutExpired(proc.args, timeout)
        time.sleep(delay)
        delay = min(delay * 2, 0.02)


def _criu_env(extra: Optional[dict] = None) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZDTM_")}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    env.update(extra or {})
    return env


class CriuHelper:
    """A criu started in the background (zdtm.criu.base.CriuDriver.start):
    ready once it wrote "\\0" to its --status-fd; finish() waits for its end
    and judges it, kill() ends it whatever it is doing."""

    def __init__(self, run: CriuRun, reaper: Reaper):
        self.run = run
        self.reaper = reaper
        self.proc: Optional[subprocess.Popen] = None
        self._t0 = time.monotonic()

    def spawn(self, argv: list, call: CriuCall, status_fd: int) -> None:
        out_path = call.log.with_name(call.log.name + ".out")
        try:
            with open(out_path, "w") as out:
                self.proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                             env=_criu_env(call.env), pass_fds=(*call.pass_fds, status_fd))
        except OSError as e:
            self.run.spawn_error = f"{argv[0]}: {e.strerror}"
            return
        self.reaper.owned.add(self.proc.pid)

    def wait_ready(self, status_read: int, timeout: float) -> bool:
        """True once criu said it is ready; False (run.returncode set) if it
        ended or said nothing within timeout (then it is killed)."""
        if self.proc is None:
            return False
        ready, _, _ = select.select([status_read], [], [], timeout)
        if ready and os.read(status_read, 1) == b"\0":
            return True
        if not ready:
            self.run.timed_out = True
            self.run.hang = tree_report([self.proc.pid])
        self.kill()
        return False

    @property
    def ready(self) -> bool:
        return self.proc is not None and not self.run.timed_out and self.run.returncode is None

    def finish(self, timeout: float) -> CriuRun:
        """Wait for criu to end by itself (its work is done): its CriuRun."""
        if self.proc is not None and self.run.returncode is None:
            try:
                self.run.returncode = wait_child(self.proc, timeout)
            except subprocess.TimeoutExpired:
                self.run.timed_out = True
                self.run.hang = tree_report([self.proc.pid])
                self.kill()
            self._done()
        return self.run

    def kill(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            _kill(self.proc)
            if self.run.returncode is None and not self.run.timed_out:
                self.run.returncode = self.proc.returncode
        self._done()

    def _done(self) -> None:
        if self.proc is not None and self.proc.returncode is not None:
            self.reaper.owned.discard(self.proc.pid)
        self.run.duration = time.monotonic() - self._t0
        out = self.run.log.with_name(self.run.log.name + ".out")
        try:
            self.run.output = out.read_text(errors="replace")
        except OSError:
            pass
