"""Root touching files in places the workload uid can write.

The harness runs as root; the workload's work dir (its output file, its
pidfile) and, during an owner dump, the images dir belong to uid 18943. A
name there may be a planted symlink: root opens such files only with
O_NOFOLLOW, checks they are regular files, and reads a bounded amount.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

READ_LIMIT = 16 << 20


class UnsafeFile(OSError):
    """Not a regular file of its own (a symlink, a fifo, a device)."""


def open_nofollow(path: Path, flags: int = os.O_RDONLY, mode: int = 0o644) -> int:
    """open() that never follows a symlink in the last component and only
    returns a regular file."""
    fd = os.open(path, flags | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK, mode)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise UnsafeFile(f"{path}: not a regular file")
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: Path, limit: int = READ_LIMIT) -> bytes:
    """The last `limit` bytes of a regular file (raises OSError otherwise)."""
    fd = open_nofollow(path)
    try:
        size = os.fstat(fd).st_size
        if size > limit:
            os.lseek(fd, size - limit, os.SEEK_SET)
        chunks = []
        while True:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)[-limit:]
    finally:
        os.close(fd)


def read_text(path: Path, limit: int = READ_LIMIT) -> str:
    return read_bytes(path, limit).decode(errors="replace")


def create_exclusive(path: Path, mode: int = 0o644) -> int:
    """A new file (never an existing name, never through a symlink)."""
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, mode)


def check_trusted_dir(path: Path, what: str) -> None:
    """Raise PermissionError unless path and its ancestors are safe for root
    to keep executables and caches in: owned by root (this euid), writable by
    no one else (an ancestor writable by others must be sticky, as /var/tmp)."""
    me = os.geteuid()
    p = Path(path).absolute()
    for i, d in enumerate([p, *p.parents]):
        try:
            st = os.lstat(d)
        except FileNotFoundError:
            continue
        problem = None
        if stat.S_ISLNK(st.st_mode) and i == 0:
            problem = "is a symlink"
        elif st.st_uid not in (0, me):
            problem = f"is owned by uid {st.st_uid}"
        elif st.st_mode & 0o022 and (i == 0 or not st.st_mode & stat.S_ISVTX):
            problem = f"is writable by others (mode {stat.S_IMODE(st.st_mode):o})"
        if problem:
            where = "" if d == p else f" (its ancestor {d})"
            raise PermissionError(f"{what} {p}{where} {problem}: root would run or trust what others put "
                                  f"there; remove it or choose another (ZDTM_DIR / --zdtm-dir, ZDTM_CACHE_DIR)")
