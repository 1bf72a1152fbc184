"""The C/R cycles of one test: dump, wait until the dumped tree is gone,
restore, find the restored test, compare what /proc shows with what it
showed before. The run's C/R modes (zdtm.modes) are asked at every step:
what they add to criu's options, whether there is a restore at all, how
many cycles, what to check after each action.
"""
from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from . import images
from .criu import CriuCall, CriuRun
from .outcome import PhaseFailure, Skip
from .procs import descendants, is_descendant, pidfd, wait_gone, wait_pidfds
from .safeio import read_text
from .settle_gate import SettleGate
from .snapshot import differences, format_differences, snapshot_tree, summarize_accepted

GONE_TIMEOUT = 10.0
SETTLE_TIME = 0.3
INHERIT_FD_MESSAGE = b"zdtm: written by the harness after restore\n"
NSINIT_SOURCE = Path(__file__).resolve().parent / "flavors" / "nsinit.c"
# A live workload keeps changing these between our look before the dump and
# criu freezing it; only its stable state is compared.
LIVE_VOLATILE = ("tree", "fd", "maps", "signals", "sched")


def skip_if_machine_limit(run, criu: CriuRun) -> None:
    """A dump refused for a reason `zdtm check` already names (no
    CAP_SYS_RESOURCE: criu cannot read the rlimits of a task of another
    uid, e.g. one a root workload made with setuid) is a skip, not a bug
    (also a mode's own dump: --noauto-dedup's parent)."""
    if "CAP_SYS_RESOURCE" not in run.engine.facts.caps_missing or criu.crashed:
        return
    m = re.search(r"Error \(criu/cr-dump\.c:\d+\): Can't get rlimit \d+: Operation not permitted",
                  criu.log_text())
    if m:
        run.result.sections.append(("criu dump log (the refusal)", "\n".join(criu.error_lines())))
        raise Skip("criu cannot dump a task of another uid without CAP_SYS_RESOURCE, which this machine "
                   f"lacks (see zdtm check); criu said: {m.group(0)}")


@dataclass
class Step:
    """One iteration of the cycle, as the modes' hooks see it."""
    run: object                 # the zdtm.cycle.TestRun
    n: int                      # 1-based
    images: Path
    last: bool
    criu: Optional[CriuRun] = None     # the action just run (after_dump, after_restore)

    @property
    def art(self) -> Path:
        return self.run.paths.art

    # What a mode uses to run criu actions of its own (a pre-dump, `criu
    # dedup`, a page server), with the test's identity, logged like the rest.
    def criu_call(self, action: str, images: Optional[Path] = None, tag: str = "",
                  opts: list = (), wrapped: bool = False) -> CriuCall:
        """A call for `criu ACTION` on this step's images (or images), its log
        in the artifacts as ACTION[TAG]-N.log. wrapped: through the modes' and
        the flavor's wrappers (criu-ns), as a dump or restore is."""
        images = images or self.images
        call = CriuCall(images, self.run.paths.log(f"{action}{tag}-{self.n}.log"), list(opts))
        if wrapped:
            call.wrappers = criu_wrappers(self.run)
        return call

    def run_criu(self, action: str, call: CriuCall, args: list = (), like: str = "dump") -> CriuRun:
        """Run it to the end; recorded in the result (command line, time)."""
        criu = self.run.driver.action(action, call, list(args), like=like, last=self.last)
        self.run.record_criu(criu, action)
        return criu

    def start_criu(self, action: str, call: CriuCall, args: list = (), like: str = "dump"):
        """Start it in the background (zdtm.criu.base.CriuHelper), ready when this returns."""
        helper = self.run.driver.start(action, call, list(args), like=like, last=self.last)
        self.run.result.criu_commands.append(helper.run.command_line())
        return helper


def criu_wrappers(run) -> list:
    """argv -> argv functions every dump and restore goes through: the modes'
    (criu-ns, ...), then the flavor's."""
    return [w for w in [*(m.criu_wrapper() for m in run.modes), run.flavor.criu_wrapper()] if w]


