"""--freezecg PATH:f|t: the test runs in a freezer cgroup of its own, frozen
(f) or left thawed (t) before each dump, which criu does with
--freeze-cgroup (and --manage-cgroups on dump and restore), as zdtm.py's
--freezecg. After each restore (and a --norst dump) the cgroup is thawed,
and the restored test must be in it again.

The cgroup is /sys/fs/cgroup/freezer/PATH-TEST-PID-N (PATH a name): unique
per test, harness process and checkout, removed after the test, recorded in
the run's journal (a killed run's is removed by `zdtm clean` or the next
run). The test starts in it: the harness process moves itself into it just
before the workload is launched (its launcher and everything it starts
inherit it) and back out before anything is frozen. Where criu dumps with
--unprivileged (the owner-dump identities of h and ns here), criu dumps no
cgroups: the harness then moves the restored tree back into the cgroup
itself (said in the result), and only uns (criu as root in its user
namespace) proves the restore put it back. cgroup v1's freezer
only (this host's); zdtm.py runs --freezecg without -p, a worker here runs
its tests one at a time.
"""
from __future__ import annotations

import itertools
import os
import re
import time
from pathlib import Path
from typing import Optional

from ..config import WORKLOAD_GID, WORKLOAD_UID, Option
from ..guards.cgroups import CgroupsGuard
from ..guards.tasks import LEFTOVER_GRACE
from ..outcome import PhaseFailure, Skip
from ..procs import descendants, is_descendant, proc_state, stopped_tasks, wait_gone
from .base import Mode

FREEZER = Path("/sys/fs/cgroup/freezer")
STATE_TIMEOUT = 10.0
_seq = itertools.count(1)


def _spec(value) -> tuple:
    m = re.fullmatch(r"([A-Za-z0-9_.-]+):([ft])\w*", str(value))
    if not m:
        raise ValueError(f"--freezecg {value}: expected NAME:f (frozen before the dump) or NAME:t (thawed)")
    return m.group(1), m.group(2)


def own_freezer() -> Path:
    """The freezer cgroup this process is in now."""
    with open("/proc/self/cgroup") as f:
        for line in f:
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "freezer" in controllers.split(","):
                return FREEZER / path.lstrip("/")
    raise OSError("no freezer cgroup in /proc/self/cgroup")


def move_self(cgroup: Path) -> None:
    (cgroup / "cgroup.procs").write_text(f"{os.getpid()}\n")


def set_state(cgroup: Path, state: str) -> str:
    """Write freezer.state and wait until it holds; the state it reached."""
    (cgroup / "freezer.state").write_text(state)
    deadline = time.monotonic() + STATE_TIMEOUT
    while True:
        now = (cgroup / "freezer.state").read_text().strip()
        if now == state or time.monotonic() >= deadline:
            return now
        time.sleep(0.01)


def members(cgroup: Path) -> list:
    try:
        return [int(p) for p in (cgroup / "cgroup.procs").read_text().split()]
    except OSError:
        return []


def _manage_cgroups(desc_opts: list) -> list:
    """--manage-cgroups, unless the .desc chose a mode of its own (upstream
    cgroup_ignore restores with --manage-cgroups=ignore: criu keeps the last)."""
    return [] if any(o.startswith("--manage-cgroups") for o in desc_opts) else ["--manage-cgroups"]


