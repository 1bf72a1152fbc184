"""Rootless criu: every action (dump, restore, and what modes run like them)
as the workload's uid with --unprivileged, its privileges coming only from
file capabilities on a private copy of the criu binary (upstream's CI:
`setcap cap_checkpoint_restore,cap_sys_ptrace+eip criu/criu`, then criu run
by an unprivileged user). No ambient or inherited capabilities: setpriv
leaves root's ids with an empty inheritable set, and the kernel clears the
rest at the uid change, so what criu has is what its file says.

Root never restores these images, so they are not sealed or checked.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from ..config import WORKLOAD_GID, WORKLOAD_GROUPS, WORKLOAD_UID
from ..safeio import create_exclusive
from .base import CriuCall, CriuDriver

#: upstream's file capabilities for rootless criu
FILE_CAPS = ("cap_checkpoint_restore", "cap_sys_ptrace")
#: added where root's bounding set is not full: criu's restorer trims the
#: restored task's bounding set to the dumped one (criu/pie/restorer.c), which
#: needs CAP_SETPCAP even for a capability already gone
TRIM_CAP = "cap_setpcap"
CAP_BND_FULL_BITS = 41      # CAP_CHECKPOINT_RESTORE is 40


def bounding_set_full() -> bool:
    with open("/proc/self/status") as f:
        bnd = next(int(line.split()[1], 16) for line in f if line.startswith("CapBnd:"))
    return bnd & ((1 << CAP_BND_FULL_BITS) - 1) == (1 << CAP_BND_FULL_BITS) - 1


def file_caps() -> tuple:
    return FILE_CAPS if bounding_set_full() else FILE_CAPS + (TRIM_CAP,)


def private_criu(builder, criu_bin: str) -> Path:
    """A copy of criu_bin with the rootless file capabilities, in the build
    cache (made once; the provisioned binary is never touched)."""
    from ..build import BuildError, digest
    st = os.stat(criu_bin)
    caps = ",".join(file_caps()) + "+eip"
    key = "criu-rootless-" + digest(os.path.realpath(criu_bin), st.st_size, st.st_mtime_ns, caps)

    def make(tmp: Path) -> None:
        dest = tmp / "criu"
        shutil.copy(criu_bin, dest)
        res = subprocess.run(["setcap", caps, str(dest)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=30)
        if res.returncode != 0:
            raise BuildError(f"setcap {caps} on a copy of criu failed: {res.stdout.strip()}", res.stdout)

    return builder.build_once(key, make) / "criu"


class RootlessDriver(CriuDriver):
    name = "rootless"
    description = (f"criu runs as uid {WORKLOAD_UID} for dump and restore (--unprivileged), with only the "
                   f"file capabilities of a private copy of criu")

    def prepare_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, WORKLOAD_UID, WORKLOAD_GID)

    def identity(self, like: str, last: bool = True) -> tuple:
        prefix = ["setpriv", f"--reuid={WORKLOAD_UID}", f"--regid={WORKLOAD_GID}",
                  "--groups=" + ",".join(map(str, WORKLOAD_GROUPS)), "--inh-caps=-all"]
        return prefix, ["--unprivileged"]

    def prepare_call(self, call: CriuCall, like: str, last: bool = True) -> None:
        """criu's log in root's artifacts dir is made for the uid (the dir
        stays root's); a restore's pidfile goes into the uid's images dir."""
        fd = create_exclusive(call.log)
        os.fchown(fd, WORKLOAD_UID, WORKLOAD_GID)
        os.close(fd)
        if like == "restore":
            call.pidfile = call.images / "restore.pid"
