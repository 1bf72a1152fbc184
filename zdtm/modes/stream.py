"""--stream: criu's images go through criu-image-streamer, as zdtm.py does.

Before each dump a streamer `capture`s (its stdout, a pipe, copied by `cat`
into img.stream in the images dir); criu dumps with --stream into the
streamer's socket; the streamer must then exit 0. The page counts are
checked on what `extract` gives back from img.stream (inventory.img then
removed, so only the stream can be restored); before the restore a streamer
`serve`s img.stream (`cat` feeding it) and criu restores with --stream; it
must exit 0 after. Each streamer waits for "socket-init" on its
--progress-fd before criu starts (serve and extract first print the image
statistics line), runs with the identity of the criu it serves (the owner's
for an owner dump, so that criu may connect to its socket) and logs into
img-streamer-ACTION-N.log in the artifacts.

criu-image-streamer is not packaged by Debian: it is looked for in
--criu-image-streamer-dir, then PATH; without it every test is a skip
naming it.
"""
from __future__ import annotations

import os
import select
import shutil
import subprocess
import time
from pathlib import Path
from typing import Optional

from .. import stats
from ..config import Option
from ..outcome import PhaseFailure
from ..procs import kill_trees
from .base import Mode, switch

STREAMER = "criu-image-streamer"
STREAM_FILE = "img.stream"           # zdtm.py's STREAMED_IMG_FILE_NAME
#: run-ci-tests.sh excludes them: hugetlb mappings are not premapped, the
#: restore reads their pages later, the streamer has closed the stream (EPIPE)
HUGETLB_TESTS = ("maps09", "maps10")


class StreamerError(Exception):
    pass


class Streamer:
    """One criu-image-streamer run (capture, serve or extract) and its `cat`."""

    def __init__(self, binary: str, action: str, images: Path, log: Path, prefix: list):
        self.binary, self.action, self.images, self.log, self.prefix = binary, action, images, log, prefix
        self.procs: list = []
        self.stats_line = ""

    def start(self, timeout: float) -> None:
        read_end, write_end = os.pipe()
        stream = self.images / STREAM_FILE
        argv = [*self.prefix, self.binary, "--images-dir", str(self.images), "--progress-fd", str(write_end),
                self.action]
        try:
            with open(self.log, "ab") as log:
                if self.action == "capture":
                    streamer = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                                stderr=log, pass_fds=(write_end,))
                    self.procs.append(streamer)
                    with open(stream, "wb") as out:
                        self.procs.append(subprocess.Popen(["cat"], stdin=streamer.stdout, stdout=out, stderr=log))
                    streamer.stdout.close()
                else:
                    cat = subprocess.Popen(["cat", str(stream)], stdout=subprocess.PIPE, stderr=log)
                    self.procs.append(cat)
                    self.procs.append(subprocess.Popen(argv, stdin=cat.stdout, stdout=subprocess.DEVNULL,
                                                       stderr=log, pass_fds=(write_end,)))
                    cat.stdout.close()
        except OSError as e:
            os.close(read_end)
            self.kill()
            raise StreamerError(f"{STREAMER} ({self.action}) could not be started: {e}") from None
        finally:
            os.close(write_end)
        try:
            self._handshake(read_end, timeout)
        finally:
            os.close(read_end)

    def _handshake(self, fd: int, timeout: float) -> None:
        lines = _Lines(fd, time.monotonic() + timeout)
        if self.action in ("serve", "extract"):
            self.stats_line = lines.next() or ""       # the image statistics
        if self.action in ("capture", "serve"):
            line = lines.next()
            if line != "socket-init":
                self.kill()
                said = f"said {line!r}" if line else (
                    "said nothing within {:g}s".format(timeout) if lines.timed_out else "closed its progress fd")
                raise StreamerError(f"{STREAMER} ({self.action}) is not starting: it {said}; "
                                    f"{self.status()}{self.log_tail()}")

    def wait(self, timeout: float) -> Optional[str]:
        """None once every process of it exited 0; else what went wrong."""
        try:
            for proc in self.procs:
                proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            return f"{STREAMER} ({self.action}) did not exit within {timeout:g}s and was killed{self.log_tail()}"
        bad = [p for p in self.procs if p.returncode]
        if bad:
            return f"{STREAMER} ({self.action}) failed: {self.status()}{self.log_tail()}"
        return None

    def status(self) -> str:
        return ", ".join(f"{os.path.basename(p.args[0] if p.args[0] == 'cat' else self.binary)} "
                         + ("running" if p.returncode is None else f"exited with {p.returncode}")
                         for p in self.procs)

    def log_tail(self) -> str:
        try:
            lines = [l for l in self.log.read_text(errors="replace").splitlines() if l.strip()]
        except OSError:
            lines = []
        return f"; its log {self.log}: " + " | ".join(lines[-5:]) if lines else ""

    def alive(self) -> bool:
        return any(p.poll() is None for p in self.procs)

    def kill(self) -> None:
        live = [p for p in self.procs if p.poll() is None]
        if live:
            kill_trees([p.pid for p in live])
        for p in self.procs:
            p.wait()


