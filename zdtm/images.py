"""criu images written by the workload's owner and restored by root.

With the owner-dump identity criu dumps as uid 18943 into a dir that uid
owns, and root's criu then restores from it: any uid-18943 process could
edit the images in between (the credentials in core-*.img, say) and have
root create a task with them. Before a root restore the images are copied
(never through a symlink) into a root-owned dir that nobody else can write,
and the credentials each core image asks for are compared with those the
harness saw the task run with before the dump.
"""
from __future__ import annotations

import os
import shutil
import stat
import struct
from pathlib import Path

from .outcome import PhaseFailure
from .safeio import open_nofollow

IMG_COMMON_MAGIC = 0x54564319
CORE_MAGIC = 0x55053847
# Field numbers of images/core.proto and images/creds.proto.
CORE_THREAD_CORE, THREAD_CORE_CREDS = 5, 10
CREDS_FIELDS = {1: "uid", 2: "gid", 3: "euid", 4: "egid", 5: "suid", 6: "sgid", 7: "fsuid", 8: "fsgid",
                9: "cap_inh", 10: "cap_prm", 11: "cap_eff", 14: "groups", 19: "cap_amb"}
REPEATED = {"cap_inh", "cap_prm", "cap_eff", "groups", "cap_amb"}


def seal(images: Path) -> None:
    """Replace images (a dir the owner wrote) by a root-owned copy nobody
    else can write. A symlink, a subdir or any other non-regular file in it
    is refused: criu writes none."""
    staging = images.with_name(images.name + ".owner")
    os.rename(images, staging)
    images.mkdir(mode=0o755)
    try:
        for entry in os.scandir(staging):
            st = entry.stat(follow_symlinks=False)
            if not stat.S_ISREG(st.st_mode):
                raise PhaseFailure("restore", f"the owner's images dir {images} holds {entry.name}, which is "
                                              f"not a regular file: refused before a root restore")
            src = open_nofollow(Path(entry.path))
            try:
                dst = os.open(images / entry.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                try:
                    with os.fdopen(src, "rb", closefd=False) as fsrc, os.fdopen(dst, "wb", closefd=False) as fdst:
                        shutil.copyfileobj(fsrc, fdst, 1 << 20)
                finally:
                    os.close(dst)
            finally:
                os.close(src)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


# ---- a minimal protobuf reader: just what the credential check needs ------------
def _varint(buf: bytes, i: int) -> tuple:
    value = shift = 0
    while True:
        b = buf[i]
        i += 1
        value |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return value, i


def _fields(buf: bytes):
    """(field number, value) pairs; length-delimited values as bytes."""
    i = 0
    while i < len(buf):
        key, i = _varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(buf, i)
        elif wire == 2:
            n, i = _varint(buf, i)
            value, i = buf[i:i + n], i + n
        elif wire == 5:
            value, i = struct.unpack_from("<I", buf, i)[0], i + 4
        elif wire == 1:
            value, i = struct.unpack_from("<Q", buf, i)[0], i + 8
        else:
            raise ValueError(f"unsupported protobuf wire type {wire}")
        yield number, wire, value


def _sub(buf: bytes, number: int):
    for n, wire, value in _fields(buf):
        if n == number and wire == 2:
            return value
    return None


def _creds(buf: bytes) -> dict:
    out = {name: [] for name in REPEATED}
    for n, wire, value in _fields(buf):
        name = CREDS_FIELDS.get(n)
        if name is None:
            continue
        if name in REPEATED:
            if wire == 2:              # packed
                i, packed = 0, value
                while i < len(packed):
                    v, i = _varint(packed, i)
                    out[name].append(v)
            else:
                out[name].append(value)
        else:
            out[name] = value
    return out


def core_creds(path: Path):
    """The credentials a core-TID.img asks for, or None (a zombie has none)."""
    data = path.read_bytes()
    magic, kind = struct.unpack_from("<II", data, 0)
    if magic != IMG_COMMON_MAGIC or kind != CORE_MAGIC:
        raise ValueError(f"{path.name}: not a criu core image")
    size = struct.unpack_from("<I", data, 8)[0]
    core = data[12:12 + size]
    thread_core = _sub(core, CORE_THREAD_CORE)
    creds = _sub(thread_core, THREAD_CORE_CREDS) if thread_core is not None else None
    return _creds(creds) if creds is not None else None


def _caps(words: list) -> int:
    return sum(w << (32 * i) for i, w in enumerate(words))


def _mismatch(creds: dict, seen: dict) -> str:
    """What the image asks for beyond what the task had, or ''."""
    uids = [creds[k] for k in ("uid", "euid", "suid", "fsuid")]
    gids = [creds[k] for k in ("gid", "egid", "sgid", "fsgid")]
    if " ".join(map(str, uids)) != seen.get("uid"):
        return f"uids {uids}, the task ran with {seen.get('uid')}"
    if " ".join(map(str, gids)) != seen.get("gid"):
        return f"gids {gids}, the task ran with {seen.get('gid')}"
    if sorted(creds["groups"]) != sorted(int(g) for g in seen.get("groups", "").split()):
        return f"groups {creds['groups']}, the task ran with {seen.get('groups')}"
    for key in ("cap_inh", "cap_prm", "cap_eff", "cap_amb"):
        have = int(seen.get(key.replace("_", ""), "0") or "0", 16)
        if _caps(creds[key]) & ~have:
            return f"{key} {_caps(creds[key]):#x}, the task had {have:#x}"
    return ""


def check_creds(images: Path, before) -> None:
    """Every core image asks for the credentials its task had (before: the
    outside check's snapshot, taken just before the dump)."""
    by_tid = {}
    for task in before.tasks:
        for th in task.threads:
            by_tid[th.vtid] = task.creds
    for path in sorted(images.glob("core-*.img")):
        tid = int(path.stem.split("-", 1)[1])
        try:
            creds = core_creds(path)
        except (ValueError, IndexError, struct.error) as e:
            raise PhaseFailure("restore", f"{path}: unreadable core image before a root restore: {e}") from None
        if creds is None:
            continue
        seen = by_tid.get(tid)
        if seen is not None:
            problem = _mismatch(creds, seen)
        else:
            # A task born after the look (a live workload forks): it may ask
            # for what some task of the tree had, nothing more.
            problems = [_mismatch(creds, c) for c in {id(c): c for c in by_tid.values()}.values()]
            problem = "" if "" in problems else (problems[0] if problems else "credentials of an unknown tree")
        if problem:
            raise PhaseFailure("restore", f"{path.name} asks for {problem}: the images were changed after the "
                                          f"dump; refused before a root restore")
