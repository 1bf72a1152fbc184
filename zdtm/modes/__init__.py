"""C/R modes: how the cycles of a test are driven. One small interface
(zdtm.modes.base.Mode), one module per mode; a run stacks the modes its
options turn on. Adding a mode is one module plus a line in MODES (its
options join the option table by themselves).

  plain.py    dump, then restore (always on)
  iters.py    --iters N: N cycles per test
  norst.py    --norst: dump with --leave-running, no restore
  criu_ns.py  --criu-ns: criu through zdtm criu-ns
"""
from __future__ import annotations

from .base import Mode
from .criu_ns import CriuNsMode
from .iters import IterationsMode
from .norst import NoRestoreMode
from .plain import PlainMode

MODES = (PlainMode, IterationsMode, NoRestoreMode, CriuNsMode)

__all__ = ["MODES", "Mode", "active_modes", "mode_options", "variant_name"]


def mode_options() -> list:
    return [opt for mode in MODES for opt in mode.options]


def active_modes(settings) -> list:
    return [mode(settings) for mode in MODES if mode.enabled(settings)]


def variant_name(flavor: str, modes) -> str:
    """The test id's bracket: the flavor, then each mode's suffix (uns-criu-ns)."""
    return "-".join([flavor] + [m.id_suffix for m in modes if m.id_suffix])
