"""Flavors: one small interface (zdtm.flavors.base.Flavor), one module per
flavor.

  host.py  h: the harness's own namespaces
  ns.py    ns and uns: new namespaces under an init (nsinit.c), uns adding a user namespace
"""
from __future__ import annotations

from .base import Flavor, FlavorUnavailable
from .host import HostFlavor
from .ns import NamespaceFlavor, UserNamespaceFlavor

FLAVOR_CLASSES = {f.name: f for f in (HostFlavor, NamespaceFlavor, UserNamespaceFlavor)}

__all__ = ["FLAVOR_CLASSES", "Flavor", "FlavorUnavailable", "get_flavor"]


def get_flavor(name: str, engine) -> Flavor:
    try:
        return FLAVOR_CLASSES[name](engine)
    except KeyError:
        raise FlavorUnavailable(f"unknown flavor '{name}'") from None
