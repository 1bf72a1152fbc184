"""The flavor interface: the environment a workload runs in while it is
checkpointed. A flavor prepares the place a test runs in, starts the workload
there, tells criu what it must know about that place, and takes everything
down again.
"""
from __future__ import annotations

import subprocess
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Optional


class FlavorUnavailable(Exception):
    """This flavor cannot run on this machine (a skip reason)."""


class Flavor(ABC):
    name = "abstract"
    description = ""
    #: criu restores the tree's root with the pid it had (no pid namespace
    #: of the flavor's own in between)
    same_pids_after_restore = True

    def __init__(self, engine):
        self.engine = engine

    def unavailable(self, facts) -> Optional[str]:
        """A reason this flavor cannot run here, or None."""
        return None

    def host_ids(self, uid: int, gid: int) -> tuple:
        """The host uid/gid that the workload's uid/gid are."""
        return uid, gid

    @abstractmethod
    def launch(self, argv: list, env: dict, cwd: Path, output, art: Path, drop_ids: bool = False,
               pass_fds=()) -> subprocess.Popen:
        """Start the protocol launcher; its exit 0 means "ready"."""

    def locate(self, test_pid: int) -> tuple:
        """(root of the tree criu dumps, host pid of the test process), given
        the pid the workload wrote into its pidfile."""
        return test_pid, test_pid

    def find_test(self, root: int, test_pid: int) -> Optional[int]:
        """Host pid of the test process in a restored tree rooted at root."""
        return root

    def add_external_mount(self, name: str, host_dir: Path, tell_criu: bool = True) -> None:
        raise FlavorUnavailable(f"flavor {self.name} has no mount namespace for external mounts")

    def criu_opts(self, action: str) -> list:
        """Extra criu options this flavor needs for `dump` / `restore`."""
        return []

    def criu_wrapper(self):
        """argv, criu_bin -> argv: where this test's criu runs (applied
        outermost), or None: the harness's own namespaces."""
        return None

    def upstream_env(self, env: dict, art: Path, subdir: str) -> dict:
        """env with what upstream's zdtm.py exports to a test of its tree
        (from static/ or transition/: subdir) in this flavor: without
        namespaces nothing (its binaries then run as they are)."""
        return env

    def teardown(self) -> None:
        """Remove whatever the flavor set up (called even after failures)."""
