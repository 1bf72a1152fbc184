"""What marks a finished provisioning and keeps concurrent callers apart: the
stamp file (written atomically, last) and an ``fcntl.flock`` lock file, so
that xdist workers provisioning at once do not race."""

from __future__ import annotations

import fcntl
import json
import os
import time
from pathlib import Path

from .common import Log, ProvisionError, _atomic_write, _is_executable_file

STAMP_NAME = "criu-provisioned.json"
STAMP_FORMAT = 1
LOCK_NAME = "criu.lock"
LOCK_TIMEOUT = 1200  # s; provisioning itself takes ~10-30 s


def _stamp_path(cache_dir: Path) -> Path:
    return cache_dir / STAMP_NAME


def read_stamp(cache_dir: Path) -> dict | None:
    """The stamp of a finished provisioning whose criu binary still exists, else None."""
    try:
        data = json.loads(_stamp_path(cache_dir).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != STAMP_FORMAT:
        return None
    criu = data.get("criu")
    if not isinstance(criu, str) or not _is_executable_file(Path(criu)):
        return None
    return data


def _write_stamp(cache_dir: Path, data: dict) -> None:
    _atomic_write(_stamp_path(cache_dir), json.dumps(data, indent=2, sort_keys=True) + "\n")


class _Lock:
    """An exclusive flock of *path*, waited for at most *timeout* seconds."""

    def __init__(self, path: Path, log: Log, timeout: float = LOCK_TIMEOUT):
        self.path, self.log, self.timeout = path, log, timeout
        self.fd: int | None = None

    def __enter__(self) -> "_Lock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + self.timeout
        told = False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if not told:
                    self.log(f"provision: waiting for {self.path} (another process is provisioning)")
                    told = True
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise ProvisionError(f"lock: could not lock {self.path} within {self.timeout} s")
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None