class FreezeCgroupMode(Mode):
    name = "freezecg"
    order = 35
    marker = "freezecg"
    description = "the test in a freezer cgroup, frozen (f) or thawed (t) before the dump (--freeze-cgroup)"
    options = (Option("freezecg", "run each test in a freezer cgroup PATH-... of its own, frozen (f) or "
                                  "thawed (t) before the dump; criu --freeze-cgroup", cli=("--freezecg",),
                      pytest="--zdtm-freezecg", type=str, metavar="PATH:f|t", mode=True, convert=_spec),)

    def __init__(self, settings):
        super().__init__(settings)
        self.prefix, self.state = settings.mode_option("freezecg") or ("", "t")
        self.cgroup: Optional[Path] = None
        self.home: Optional[Path] = None      # where the harness was, while it is in the test's cgroup


    @property
    def id_suffix(self) -> str:
        return f"freezecg-{self.state}"

    def unavailable(self, engine) -> Optional[str]:
        if not (FREEZER / "cgroup.procs").exists():
            return f"no cgroup v1 freezer hierarchy at {FREEZER} (cgroup v2's cgroup.freeze is not supported)"
        return None

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if "--cgroup-root" in desc.ropts + desc.opts:
            # criu restores the tree, and its frozen freezer state, under the
            # .desc's cgroup root (upstream cgroup02, cgroup03): not in the
            # harness's cgroup, which it checks and thaws
            return ("--freezecg: the .desc restores the test under another cgroup root (--cgroup-root), where "
                    "criu restores the freezer cgroup frozen, outside the cgroup the mode thaws and checks")
        if "crfail" in desc.flags and desc.crfail_match:
            # ptrace_crfail: 'zombie ... found while seizing' (seize.c) instead of
            # its 'Unseizable non-zombie', the same refusal on another path
            return ("crfail test with a crfail_match: with --freeze-cgroup criu refuses it while seizing "
                    "through the freezer, in other words than the .desc expects")
        return None

    def identity_note(self) -> str:
        return f"in a freezer cgroup {self.prefix}-..., {'frozen' if self.state == 'f' else 'thawed'} for the dump"

    # ---- the cgroup around the test ---------------------------------------------
    def start(self, run) -> None:
        self.cgroup = FREEZER / f"{self.prefix}-{run.workload.stem}-{os.getpid()}-{next(_seq)}"
        guard_prefix = f"zdtm-{run.workload.stem}"
        shares = CgroupsGuard().applies(run) and self.cgroup.name.startswith(guard_prefix)
        run.engine.journal.write(test=run.key, cgroup_prefix=guard_prefix if shares else self.cgroup.name)
        self.cgroup.mkdir()
        if run.driver.identity("dump")[0]:
            # criu dumping as the workload's owner freezes and thaws it itself
            os.chown(self.cgroup / "freezer.state", WORKLOAD_UID, WORKLOAD_GID)
        self.home = own_freezer()
        move_self(self.cgroup)

    def _leave(self, run=None) -> None:
        """The harness back where it was; with run (its tree started): also
        what else the harness started meanwhile (the ns flavor's holder of
        an upstream test's mount namespace), so the cgroup is the tree's."""
        if self.home is None:
            return
        move_self(self.home)
        if run is not None:
            tree = set(descendants(run.root_pid))
            for pid in members(self.cgroup):
                if pid not in tree:
                    try:
                        (self.home / "cgroup.procs").write_text(f"{pid}\n")
                    except ProcessLookupError:
                        pass
        self.home = None

    def _thaw(self, phase: str) -> None:
        if self.state == "f" and set_state(self.cgroup, "THAWED") != "THAWED":
            raise PhaseFailure(phase, f"--freezecg: {self.cgroup} did not thaw within {STATE_TIMEOUT:g}s")

    def before_dump(self, step) -> None:
        self._leave(step.run)
        if "crfail" in step.run.desc.flags:
            # criu's refusal ends the cycle with no hook after it: the tree
            # would stay frozen for its SIGTERM. Its dump is done thawed.
            step.run.result.sections.append(("--freezecg", "crfail test: dumped with the cgroup thawed (criu "
                                                           "refuses it; nothing could thaw it before its stop)"))
            return
        stopped = stopped_tasks(step.run.root_pid)
        if stopped:
            version = step.run.engine.facts.criu_version or "?"
            raise Skip(f"--freezecg: tasks {stopped[:5]} of the tree are stopped (T); a dump of a stopped task in "
                       f"a frozen cgroup (frozen before the dump, or by criu --freeze-cgroup) hangs in criu "
                       f"{version} after seizing it (its log ends at 'SEIZE ... success'; zdtm.py's --freezecg "
                       f"hangs the same way)")
        if self.state == "f":
            now = set_state(self.cgroup, "FROZEN")
            if now != "FROZEN":
                raise PhaseFailure("dump", f"--freezecg: {self.cgroup} is {now}, not FROZEN, "
                                           f"{STATE_TIMEOUT:g}s after freezing it")

    def dump_opts(self, step) -> list:
        return ["--freeze-cgroup", str(self.cgroup)] + _manage_cgroups(step.run.desc.opts + step.run.desc.dopts)

    def restore_opts(self, step) -> list:
        return _manage_cgroups(step.run.desc.opts + step.run.desc.ropts)

    def after_dump(self, step) -> None:
        if any(m.leave_running for m in step.run.modes):
            self._thaw("dump")

    def after_restore(self, step) -> None:
        self._thaw("restore")
        run = step.run
        if "--unprivileged" in run.driver.identity("dump")[1]:
            # criu --unprivileged dumps no cgroups (criu/cgroup.c: dump_cgroups
            # and dump_thread_cgroup return early), so --manage-cgroups has
            # nothing to restore: the harness puts the restored tree back.
            for pid in descendants(run.root_pid):
                try:
                    (self.cgroup / "cgroup.procs").write_text(f"{pid}\n")
                except ProcessLookupError:      # a short-lived child of a live workload
                    pass
            note = (f"criu dumped as the workload's owner (--unprivileged), which dumps no cgroups: the harness "
                    f"moved the restored tree back into {self.cgroup}")
            if ("--freezecg", note) not in run.result.sections:
                run.result.sections.append(("--freezecg", note))
            return
        if not _manage_cgroups(run.desc.opts + run.desc.ropts):
            return      # the .desc's own --manage-cgroups mode decides where the tree goes (=ignore: not back)
        inside = members(self.cgroup)
        if run.pid not in inside:
            raise PhaseFailure("restore", f"--freezecg: the restored test (pid {run.pid}) is not in {self.cgroup} "
                                          f"(its members: {inside[:10]})", criu=step.criu)

    def _members_left(self, run) -> list:
        """Live tasks of ours still in the cgroup once the test ended, given
        the moment the tasks guard gives them (a live test's last children
        may be exiting: upstream fork2, pty02)."""
        def live():
            return [p for p in members(self.cgroup) if is_descendant(p) and proc_state(p) not in (None, "Z", "X")]

        left = live()
        if left:
            wait_gone(left, LEFTOVER_GRACE, run.engine.reaper)
            left = live()
        return left

    def stop(self, run) -> list:
        if self.cgroup is None:
            return []
        problems = []
        self._leave()
        try:
            set_state(self.cgroup, "THAWED")
        except OSError:
            pass
        left = self._members_left(run)
        if left:
            if run.result.outcome == "passed":
                problems.append(f"--freezecg: tasks left in {self.cgroup}: {left[:10]}")
            for p in left:
                try:
                    os.kill(p, 9)
                except ProcessLookupError:
                    pass
            wait_gone(left, 10.0, run.engine.reaper)
        try:
            self.cgroup.rmdir()
        except FileNotFoundError:
            pass
        except OSError as e:
            problems.append(f"--freezecg: could not remove {self.cgroup}: {e.strerror} "
                            f"(members: {members(self.cgroup)[:10]})")
        self.cgroup = None
        return problems
