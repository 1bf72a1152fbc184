"""criu drivers: how the harness invokes criu for a dump and a restore.

One small interface, one module per way of running criu (like kirk's
backends). The driver decides *who* runs criu and with which extra options;
the cycle decides *when*.
"""
from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

from ..procs import Reaper


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
    #: a terminal master whose slave becomes criu's stdin and controlling
    #: tty (restore --shell-job inherits criu's terminal)
    tty_slave: Optional[int] = None


class CriuDriver(ABC):
    name = "abstract"
    #: one line for `zdtm check` and the per-test result
    description = ""

    def __init__(self, criu_bin: str, timeout: float, reaper: Reaper, criu_ns: bool = False):
        self.criu_bin = criu_bin
        self.timeout = timeout
        self.reaper = reaper
        self.criu_ns = criu_ns

    def prepare_dir(self, path: Path) -> None:
        """Make path usable by whoever runs criu (images, logs)."""
        path.mkdir(parents=True, exist_ok=True)

    @abstractmethod
    def dump(self, pid: int, call: CriuCall, leave_running: bool = False) -> CriuRun: ...

    @abstractmethod
    def restore(self, call: CriuCall, pidfile: Path, last: bool = True) -> CriuRun:
        """last: no dump of the restored tree follows (drivers may care)."""

    # helpers for subclasses
    def _dump_argv(self, pid: int, call: CriuCall, leave_running: bool) -> list:
        argv = [self.criu_bin, "dump", "--tree", str(pid), "--images-dir", str(call.images),
                "--log-file", str(call.log), "-v4"]
        if leave_running:
            argv.append("--leave-running")
        return argv + list(call.opts)

    def _restore_argv(self, call: CriuCall, pidfile: Path) -> list:
        return [self.criu_bin, "restore", "--images-dir", str(call.images), "--log-file", str(call.log),
                "-v4", "--restore-detached", "--pidfile", str(pidfile)] + list(call.opts)

    def _through_criu_ns(self, argv: list) -> list:
        """The same command with our criu-ns wrapper in front of criu: the
        wrapper (root) handles the namespaces, then runs whatever ran criu
        before (setpriv ... criu) with the rest of the arguments."""
        i = argv.index(self.criu_bin)
        return [sys.executable, "-m", "zdtm.criu_ns", "--criu-cmd", shlex.join(argv[:i + 1]), *argv[i + 1:]]

    def _run(self, action: str, argv: list, log: Path, env: Optional[dict] = None,
             tty_slave: Optional[int] = None) -> CriuRun:
        if self.criu_ns:
            argv = self._through_criu_ns(argv)
        run = CriuRun(action, argv, log)
        stdin = subprocess.DEVNULL
        if tty_slave is not None:
            # A new session whose controlling terminal is the slave.
            argv = ["setsid", "--ctty"] + argv
            stdin = tty_slave
        start = time.monotonic()
        try:
            proc = subprocess.Popen(argv, stdin=stdin, stdout=subprocess.PIPE,
                                    stderr=subprocess.STDOUT, env=env or _criu_env(), text=True,
                                    errors="replace")
        except OSError as e:
            run.spawn_error = f"{argv[0]}: {e.strerror}"
            return run
        self.reaper.owned.add(proc.pid)
        try:
            run.output, _ = proc.communicate(timeout=self.timeout)
        except subprocess.TimeoutExpired:
            run.timed_out = True
            proc.kill()
            run.output, _ = proc.communicate()
        except BaseException:       # interrupted: never leave criu running
            proc.kill()
            proc.wait()
            raise
        finally:
            self.reaper.owned.discard(proc.pid)
        run.returncode = proc.returncode
        run.duration = time.monotonic() - start
        return run


def _criu_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ZDTM_")}
    env.setdefault("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return env


def make_driver(name: str, criu_bin: str, timeout: float, reaper: Reaper, criu_ns: bool = False) -> CriuDriver:
    from .owner import OwnerDumpDriver, OwnerNamespacesDriver
    from .root import RootDriver
    drivers = {d.name: d for d in (RootDriver, OwnerDumpDriver, OwnerNamespacesDriver)}
    try:
        return drivers[name](criu_bin, timeout, reaper, criu_ns)
    except KeyError:
        raise ValueError(f"unknown criu driver '{name}' (known: {', '.join(drivers)})") from None
