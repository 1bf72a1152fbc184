"""C/R modes: how the cycles of a test are driven. One small interface
(zdtm.modes.base.Mode), one module per mode; a run stacks the modes its
options turn on. Adding a mode is adding one module here: MODES finds every
Mode subclass in this package, ordered by Mode.order (which also orders
the test id's suffixes and the wrappers around criu), and its options join
the option table by themselves.

  plain.py    dump, then restore (always on)
  iters.py    --iters N: N cycles per test
  norst.py    --norst: dump with --leave-running, no restore
  criu_ns.py  --criu-ns: criu through zdtm criu-ns
  (the module docstrings say what the others do: zdtm modes lists them)
"""
from __future__ import annotations

import importlib
import pkgutil

from .base import Mode

__all__ = ["MODES", "Mode", "active_modes", "mode_options", "variant_name"]


def _discover() -> tuple:
    found = []
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
        if info.name == "base" or info.name.startswith("_"):     # _name: shared code of several modes
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        found += [obj for obj in vars(module).values()
                  if isinstance(obj, type) and issubclass(obj, Mode) and obj is not Mode
                  and obj.__module__ == module.__name__]
    return tuple(sorted(found, key=lambda cls: (cls.order, cls.name)))


MODES = _discover()


def mode_options() -> list:
    return [opt for mode in MODES for opt in mode.options]


def active_modes(settings) -> list:
    return [mode(settings) for mode in MODES if mode.enabled(settings)]


def variant_name(flavor: str, modes) -> str:
    """The test id's bracket: the flavor, then each mode's suffix (uns-criu-ns)."""
    return "-".join([flavor] + [m.id_suffix for m in modes if m.id_suffix])
