"""A test's outside peer (the .desc key `peer`): a program beside the test
that the harness runs as root, outside the test's tree, while the test runs,
as a system service (D-Bus) or a container runtime would be there: what the
test connects to, or what provides the test's namespaces with a device.

It starts right after the workload is launched (in ns/uns once the flavor's
init exists, whose host pid it gets as ZDTM_TEST_PID), with ZDTM_WORK_DIR
(the test's work dir, its cwd) and ZDTM_FLAVOR, and must print one line
"ready" on its stdout once it serves; its stderr goes to peer.log in the
artifacts. At the end of the test (once the test's tasks are gone) it gets
SIGTERM and must exit 0, having undone what it made; anything else fails the
test (phase cleanup) with its log. Its cwd is the work dir, so that a run
killed outright still has it ended by the next run's clean-up (zdtm.journal).
"""
from __future__ import annotations

import os
import select
import signal
import subprocess
import time
from pathlib import Path
from typing import Optional

from . import hostwide
from .kinds.base import Hooks
from .outcome import PhaseFailure

READY_LINE = b"ready\n"
STOP_TIMEOUT = 10.0
# Until the ns flavors' init exists (the peer may enter its namespaces).
INIT_POLL = 0.01


class PeerHooks(Hooks):
    present = True

    def __init__(self, program: Path, work: Path, flavor: str, reaper, wrapped: Hooks):
        self.program, self.work, self.flavor, self.reaper = program, work, flavor, reaper
        self.wrapped = wrapped          # the kind's own hooks still run
        self.proc: Optional[subprocess.Popen] = None
        self.log: Optional[Path] = None
        self.host_links = None          # the host-wide lock, for a peer adding host links

    def call(self, stage: str, *, root_pid, log: Path, timeout: float, images: Optional[Path] = None) -> None:
        if stage == "post-start":
            self._start(root_pid, log.with_name("peer.log"), timeout)
        if self.wrapped.present or stage != "clean":
            self.wrapped.call(stage, root_pid=root_pid, log=log, timeout=timeout, images=images)
        if stage == "clean":
            self._stop()

    def _start(self, root_pid, log: Path, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        pid = root_pid()
        while pid is None and self.flavor != "h" and time.monotonic() < deadline:
            time.sleep(INIT_POLL)
            pid = root_pid()
        env = dict(os.environ, ZDTM_WORK_DIR=str(self.work), ZDTM_FLAVOR=self.flavor)
        if pid:
            env["ZDTM_TEST_PID"] = str(pid)
        self.log = log
        if hostwide.ADDS_HOST_LINKS.search(self.program.read_bytes()):
            self.host_links = hostwide.lock(hostwide.HOST_LINKS)
        with open(log, "ab") as err:
            try:
                self.proc = subprocess.Popen([str(self.program)], cwd=self.work, env=env, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.PIPE, stderr=err, start_new_session=True)
            except OSError as e:
                raise PhaseFailure("start", f"peer {self.program} could not be started: {e}") from None
        self.reaper.owned.add(self.proc.pid)
        said = b""
        while not said.endswith(b"\n") and time.monotonic() < deadline and self.proc.poll() is None:
            if select.select([self.proc.stdout], [], [], max(0.0, deadline - time.monotonic()))[0]:
                chunk = os.read(self.proc.stdout.fileno(), 256)
                if not chunk:
                    break
                said += chunk
        if said != READY_LINE:
            why = f"said {said!r}" if said else "said nothing"
            self._stop(check=False)
            raise PhaseFailure("start", f"peer {self.program.name} did not become ready ({why}, "
                                        f"expected 'ready'): {self._tail()}")

    def _stop(self, check: bool = True) -> None:
        proc, self.proc = self.proc, None
        if proc is None:
            self._release_host_links()
            return
        proc.stdout.close()
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
        try:
            rc = proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            rc = None
        try:        # what it forked and left (its own session)
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        if rc is None:
            rc = proc.wait()
        self.reaper.owned.discard(proc.pid)
        self._release_host_links()      # its links went with it
        if check and rc != 0:
            how = f"exited with {rc}" if rc > 0 else f"was killed by {signal.Signals(-rc).name}"
            raise PhaseFailure("cleanup", f"peer {self.program.name} {how} when told to stop: {self._tail()}")

    def _release_host_links(self) -> None:
        if self.host_links is not None:
            self.host_links.close()
            self.host_links = None

    def _tail(self) -> str:
        try:
            lines = self.log.read_text(errors="replace").strip().splitlines()
        except OSError:
            lines = []
        return " | ".join(lines[-3:]) or f"nothing in {self.log}"


def hooks_for(run) -> Hooks:
    """The test's hooks: its kind's, with its peer around them if it has one."""
    if not run.desc.peer:
        return run.hooks
    program = run.workload.source.parent / run.desc.peer
    if not os.access(program, os.X_OK):
        raise PhaseFailure("desc", f"{run.desc.path}: 'peer' names {program}, which is not an executable file")
    return PeerHooks(program, run.paths.work, run.flavor_name, run.engine.reaper, run.hooks)
