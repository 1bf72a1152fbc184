"""Host cgroups: a test run with criu's cgroup options (our cgroup00 and
cgroup_root00: the host has no cgroup namespace for them) makes cgroups
named zdtm-<test>...; any it leaves are reported and removed."""
from __future__ import annotations

import os
from pathlib import Path

from .base import Guard

CGROUP_ROOT = Path("/sys/fs/cgroup")
MAX_DEPTH = 5
CGROUP_OPTS = ("--manage-cgroups", "--cgroup-root", "--cgroup-props", "--cgroup-yard")


def cgroup_dirs(prefix: str) -> list:
    """Host cgroup dirs whose name starts with prefix (and what is below
    them), deepest first, so they can be removed in this order."""
    found = []
    for top, dirs, _ in os.walk(CGROUP_ROOT):
        depth = len(Path(top).relative_to(CGROUP_ROOT).parts)
        if depth >= MAX_DEPTH:
            dirs[:] = []
        for d in dirs:
            path = Path(top) / d
            if d.startswith(prefix) or any(p.startswith(prefix) for p in path.relative_to(CGROUP_ROOT).parts):
                found.append(path)
    return sorted(found, key=lambda p: -len(p.parts))


def remove_cgroups(paths) -> list:
    """rmdir each (deepest first); what could not be removed."""
    failed = []
    for p in paths:
        try:
            os.rmdir(p)
        except FileNotFoundError:
            pass
        except OSError as e:
            failed.append(f"{p} ({e.strerror})")
    return failed


class CgroupsGuard(Guard):
    name = "cgroups"

    def applies(self, run) -> bool:
        return any(o.startswith(CGROUP_OPTS) for o in run.desc.opts + run.desc.dopts + run.desc.ropts)

    def before(self, run) -> None:
        self.prefix = f"zdtm-{run.workload.stem}"
        self.before_dirs = set(cgroup_dirs(self.prefix))
        self.left: list = []
        run.engine.journal.write(test=run.key, cgroup_prefix=self.prefix)

    def leftovers(self, run) -> list:
        self.left = [p for p in cgroup_dirs(self.prefix) if p not in self.before_dirs]
        if not self.left:
            return []
        return [f"left {len(self.left)} cgroup(s) behind: " + " ".join(str(p) for p in self.left[:6])]

    def remove(self, run) -> list:
        failed = remove_cgroups(self.left)
        return [f"could not remove cgroup(s): {'; '.join(failed)}"] if failed else []