class CheckpointRestore:
    def __init__(self, run):
        self.run = run
        self.desc = run.desc
        self.modes = run.modes
        self.iterations = max([m.iterations for m in self.modes if m.iterations] or [1])
        self.restores = all(m.restores for m in self.modes)
        self.leave_running = any(m.leave_running for m in self.modes)
        # a mode whose dump runs on in the background (Mode.start_dump)
        self.background_dump = next((m for m in self.modes if m.dump_in_background), None)

    def run_cycles(self) -> None:
        for n in range(1, self.iterations + 1):
            step = Step(self.run, n, self.run.paths.images / str(n), last=n == self.iterations)
            self.run.driver.prepare_dir(step.images)
            if not self._dump(step):
                return
            if self.restores:
                self._restore(step)

    # ---- dump --------------------------------------------------------------------
    def _settle_gate(self, step: Step, crfail: bool) -> Optional[SettleGate]:
        """The test's own wait for the state it must be dumped in
        (WorkloadKind.settle), before the first dump: at criu's pre-dump stage
        through a SettleGate, or here when the dump runs on in the background
        (a mode's start_dump) or is to be refused (crfail)."""
        wait = self.run.workload.kind.settle(self.run.workload) if step.n == 1 else None
        if wait is None:
            return None
        root = self.run.root_pid
        if self.background_dump is None and not crfail:
            return SettleGate(self.run.paths.art, lambda: wait(root))
        self._note_settled([wait(root)])
        return None

    def _note_settled(self, lines: list) -> None:
        if lines:
            with open(self.run.paths.log("settle.log"), "a") as log:
                log.writelines(line + "\n" for line in lines)

    def _dump(self, step: Step) -> bool:
        """Dump once; False when the test is over (a crfail refusal)."""
        run, crfail = self.run, "crfail" in self.desc.flags
        tree = descendants(run.root_pid)
        before = None if crfail else snapshot_tree(run.root_pid)
        fds = [fd for fd in (pidfd(p) for p in tree) if fd is not None]
        try:
            self._call_hooks("before_dump", step)
            run.call_hook("pre-dump", images=step.images)
            gate = self._settle_gate(step, crfail)
            try:
                step.criu = self._dump_once(step, crfail, gate)
            finally:
                if gate:
                    gate.close()
                    self._note_settled(gate.notes + gate.errors)
            # a crfail dump is retried only when criu did not get to refuse
            # (--fault 1 kills it while it infects: zdtm.py retries it too)
            if not step.criu.ok and (not crfail or step.criu.crashed):
                skip_if_machine_limit(self.run, step.criu)      # before a mode blames its helper
                if self._retry(step, "dump"):
                    step.images.rename(step.images.with_name(step.images.name + ".failed"))
                    run.driver.prepare_dir(step.images)
                    step.criu = self._dump_once(step, crfail)
                    if not step.criu.ok:
                        skip_if_machine_limit(self.run, step.criu)
            if crfail:
                self._judge_crfail(step.criu)
                return False
            if not step.criu.ok:
                raise PhaseFailure("dump", step.criu.status(), criu=step.criu)
            self._call_hooks("after_dump", step)
            self.before = before
            if self.background_dump is not None:
                return True         # the tree lives until the dump ends: its mode waits for both
            if not self.restores:
                self._compare_outside(before, run.root_pid, "criu dump --leave-running")
                return True
            # Restoring while an old task still holds a pid fails ("File exists").
            if not wait_pidfds(fds, GONE_TIMEOUT) or wait_gone(tree, GONE_TIMEOUT, run.engine.reaper):
                raise PhaseFailure("dump", f"dumped tree {tree} still present {GONE_TIMEOUT:g}s after dump")
        finally:
            for fd in fds:
                os.close(fd)
        return True

    def _dump_once(self, step: Step, crfail: bool, gate: Optional[SettleGate] = None) -> CriuRun:
        if self.background_dump is not None and not crfail:
            return self.background_dump.start_dump(step, self._call("dump", step))
        call = self._call("dump", step)
        if gate:
            call.opts += ["--action-script", str(gate.script)]
        criu = self.run.driver.dump(self.run.root_pid, call, leave_running=self.leave_running or crfail)
        self.run.record_criu(criu, "dump")
        return criu

    def _retry(self, step: Step, action: str) -> bool:
        """A mode may have one failed action run again (its first log kept as
        ACTION-N.log.failed)."""
        if not any([m.retry(step, action) for m in self.modes]):
            return False
        log = step.criu.log
        for path in (log, log.with_name(log.name + ".out")):
            if path.exists():
                path.rename(path.with_name(path.name + ".failed"))
        self.run.result.sections.append((f"criu {action} failed, retried as a mode asked",
                                         step.criu.status() + "\n" + "\n".join(step.criu.error_lines())))
        return True

    def _judge_crfail(self, criu: CriuRun) -> None:
        if criu.ok:
            raise PhaseFailure("dump", "criu dumped a test marked crfail (it was expected to refuse)", criu=criu)
        if criu.crashed:
            raise PhaseFailure("dump", f"{criu.status()} (crfail expects a clean refusal)", criu=criu)
        match = self.desc.crfail_match
        if match and not re.search(match, criu.log_text(), re.M):
            raise PhaseFailure("dump", f"criu refused, but its log does not match crfail_match {match!r}",
                               criu=criu)
        self.run.result.sections.append(("expected criu refusal", "\n".join(criu.error_lines())))

    # ---- restore -----------------------------------------------------------------
    def _restore(self, step: Step) -> None:
        run = self.run
        if run.driver.untrusted_images(step.last):
            images.seal(step.images)
            images.check_creds(step.images, self.before)
        self._call_hooks("before_restore", step)
        run.call_hook("pre-restore", images=step.images)
        call = self._call("restore", step)
        step.criu = run.driver.restore(call, last=step.last)
        run.record_criu(step.criu, "restore")
        if not step.criu.ok and self._retry(step, "restore"):
            call = self._call("restore", step)
            step.criu = run.driver.restore(call, last=step.last)
            run.record_criu(step.criu, "restore")
        if step.criu.exec_cmd_process is not None:
            run.exec_cmd_procs.append(step.criu.exec_cmd_process)
        if not step.criu.ok:
            raise PhaseFailure("restore", step.criu.status(), criu=step.criu)
        self._locate_restored(call.pidfile, step.criu)
        self._call_hooks("after_restore", step)
        run.call_hook("post-restore", images=step.images)
        self._compare_outside(self.before, run.root_pid, "dump and restore")
        if run.inherit:
            os.write(run.inherit[1], INHERIT_FD_MESSAGE)

    def _locate_restored(self, pidfile: Path, criu: CriuRun) -> None:
        run = self.run
        try:
            new_pid = int(read_text(pidfile, 64).strip())
        except (OSError, ValueError) as e:
            raise PhaseFailure("restore", f"criu restore left no usable pidfile: {e}", criu=criu) from None
        if not is_descendant(new_pid):
            raise PhaseFailure("restore", f"pid {new_pid} in criu's pidfile {pidfile} is not a task the "
                                          f"harness started", criu=criu)
        run.add_roots(new_pid)
        if run.flavor.same_pids_after_restore and not any(m.new_pids for m in self.modes):
            if new_pid != run.root_pid:
                raise PhaseFailure("restore", f"restored root has pid {new_pid}, dumped was {run.root_pid}")
            return
        run.root_pid = new_pid
        run.pid = run.flavor.find_test(new_pid, run.test_ns_pid)
        if run.pid is None:
            raise PhaseFailure("restore", f"test process (pid {run.test_ns_pid} in its namespace) "
                                          f"not found in the restored tree of {new_pid}")
        run.add_roots(run.pid)

    # ---- criu's options ----------------------------------------------------------
    def _call(self, action: str, step: Step) -> CriuCall:
        run, desc = self.run, self.desc
        extra = desc.dopts if action == "dump" else desc.ropts
        opts = list(desc.opts) + list(extra) + run.flavor.criu_opts(action) + run.kind_criu_opts
        for mode in self.modes:
            opts += mode.dump_opts(step) if action == "dump" else mode.restore_opts(step)
        call = CriuCall(step.images, run.paths.log(f"{action}-{step.n}.log"), opts)
        call.wrappers = criu_wrappers(run)
        if action == "restore":
            call.pidfile = run.paths.log(f"restore-{step.n}.pid")
            self._restore_resources(call, opts)
        for mode in self.modes:
            mode.adjust_call(call, action, step)
        return call

    def _restore_resources(self, call: CriuCall, opts: list) -> None:
        """What the .desc's restore options need from the harness: the
        inherited pipe, the --exec-cmd reaper, a terminal for --shell-job."""
        run = self.run
        if run.inherit:
            keep = run.inherit[2]
            call.pass_fds = (keep,)
            call.opts += ["--inherit-fd", f"fd[{keep}]:pipe:[{os.fstat(keep).st_ino}]"]
        if "--exec-cmd" in opts:
            call.exec_cmd = [str(run.engine.builder.tool(NSINIT_SOURCE)), "--reap"]
        if "--shell-job" in opts:
            # criu restore --shell-job hands its own terminal to the tree:
            # give it one, kept open (master side) until the test is over.
            if not run.tty_fds:                 # one terminal for all iterations
                master, slave = os.openpty()
                os.fchown(slave, *run.owner)    # criu may restore as the owner
                run.tty_fds = [master, slave]
            call.tty_slave = run.tty_fds[1]

    def _call_hooks(self, point: str, step: Step) -> None:
        for mode in self.modes:
            getattr(mode, point)(step)

    # ---- the outside check -------------------------------------------------------
    def _outside_ignore(self) -> tuple:
        run = self.run
        ignore = tuple(item for item, _ in self.desc.differs)
        for mode in self.modes:
            ignore += mode.outside_ignore(run.flavor_name)
        if run.workload.live:
            ignore += LIVE_VOLATILE
        # what a kind knows its tests change by themselves (upstream's)
        ignore += tuple(getattr(run.workload.kind, "outside_ignore", lambda w: ())(run.workload))
        return ignore

    def _tolerates(self, difference) -> bool:
        """A known criu deviation is a warning for upstream's tests (their own
        zdtm.py accepts it), unless --strict-outside; ours fail on it."""
        run = self.run
        return bool(difference.accepted) and run.workload.kind.name == "upstream" \
            and not run.settings.strict_outside

    def _compare_outside(self, before, root: int, when: str) -> None:
        # Right after a restore a task may still be on its way back into the
        # call it was in (e.g. sigsuspend's temporary mask not yet in force):
        # a difference must persist for a moment to count.
        deadline = time.monotonic() + SETTLE_TIME
        ignore = self._outside_ignore()
        while True:
            found = differences(before, snapshot_tree(root), ignore)
            failing = [d for d in found if not self._tolerates(d)]
            if not failing or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        if failing:
            details = format_differences(found) + [f"known criu deviation: {reason}"
                                                   for reason in dict.fromkeys(d.accepted for d in found) if reason]
            raise PhaseFailure("verify", f"state seen from /proc changed across {when}: {failing[0]}",
                               details="\n".join(details))
        if found:
            self._warn(found, when)

    def _warn(self, tolerated: list, when: str) -> None:
        result = self.run.result
        for line in summarize_accepted(tolerated):
            if line not in result.warnings:
                result.warnings.append(line)
        result.sections.append((f"outside check: known criu deviations across {when} (warnings; "
                                f"--strict-outside fails them)", "\n".join(format_differences(tolerated))))
