"""criu drivers: who runs criu for a dump and a restore. One small interface
(zdtm.criu.base.CriuDriver), one module per way of running criu, like kirk's
backends.

  root.py   criu runs as root for dump and restore
  owner.py  criu dumps as the workload's owner, restores as root (no CAP_SYS_RESOURCE)
"""
from __future__ import annotations

from ..procs import Reaper
from .base import CriuCall, CriuDriver, CriuRun
from .owner import OwnerDumpDriver, OwnerNamespacesDriver
from .root import RootDriver

DRIVERS = {d.name: d for d in (RootDriver, OwnerDumpDriver, OwnerNamespacesDriver)}

__all__ = ["CriuCall", "CriuDriver", "CriuRun", "DRIVERS", "make_driver"]


def make_driver(name: str, criu_bin: str, timeout: float, reaper: Reaper) -> CriuDriver:
    try:
        return DRIVERS[name](criu_bin, timeout, reaper)
    except KeyError:
        raise ValueError(f"unknown criu driver '{name}' (known: {', '.join(DRIVERS)})") from None
