"""criu's statistics images (stats-dump, stats-restore) and the page-count
check every dump gets (zdtm.py's check_pages_counts).

A stats file is a service image: IMG_SERVICE_MAGIC, STATS_MAGIC, then one
entry (a 32-bit size and a stats_entry protobuf, images/stats.proto). It is
read here with the minimal protobuf reader of zdtm.images, not pycriu: the
page-count check runs after every dump of every test and must stay cheap
(one small read and one directory listing).
"""
from __future__ import annotations

import json
import mmap
import os
import struct
from pathlib import Path
from typing import Optional

from .images import _fields
from .safeio import read_bytes

IMG_SERVICE_MAGIC = 0x55105940
STATS_MAGIC = 0x57093306
PAGE_SIZE = mmap.PAGESIZE

# images/stats.proto
DUMP_FIELDS = {1: "freezing_time", 2: "frozen_time", 3: "memdump_time", 4: "memwrite_time",
               5: "pages_scanned", 6: "pages_skipped_parent", 7: "pages_written", 8: "irmap_resolve",
               9: "pages_lazy", 10: "page_pipes", 11: "page_pipe_bufs", 12: "shpages_scanned",
               13: "shpages_skipped_parent", 14: "shpages_written"}
RESTORE_FIELDS = {1: "pages_compared", 2: "pages_skipped_cow", 3: "forking_time", 4: "restore_time",
                  5: "pages_restored"}
ENTRY_FIELDS = {1: ("dump", DUMP_FIELDS), 2: ("restore", RESTORE_FIELDS)}


class StatsError(ValueError):
    """A stats file that is not one (bad magic, truncated)."""


def stats_path(images: Path, action: str) -> Path:
    return images / f"stats-{action}"


def decode(data: bytes) -> dict:
    """{"dump": {name: value}} or {"restore": {...}} from a stats file's bytes."""
    if len(data) < 12:
        raise StatsError(f"{len(data)} bytes, too short for a stats image")
    magic, kind, size = struct.unpack_from("<III", data, 0)
    if (magic, kind) != (IMG_SERVICE_MAGIC, STATS_MAGIC):
        raise StatsError(f"magic {magic:#x}/{kind:#x}, not a stats image")
    if len(data) < 12 + size:
        raise StatsError(f"entry of {size} bytes, file holds {len(data) - 12}")
    out = {}
    try:
        for number, wire, value in _fields(data[12:12 + size]):
            if number in ENTRY_FIELDS and wire == 2:
                name, names = ENTRY_FIELDS[number]
                out[name] = {names.get(n, f"field_{n}"): v for n, w, v in _fields(value) if w == 0}
    except (IndexError, ValueError, struct.error) as e:
        raise StatsError(f"bad protobuf entry: {e}") from None
    return out


def read_stats(images: Path, action: str) -> Optional[dict]:
    """The decoded stats-ACTION of an images dir; None if criu wrote none."""
    try:
        data = read_bytes(stats_path(images, action), 1 << 16)
    except FileNotFoundError:
        return None
    return decode(data)


def pages_bytes(images: Path) -> int:
    """Total size of the pages-*.img files criu wrote in images (regular
    files only: a symlink planted by whoever owns the dir is not followed)."""
    total = 0
    with os.scandir(images) as entries:
        for entry in entries:
            if entry.name.startswith("pages-") and entry.is_file(follow_symlinks=False):
                total += entry.stat(follow_symlinks=False).st_size
    return total


def has_pages_files(images: Path) -> bool:
    with os.scandir(images) as entries:
        return any(e.name.startswith("pages-") for e in entries)


def page_count_problem(images: Path, what: str) -> Optional[str]:
    """zdtm.py's check_pages_counts: the pages stats-dump says criu wrote
    (pages_written + shpages_written) must be what the pages-*.img files
    hold, a whole number of pages. None when they agree or criu wrote no
    stats-dump; else the message naming both numbers."""
    try:
        stats = read_stats(images, "dump")
    except (StatsError, OSError) as e:
        return f"page counts after {what}: {stats_path(images, 'dump')} unreadable: {e}"
    if stats is None or "dump" not in stats:
        return None
    dump = stats["dump"]
    written = dump.get("pages_written", 0) + dump.get("shpages_written", 0)
    real = pages_bytes(images)
    pages, rest = divmod(real, PAGE_SIZE)
    if written == pages and rest == 0:
        return None
    return (f"page counts mismatch after {what}: stats-dump says {written} pages written "
            f"(pages_written {dump.get('pages_written', 0)} + shpages_written {dump.get('shpages_written', 0)}), "
            f"the pages-*.img files in {images} hold {real} bytes = {pages} pages + {rest} bytes")


def show(stats: dict) -> str:
    """As `crit show` prints a stats image: its entry as JSON."""
    return json.dumps({"magic": "STATS", "entries": [stats]}, indent=4)
