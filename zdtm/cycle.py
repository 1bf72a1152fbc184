"""One test in one flavor, in the run's C/R modes: the orchestrator.

    desc -> preflight -> build -> start -> C/R cycles -> stop -> verdict -> guards

Each step lives in its own module (zdtm.preflight, the workload kind,
zdtm.process, zdtm.checkpoint with zdtm.modes, zdtm.guards); this class
holds what they share about the test and turns whatever happens into one
TestResult. Every phase is bounded; whatever happens, everything the test
started is killed and reaped before run() returns, and the artifacts dir
says what happened (criu command lines and logs, the workload's output,
result.json).
"""
from __future__ import annotations

import os
import time
from dataclasses import asdict
from typing import Optional

from . import action_script, crit_report, extpeer, hostwide, process
from .artifacts import TestPaths
from .build import BuildError
from .checkpoint import CheckpointRestore
from .config import WORKLOAD_GID, WORKLOAD_UID
from .criu import CriuRun
from .desc import DescError
from .flavors import FlavorUnavailable
from .guards import guards_for
from .modes import active_modes, variant_name
from .outcome import PhaseFailure, Skip, TestResult
from .preflight import preflight, source_mentions
from .workload import Workload

__all__ = ["PhaseFailure", "Skip", "TestResult", "TestRun"]


