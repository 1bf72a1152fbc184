"""The engine: session-wide state shared by every test of a run.

Both front doors (the pytest plugin and `zdtm run`, which is pytest) create
one Engine per process; it finds criu, checks the machine once, and runs a
test through the C/R cycle.
"""
from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Optional

from . import check, hostwide
from .build import Builder
from .config import Settings
from .criu import CriuDriver, make_driver
from .procs import Reaper, become_subreaper
from .provision import ProvisionError, find_criu
from .journal import NullJournal, live_runs, open_journal, reap_dead_runs
from .safeio import check_trusted_dir
from .suite import Suite


KEEP_FAILED_HOURS = 24


def _failed_recently(run: Path) -> bool:
    """The run has a failed test and ended less than KEEP_FAILED_HOURS ago."""
    report = run / "report.json"
    try:
        if time.time() - report.stat().st_mtime > KEEP_FAILED_HOURS * 3600:
            return False
        tests = json.loads(report.read_text()).get("tests", [])
    except (OSError, ValueError):
        return False
    return any(t.get("outcome") in ("failed", "error") for t in tests)


class Engine:
    @classmethod
    def from_settings(cls, settings: Settings, log=None) -> "Engine":
        """The engine of a run: its suite is desc/suite.yaml (or the one the
        settings name) plus the upstream trees they add."""
        suite = Suite.load(settings.suite_file)
        for tree in settings.upstream:
            suite.add_upstream(tree)
        return cls(settings, suite, log)

    def __init__(self, settings: Settings, suite: Suite, log=None):
        self.settings = settings
        self.suite = suite
        self.log = log or (lambda msg: None)
        self.reaper = Reaper()
        self.builder = Builder(settings.state_dir)
        self._facts: Optional[check.MachineFacts] = None
        self._drivers: dict = {}
        self.criu_bin: Optional[str] = None
        self.criu_error: Optional[str] = None
        self._session_started = False
        self.journal = NullJournal()
        self._mode_checks: dict = {}
        self.plan: list = []        # zdtm.plan.PlanLine: set by the plugin for --plan

    # ---- machine ---------------------------------------------------------
    def resolve_criu(self) -> Optional[str]:
        if self.criu_bin or self.criu_error:
            return self.criu_bin
        try:
            # root runs the provisioned criu from the cache dir
            check_trusted_dir(self.settings.cache_dir, "the cache dir")
        except PermissionError as e:
            self.criu_error = str(e)
            return None
        try:
            self.criu_bin = str(find_criu(self.settings.criu_bin, self.settings.cache_dir,
                                          install=self.settings.install_criu, log=self.log))
        except ProvisionError as e:
            self.criu_error = str(e)
        return self.criu_bin

    def suite_features(self) -> list:
        names = {line.requires for line in self.plan if line.requires}
        for w in self.suite.workloads:
            try:
                names.update(w.load_desc().features)
            except Exception:   # a broken .desc is reported by its own test
                pass
        return sorted(names)

    @property
    def facts(self) -> check.MachineFacts:
        if self._facts is None:
            criu = self.resolve_criu()
            self._facts = check.cached_gather(self.settings.state_dir, criu, self.suite_features(),
                                              self.settings.identity, self.criu_error)
        return self._facts

    def driver(self, name: str) -> CriuDriver:
        if name not in self._drivers:
            self._drivers[name] = make_driver(name, self.criu_bin, self.settings.criu_timeout, self.reaper)
        return self._drivers[name]

    def mode_unavailable(self, mode) -> Optional[str]:
        """mode.unavailable(self), asked once per run and mode (zdtm.modes.base)."""
        if mode.name not in self._mode_checks:
            reason = mode.unavailable(self)
            self._mode_checks[mode.name] = f"--{mode.name}: {reason}" if reason else None
        return self._mode_checks[mode.name]

    def identity_for(self, suid: bool, flavor: str = "h", nouser: bool = False) -> check.Identity:
        return check.identity(self.facts.strategy, suid, flavor, nouser)

    # ---- run directories ---------------------------------------------------
    def start_session(self) -> None:
        """Process-wide set-up needed before the first test (once)."""
        if self._session_started:
            return
        become_subreaper()
        # root runs what is built there: nobody else may have made or own it
        check_trusted_dir(self.settings.state_dir, "the state dir")
        self.settings.make_dir(self.settings.state_dir)
        self.journal = open_journal(self.settings.state_dir, self.run_dir)
        self._session_started = True

    HUGEPAGES = 20      # as upstream's zdtm.py sets them for its run (maps09, memfd02-hugetlb, ...)

    def host_sysctls(self, modes=()) -> dict:
        """The sysctls this run needs at least ({name under /proc/sys: value}):
        upstream's huge pages, and what the C/R modes ask for (the lazy-pages
        modes' vm/unprivileged_userfaultfd and fs/pipe-max-size, as CRIU's CI
        sets them)."""
        wanted = {}
        if any(r.kind == "upstream" for r in self.suite.roots):
            wanted["vm/nr_hugepages"] = self.HUGEPAGES
        for mode in modes:
            for name, value in mode.host_sysctls.items():
                wanted[name] = max(value, wanted.get(name, value))
        return wanted

    def raise_sysctls(self, wanted: dict) -> list:
        """Raise each sysctl to at least its value for the run; the value
        before the first run that raised it is kept host-wide (runs overlap),
        for the last run to give back. Returns what it changed, as lines."""
        changed = []
        for name, value in sorted(wanted.items()):
            path = Path("/proc/sys") / name
            try:
                with hostwide.lock("sysctl"):
                    now = int(path.read_text())
                    if now < value:
                        orig = self._sysctl_orig(name)
                        if not orig.exists():
                            orig.write_text(f"{now}\n")
                        path.write_text(f"{value}\n")
                        changed.append(f"{name.replace('/', '.')} {now} -> {value} for this run")
            except (OSError, ValueError):
                pass
        return changed

    def release_sysctls(self) -> None:
        """The last run gives back what runs raised."""
        try:
            with hostwide.lock("sysctl"):
                if self.other_live_runs():
                    return
                for orig in hostwide.host_dir().glob("sysctl.*.orig"):
                    name = orig.name[len("sysctl."):-len(".orig")].replace(".", "/")
                    (Path("/proc/sys") / name).write_text(orig.read_text())
                    orig.unlink()
        except (OSError, ValueError):
            pass

    @staticmethod
    def _sysctl_orig(name: str) -> Path:
        return hostwide.host_dir() / f"sysctl.{name.replace('/', '.')}.orig"

    def other_live_runs(self) -> list:
        """Run dirs of the other zdtm runs active on this host now."""
        return sorted({r["run_dir"] for r in live_runs()} - {str(self.run_dir)})

    def end_session(self) -> None:
        """This process ran its last test: its journal has nothing to undo."""
        self.journal.close()

    def new_run_dir(self) -> Path:
        runs = self.settings.make_dir(self.settings.state_dir / "runs")
        stamp = time.strftime("%Y%m%d-%H%M%S")
        run = runs / f"{stamp}-{os.getpid()}"
        self.settings.make_dir(run)
        latest = runs / "latest"
        tmp = runs / f".latest-{os.getpid()}"
        if tmp.is_symlink():
            tmp.unlink()
        tmp.symlink_to(run.name)
        os.replace(tmp, latest)
        self._prune_runs(runs)
        return run

    def _prune_runs(self, runs: Path) -> None:
        """Keep the newest ZDTM_KEEP_RUNS runs (default 10), with their work
        dirs; never a run still going (another zdtm on this state dir), nor
        one with failed tests from the last KEEP_FAILED_HOURS (their artifacts
        are what someone will look at, and a loop of small runs would bury them)."""
        keep = max(1, int(os.environ.get("ZDTM_KEEP_RUNS", "10")))
        old = sorted(p for p in runs.iterdir() if p.is_dir() and not p.is_symlink())[:-keep or None]
        live = {r.get("run_dir") for r in live_runs()}
        for run in old:
            if str(run) in live or _failed_recently(run):
                continue
            shutil.rmtree(run, ignore_errors=True)
            shutil.rmtree(self.settings.state_dir / "w" / run.name, ignore_errors=True)

    @property
    def run_dir(self) -> Path:
        if self.settings.run_dir is None:
            self.settings.run_dir = self.new_run_dir()
        return self.settings.run_dir

    def clean(self, everything: bool = False) -> list:
        """Undo what killed runs left (any state dir), then remove this state
        dir's runs, work dirs and builds; what a live run uses stays."""
        removed = reap_dead_runs()
        state = self.settings.state_dir
        live = [r for r in live_runs() if Path(r["state_dir"]) == state]
        keep = {Path(r["run_dir"]).name for r in live}
        targets = [d for sub in ("runs", "w") if (state / sub).is_dir()
                   for d in (state / sub).iterdir() if d.name not in keep and d.name != "latest"]
        if not live:
            targets.append(state / "build")
            targets += list(state.glob("check-*.json"))
            if everything:
                targets.append(self.settings.cache_dir)
        elif everything:
            removed.append(f"kept {self.settings.cache_dir} and {state / 'build'}: "
                           f"{len(live)} live run(s) use them")
        for t in targets:
            if t.is_dir() and not t.is_symlink():
                shutil.rmtree(t)
            elif t.exists() or t.is_symlink():
                t.unlink()
            else:
                continue
            removed.append(f"removed {t}")
        return removed
