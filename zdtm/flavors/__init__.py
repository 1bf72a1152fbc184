"""Flavors: the environment a workload runs in while it is checkpointed.

One small interface, one module per flavor. A flavor prepares the place a
test runs in, starts the workload there, tells criu what it must know about
that place, and takes everything down again.
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

    def unavailable(self, facts) -> Optional[str]:
        """A reason this flavor cannot run here, or None."""
        return None

    @abstractmethod
    def launch(self, argv: list, env: dict, cwd: Path, output) -> subprocess.Popen:
        """Start the protocol launcher; its exit 0 means "ready"."""

    def criu_opts(self, action: str) -> list:
        """Extra criu options this flavor needs for `dump` / `restore`."""
        return []

    def teardown(self) -> None:
        """Remove whatever the flavor set up (called even after failures)."""


def get_flavor(name: str) -> Flavor:
    from .host import HostFlavor
    flavors = {f.name: f for f in (HostFlavor,)}
    try:
        return flavors[name]()
    except KeyError:
        raise FlavorUnavailable(f"flavor '{name}' is not implemented yet") from None


IMPLEMENTED = ("h",)