class TestRun:
    __test__ = False        # not a pytest test class, whatever its name
    def __init__(self, engine, workload: Workload, flavor_name: str, modes: Optional[list] = None):
        self.engine = engine
        self.settings = engine.settings
        self.workload = workload
        self.flavor_name = flavor_name
        self.modes = active_modes(engine.settings) if modes is None else modes
        variant = variant_name(flavor_name, self.modes)
        self.result = TestResult(workload.name, variant)
        self.key = f"{workload.name}[{variant}]"
        self.paths = TestPaths(engine.run_dir, engine.settings.state_dir, workload.name, variant, workload.stem)
        self.hooks = workload.kind.hooks(workload)
        # Decided by preflight: the flavor object, who runs the workload and criu.
        self.desc = None
        self.flavor = None
        self.driver = None
        self.as_root = self.drop_ids = False
        self.owner = (WORKLOAD_UID, WORKLOAD_GID)
        self.kind_criu_opts: list = []
        # The tree: pids whose trees belong to this test, the one criu dumps.
        self.roots: list = []
        self.pid: Optional[int] = None          # host pid of the test process
        self.root_pid: Optional[int] = None     # host pid of the tree criu dumps
        self.test_ns_pid: Optional[int] = None  # the pid the workload wrote
        # What the .desc's criu options need from the harness.
        self.tty_fds: list = []
        self.inherit: Optional[tuple] = None    # (workload's read end, write end, criu's read end)
        self.exec_cmd_procs: list = []
        self.guards: list = []
        self._locks: list = []

    # ---- the orchestration ------------------------------------------------------
    def run(self) -> TestResult:
        r = self.result
        t0 = time.monotonic()
        try:
            self.desc = self._load_desc()
            self.hooks = extpeer.hooks_for(self)
            preflight(self)
            exe = self._build()
            self._host_locks()
            self._guards_before()
            r.started = time.time()
            self._prepare()
            process.start(self, exe)
            CheckpointRestore(self).run_cycles()
            process.stop(self)
            process.verdict(self)
            r.outcome, r.phase = "passed", None
        except Skip as s:
            r.outcome, r.message = "skipped", str(s)
        except PhaseFailure as f:
            self._failed(f)
        finally:
            self._cleanup()
            r.timings["total"] = round(time.monotonic() - t0, 4)
            self._finish()
        return r

    def _load_desc(self):
        try:
            return self.workload.load_desc()
        except DescError as e:
            raise PhaseFailure("desc", str(e)) from None

    def _build(self):
        t = time.monotonic()
        kind, builder = self.workload.kind, self.engine.builder
        try:
            exe = kind.build(builder, self.workload, self.desc)
            self.kind_criu_opts = kind.criu_opts(builder, self.workload, self.desc, self.engine.criu_bin) \
                + action_script.criu_opts(builder, self.workload, self.desc)
        except BuildError as e:
            raise PhaseFailure("build", str(e).splitlines()[0], details=e.output or str(e)) from None
        self.result.timings["build"] = round(time.monotonic() - t, 4)
        return exe

    def _host_locks(self) -> None:
        """An excl test never runs beside another test, of this run or any
        other on the host; an h-flavor test never beside itself in another
        run, nor an upstream test in any flavor (its host stage and hooks use
        fixed host paths: /tmp/zdtm_ext_root.tmp), as upstream's zdtm.py
        runs a test's flavors one after the other (zdtm.hostwide)."""
        t = time.monotonic()
        if self.flavor_name == "h" or self.workload.kind.name == "upstream":
            self._locks.append(hostwide.lock(f"test-{self.workload.name}"))
        if self.flavor_name == "h" and any(source_mentions(self.workload, g) for g in hostwide.HEARS_HOST_LINKS):
            self._locks.append(hostwide.lock(hostwide.HOST_LINKS))
        self._locks.append(hostwide.lock("excl", exclusive="excl" in self.desc.flags))
        self.result.timings["wait"] = round(time.monotonic() - t, 4)

    def _guards_before(self) -> None:
        for guard in guards_for(self):
            self.guards.append(guard)
            guard.before(self)

    def _prepare(self) -> None:
        ids = (0, 0) if self.as_root else (WORKLOAD_UID, WORKLOAD_GID)
        self.owner = self.flavor.host_ids(*ids)
        self.engine.journal.test(self.key, self.paths.art, self.paths.work)
        self.paths.prepare(self.owner, shared=self.workload.kind.shared_work_dir)
        self.driver.prepare_dir(self.paths.images)
        for name in self.desc.ext_mounts + self.desc.plugin_mounts:
            try:
                self.flavor.add_external_mount(name, self.paths.external_dir(name, self.owner),
                                               tell_criu=name not in self.desc.plugin_mounts)
            except FlavorUnavailable as e:
                raise Skip(str(e)) from None
        for mode in self.modes:
            mode.start(self)

    # ---- what the steps share ---------------------------------------------------
    def call_hook(self, stage: str, images=None, timeout: Optional[float] = None) -> None:
        """The workload kind's hook at this point of the cycle (upstream's NAME.hook)."""
        self.hooks.call(stage, root_pid=self.tree_root, log=self.paths.log("hook.log"),
                        timeout=timeout or self.settings.criu_timeout, images=images)

    def tree_root(self) -> Optional[int]:
        """Host pid of the tree's root, as upstream's pidfile holds it; while
        the test starts, the ns flavors' init once it exists (upstream's
        NAME.pid.inprogress: written right after the clone, as ours is)."""
        if self.root_pid:
            return self.root_pid
        pidfile = getattr(self.flavor, "init_pidfile", None)
        try:
            text = pidfile.read_text() if pidfile else ""
        except OSError:
            return None
        return int(text) if text.endswith("\n") and text.strip().isdigit() else None

    def add_roots(self, *pids: int) -> None:
        """Trees of this test (killed and reaped at its end, whatever happens;
        journaled, so that a run killed outright still gets them cleaned)."""
        self.roots += pids
        self.engine.journal.tasks(self.key, pids)

    def record_criu(self, run: CriuRun, key: str) -> None:
        self.result.criu_commands.append(run.command_line())
        self.result.add_time(key, run.duration)

    # ---- the end ----------------------------------------------------------------
    def _failed(self, f: PhaseFailure) -> None:
        r = self.result
        r.outcome, r.phase, r.message = "failed", f.phase, f.message
        if f.criu is not None:
            r.criu_error_lines = f.criu.error_lines()
            # The whole log (pytest's --show-capture=no hides sections).
            r.sections.append((f"criu {f.criu.action} log {f.criu.log}", f.criu.log_text()))
            if f.criu.hang:
                r.sections.append((f"criu {f.criu.action}'s tree when it timed out", f.criu.hang))
        if f.details:
            r.sections.append(("details", f.details))

    def _cleanup(self) -> None:
        """Stop the modes' helpers, run every guard (the tasks guard first,
        then upstream's --clean hook, then the rest) and free what the test
        held. What a passing test left behind fails it (phase cleanup)."""
        problems = []
        for mode in self.modes:
            problems += mode.stop(self)
        for guard in self.guards:
            problems += guard.leftovers(self)
            problems += guard.remove(self)
            if guard.name == "tasks" and self.hooks.present and self.result.started:
                problems += self._hook_clean()
        for guard in reversed(self.guards):
            guard.release(self)
        self._release_resources()
        r = self.result
        if problems and r.outcome == "passed":
            r.outcome, r.phase, r.message = "failed", "cleanup", problems[0]
        if problems:
            r.sections.append(("cleanup", "\n".join(problems)))
        if self._locks:
            r.finished = time.time()
        for f in self._locks:
            f.close()
        if r.started:
            self.engine.journal.done(self.key)

    def _hook_clean(self) -> list:
        # upstream's hook cleans what the test made outside its tasks
        # (cgroups, links, ...): once they are gone, before our checks.
        try:
            self.call_hook("clean")
        except (PhaseFailure, Skip) as f:
            return [str(f)]
        return []

    def _release_resources(self) -> None:
        for fd in self.tty_fds + list(self.inherit[1:] if self.inherit else ()):
            os.close(fd)
        for proc in self.exec_cmd_procs:      # criu turned --exec-cmd reaper
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            self.engine.reaper.owned.discard(proc.pid)
        if self.flavor is not None:
            self.flavor.teardown()

    def _finish(self) -> None:
        r = self.result
        r.artifacts = str(self.paths.art)
        if not self.paths.art.exists():
            return
        self.paths.prune_images(self.settings.keep_img, r.outcome)
        if not r.workload_lines:
            process.output_lines(self)
        if r.outcome == "failed":
            r.sections += self.paths.failure_sections()
            r.sections += crit_report.failure_sections(self.paths.art, self.paths.images, self.settings.cache_dir)
        self.paths.write_result({k: v for k, v in asdict(r).items() if k != "sections"}, r.criu_commands)