class _Lines:
    """Lines from the streamer's progress fd, each awaited until a deadline."""

    def __init__(self, fd: int, deadline: float):
        self.fd, self.deadline, self.buf, self.timed_out = fd, deadline, b"", False

    def next(self) -> Optional[str]:
        while b"\n" not in self.buf:
            left = self.deadline - time.monotonic()
            ready = select.select([self.fd], [], [], max(left, 0))[0] if left > 0 else []
            if not ready:
                self.timed_out = True
                return None
            chunk = os.read(self.fd, 4096)
            if not chunk:
                return self.buf.decode(errors="replace").strip() or None
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.decode(errors="replace").strip()


def find_streamer(directory: Optional[str]) -> Optional[str]:
    if directory:
        path = Path(directory) / STREAMER
        if os.access(path, os.X_OK):
            return str(path.resolve())
    return shutil.which(STREAMER)


class StreamMode(Mode):
    name = "stream"
    order = 95
    id_suffix = "stream"
    marker = "stream"
    description = "criu's images streamed through criu-image-streamer (capture, serve)"
    options = (
        switch("stream", "dump and restore through criu-image-streamer (--stream)"),
        Option("criu_image_streamer_dir", "with --stream: the directory of the criu-image-streamer binary "
               "(default: PATH)", cli=("--criu-image-streamer-dir",), pytest="--zdtm-criu-image-streamer-dir",
               metavar="DIR", mode=True),
    )

    def __init__(self, settings):
        super().__init__(settings)
        self.binary = find_streamer(settings.mode_option("criu_image_streamer_dir"))
        self.streamer: Optional[Streamer] = None

    def unavailable(self, engine) -> Optional[str]:
        where = self.settings.mode_option("criu_image_streamer_dir")
        if not self.binary:
            return (f"{STREAMER} not found ({'not in ' + where + ' nor' if where else 'not'} on PATH; Debian does "
                    f"not package it: build it from its repository and give --criu-image-streamer-dir DIR)")
        try:
            res = subprocess.run([self.binary, "--version"], stdin=subprocess.DEVNULL, capture_output=True,
                                 text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"{self.binary} --version: {e}"
        if res.returncode:
            return f"{self.binary} --version exited with {res.returncode}: {(res.stdout + res.stderr).strip()[:200]}"
        return None

    def incompatible(self, run) -> Optional[str]:
        chained = [m.name for m in run.modes if m.name in ("pre", "snaps")]
        if chained:
            return (f"not combined with --{chained[0]}: the pre-iterations' images would have to be streamed "
                    f"too, which this harness does not do")
        if run.workload.name.rsplit("/", 1)[-1] in HUGETLB_TESTS:
            return ("hugetlb mappings are restored after the stream is closed (EPIPE), as CRIU's CI "
                    "excludes them (run-ci-tests.sh, test_stream)")
        return None

    # ---- dump: capture, then extract for the page counts ---------------------------
    def before_dump(self, step) -> None:
        self._start(step, "capture", "dump")

    def dump_opts(self, step) -> list:
        return ["--stream"]

    def after_dump(self, step) -> None:
        self._finish(step, "dump")
        self._start(step, "extract", "dump")
        self._finish(step, "dump")
        problem = stats.page_count_problem(step.images, f"criu dump {step.n} (extracted from the stream)")
        try:
            os.unlink(step.images / "inventory.img")    # only the stream can be restored
        except FileNotFoundError:
            pass
        if problem:
            raise PhaseFailure("dump", problem)

    # ---- restore: serve --------------------------------------------------------------
    def before_restore(self, step) -> None:
        self._start(step, "serve", "restore")

    def restore_opts(self, step) -> list:
        return ["--stream"]

    def after_restore(self, step) -> None:
        self._finish(step, "restore")

    # ---- the streamer ------------------------------------------------------------------
    def _start(self, step, action: str, phase: str) -> None:
        run = step.run
        like = "restore" if action == "serve" else "dump"
        prefix, _ = run.driver.identity(like, step.last)
        log = run.paths.log(f"img-streamer-{action}-{step.n}.log")
        self.streamer = Streamer(self.binary, action, step.images, log, list(prefix))
        try:
            self.streamer.start(run.settings.criu_timeout)
        except StreamerError as e:
            self.streamer = None
            raise PhaseFailure(phase, str(e)) from None

    def _finish(self, step, phase: str) -> None:
        streamer, self.streamer = self.streamer, None
        if streamer is None:
            return
        problem = streamer.wait(step.run.settings.criu_timeout)
        if problem:
            raise PhaseFailure(phase, f"{problem} (after criu {phase} {step.n})")

    def stop(self, run) -> list:
        streamer, self.streamer = self.streamer, None
        if streamer is None or not streamer.alive():
            return []
        streamer.kill()
        if run.result.phase:        # the test failed already (criu did): the streamer waited in vain
            return []
        return [f"{STREAMER} ({streamer.action}) was still running at the end of the test: killed"]
