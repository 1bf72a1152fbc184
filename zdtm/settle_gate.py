"""The settle gate: a test that must be dumped in a given state (a kind's
settle(), e.g. upstream's QUIET_TCP) is waited for at criu's pre-dump stage,
right before criu seizes the tree, not before criu starts: what comes
between (a criu-ns wrapper's Python, criu's kernel probes, ~0.1-0.4 s under
load) would let the test move on from the state waited for.

criu runs the gate's action script at each of its stages (--action-script;
over RPC the client runs it on criu's notify). At pre-dump the script
writes to the req FIFO and blocks reading the go FIFO; a thread of ours
waits for the state, then writes "go". The script runs wherever criu runs
(the test's mount namespace, a criu-ns pid namespace): it only needs the two
FIFOs in the artifacts dir, which criu's log shares.
"""
from __future__ import annotations

import errno
import os
import select
import threading
import time
from pathlib import Path
from typing import Callable

SCRIPT_NAME = "settle-gate.sh"
# how often the thread looks for the script's request or a reader on go
POLL = 0.002
# the script's only verdict: anything else read from go fails criu's dump
GO = b"go\n"


def _script(req: Path, go: Path) -> str:
    return (
        "#!/bin/sh\n"
        "# zdtm's settle gate (zdtm/settle_gate.py): at criu's pre-dump stage, just\n"
        "# before criu seizes the tree, wait for the harness to see the test settled.\n"
        '[ "$CRTOOLS_SCRIPT_ACTION" = pre-dump ] || exit 0\n'
        f"echo pre-dump > '{req}' || exit 1\n"
        f"read -r answer < '{go}' || exit 1\n"
        '[ "$answer" = go ]\n')


class SettleGate:
    """One dump's gate: script is the --action-script to give criu; wait()
    runs in a thread at each pre-dump request, and each line it returns is
    kept in notes. close() after criu is done (it never blocks on criu)."""

    def __init__(self, art: Path, wait: Callable[[], str]):
        self.req, self.go = art / "settle.req", art / "settle.go"
        for fifo in (self.req, self.go):
            if fifo.exists() or fifo.is_symlink():
                fifo.unlink()
            os.mkfifo(fifo)
            # criu may run as the test's uid (--user, owner-dump): its script
            # must open both; a "go" written early only skips the wait
            os.chmod(fifo, 0o666)
        self.script = art / SCRIPT_NAME
        self.script.write_text(_script(self.req, self.go))
        self.script.chmod(0o755)
        self.wait, self.notes, self.errors = wait, [], []
        # read-write: never at EOF, whoever opens or closes the other end
        self._req_fd = os.open(self.req, os.O_RDWR | os.O_NONBLOCK)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="zdtm-settle-gate", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([self._req_fd], [], [], 0.05)
                if not ready or not os.read(self._req_fd, 4096):
                    continue
                try:
                    self.notes.append(self.wait())
                finally:
                    self._answer()
        except Exception as e:         # noqa: BLE001 - kept for the log; criu then fails the dump, not hangs
            self.errors.append(f"settle gate: {type(e).__name__}: {e}")

    def _answer(self) -> None:
        """go to the script, once it has the FIFO open (or until close())."""
        while not self._stop.is_set():
            try:
                fd = os.open(self.go, os.O_WRONLY | os.O_NONBLOCK)
            except OSError as e:
                if e.errno != errno.ENXIO:      # ENXIO: no reader yet
                    raise
                time.sleep(POLL)
                continue
            try:
                os.write(fd, GO)
            finally:
                os.close(fd)
            return

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        os.close(self._req_fd)
        for path in (self.req, self.go):
            try:
                path.unlink()
            except FileNotFoundError:
                pass
