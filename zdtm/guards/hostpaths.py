"""Fixed paths in the host's /tmp that upstream tests make.

Some upstream tests make a directory of a fixed name in the host's /tmp from
their host stage and never remove it (mnt_ext_auto and mnt_ext_manual both
mkdir "/tmp/zdtm_ext_auto.XXXXXX", the template used as a name, and mount a
tmpfs there); zdtm.py leaves it behind too. Here every test naming such a
path in its source, .desc or hook holds a host-wide lock on the name for its
run (two tests sharing it never overlap, in any run), and what the test made
there and left is removed afterwards: it did not exist before the test, and
nothing else can have made it meanwhile.
"""
from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

from .. import hostwide
from .base import Guard

HOST_TMP = Path("/tmp")
# a fixed path under /tmp, as a C string or a .desc option names it
FIXED_PATH = re.compile(r"/tmp/([A-Za-z0-9_][A-Za-z0-9_.\-]*)")


def fixed_names(files) -> list:
    """The names directly under /tmp these files mention, sorted."""
    names = set()
    for f in files:
        try:
            names |= set(FIXED_PATH.findall(Path(f).read_text(errors="replace")))
        except OSError:
            continue
    return sorted(names)


def _test_files(workload) -> list:
    src = workload.source
    return [src] + [src.with_suffix(ext) for ext in (".desc", ".hook")]


def remove_left(path: Path) -> str:
    """Remove what a test left at path; '' or why not."""
    try:
        if os.path.ismount(path):
            return f"{path} is still a mount point"
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
    except FileNotFoundError:
        pass
    except OSError as e:
        return f"cannot remove {path}: {e.strerror}"
    return ""


class HostPathsGuard(Guard):
    name = "hostpaths"

    def applies(self, run) -> bool:
        if run.workload.kind.name != "upstream":
            return False
        self.names = fixed_names(_test_files(run.workload))
        return bool(self.names)

    def before(self, run) -> None:
        self.locks = [hostwide.lock(f"tmp-{name}") for name in self.names]
        self.existed = {name for name in self.names if os.path.lexists(HOST_TMP / name)}
        self.made: list = []

    def leftovers(self, run) -> list:
        # upstream's own harness leaves these too: removed, not a failure
        self.made = [HOST_TMP / n for n in self.names
                     if n not in self.existed and os.path.lexists(HOST_TMP / n)]
        return []

    def remove(self, run) -> list:
        failed = [why for why in map(remove_left, self.made) if why]
        removed = [str(p) for p in self.made if not os.path.lexists(p)]
        if removed:
            with open(run.paths.log("cleanup.log"), "a") as log:
                log.write("removed what the test left in the host's /tmp: " + ", ".join(removed) + "\n")
        self.made = []
        return failed

    def release(self, run) -> None:
        for f in self.locks:
            f.close()
        self.locks = []
