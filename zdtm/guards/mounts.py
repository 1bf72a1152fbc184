"""Mounts: nothing may stay mounted under the test's artifacts or work dir
(criu's cgroup yard, a test's tmpfs)."""
from __future__ import annotations

import ctypes

from .base import Guard, in_upstream_ct, warn

MNT_DETACH = 2


def mountpoints() -> list:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


def unmount(path: str) -> None:
    ctypes.CDLL(None, use_errno=True).umount2(path.encode(), MNT_DETACH)


class MountsGuard(Guard):
    name = "mounts"

    def _under_test(self, run) -> list:
        dirs = [str(d) for d in (run.paths.art, run.paths.work)]
        return [m for m in mountpoints() if any(m == d or m.startswith(d + "/") for d in dirs)]

    def leftovers(self, run) -> list:
        mounts = self._under_test(run)
        if mounts and in_upstream_ct(run):     # cgroup_ignore keeps its cgroup2 mount busy (an open fd)
            warn(run, f"left mounts behind (zdtm.py's mount namespace would drop them; unmounted): "
                      f"{' '.join(mounts)}")
            return []
        return [f"left mounts behind: {' '.join(mounts)}"] if mounts else []

    def remove(self, run) -> list:
        for m in reversed(self._under_test(run)):
            unmount(m)
        left = self._under_test(run)
        return [f"could not unmount: {' '.join(left)}"] if left else []
