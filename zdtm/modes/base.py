"""The C/R-mode interface: how the cycles of one test are driven.

A run has a stack of modes (zdtm.modes.active_modes): the plain cycle
(dump, restore) plus whatever the options add (--iters, --norst, --criu-ns,
...). Each mode says what it adds to criu's dump and restore, which helper
processes it starts and stops around a test, which tests it cannot run
(.desc flags), how it shows in the test id, and what it checks after each
step. The orchestrator (zdtm.cycle) and the cycle (zdtm.checkpoint) ask every
active mode at each point; a mode answers only what it cares about.

The hooks receive `step`, a zdtm.checkpoint.Step: its n (1-based iteration),
images dir, artifacts dir (step.art), the test run (step.run: desc, flavor,
driver, engine, result) and, after an action, the CriuRun.
"""
from __future__ import annotations

from typing import Optional

from ..config import Option


def switch(dest: str, help: str, **kw) -> Option:
    """A mode's on/off option, named as zdtm.py names it: --NAME on `zdtm
    run`, --zdtm-NAME for pytest (dest with - for _)."""
    flag = dest.replace("_", "-")
    return Option(dest, help, cli=(f"--{flag}",), pytest=f"--zdtm-{flag}", action="store_true", mode=True, **kw)


class Mode:
    #: the option that turns it on; also its name in messages
    name = "abstract"
    #: place in the stack (zdtm.modes.MODES): test id suffixes and criu
    #: wrappers follow it (a wrapper of a lower order runs inside a higher one)
    order = 50
    #: shown in test ids and artifact dirs: static/pipe00[uns-criu-ns]
    id_suffix = ""
    #: pytest marker of the tests run in this mode
    marker: Optional[str] = None
    description = ""
    #: zdtm.config.Option entries the mode adds to the option table
    options: tuple = ()

    # ---- what it changes in the cycle ------------------------------------------
    #: cycles per test (None: no opinion; the largest wins, default 1)
    iterations: Optional[int] = None
    #: False: dump only, never restore
    restores = True
    #: the dump leaves the tree running
    leave_running = False
    #: the restored tree gets new host pids even in the h flavor
    new_pids = False
    #: sysctls (name under /proc/sys: minimum value) the engine raises for a
    #: run in this mode and gives back after it, as CRIU's CI sets them
    host_sysctls: dict = {}
    #: the dump runs on in the background once ready (it serves the pages):
    #: the cycle calls start_dump instead of running it to its end, and
    #: restores without waiting for the dumped tree to go (the mode waits)
    dump_in_background = False

    def __init__(self, settings):
        self.settings = settings

    @classmethod
    def enabled(cls, settings) -> bool:
        """Does this run's settings turn the mode on? By default: its first
        option is given (a switch); modes with a value (--iters N) say more."""
        return bool(cls.options) and bool(settings.mode_option(cls.options[0].dest))

    # ---- before a test ----------------------------------------------------------
    def unavailable(self, engine) -> Optional[str]:
        """Why the mode cannot run on this machine at all (a kernel feature
        criu check lacks, a missing program), or None. Asked once per run
        (engine.mode_unavailable caches it): every test is then a skip with
        this reason."""
        return None

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        """Why this test cannot run in this mode (a .desc flag, a flavor), or None."""
        return None

    def incompatible(self, run) -> Optional[str]:
        """Asked once the test's identity is decided (run.driver, run.as_root):
        why the mode cannot run with it, or None."""
        return None

    def identity_note(self) -> str:
        """Appended to the test's stated identity (who runs criu, how)."""
        return ""

    def outside_ignore(self, flavor: str) -> tuple:
        """Items of the outside check this mode changes by design."""
        return ()

    # ---- criu calls -------------------------------------------------------------
    def criu_wrapper(self):
        """None, or argv, criu_bin -> argv: how every criu command is run."""
        return None

    def dump_opts(self, step) -> list:
        return []

    def restore_opts(self, step) -> list:
        return []

    def adjust_call(self, call, action: str, step) -> None:
        """Last say on a dump or restore call (a zdtm.criu.CriuCall): its
        environment (CRIU_FAULT), call.detach (--restore-sibling), ..."""

    def start_dump(self, step, call):
        """dump_in_background: start the dump (call: its CriuCall) and return
        a zdtm.criu.CriuRun, ok once the dump is ready; the mode then owns it
        (its end, its log, the dumped tree's going)."""
        raise NotImplementedError

    def retry(self, step, action: str) -> bool:
        """The action failed: should the cycle run it once more (the mode
        having changed what it adds, e.g. without the injected fault)?"""
        return False

    # ---- helper processes and checks --------------------------------------------
    def start(self, run) -> None:
        """Start what the mode needs for the whole test (a daemon)."""

    def before_dump(self, step) -> None: ...

    def after_dump(self, step) -> None:
        """Check what the dump did (raise PhaseFailure); step.criu is the run."""

    def before_restore(self, step) -> None: ...

    def after_restore(self, step) -> None: ...

    def stop(self, run) -> list:
        """Stop what start() started, whatever happened; return the problems
        (a helper that died or left something behind)."""
        return []
