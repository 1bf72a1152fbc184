"""One test in one flavor: build, start, dump, restore, stop, verify.

Every phase is bounded; whatever happens, everything the test started is
killed and reaped before run() returns, and the artifacts directory says what
happened (criu command lines and logs, the workload's output, result.json).
"""
from __future__ import annotations

import fcntl
import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from .build import BuildError
from .check import kernel_taint
from .config import (DEFAULT_START_TIMEOUT, DEFAULT_STOP_TIMEOUT, WORKLOAD_GID, WORKLOAD_UID,
                     workload_env)
from .criu import CriuCall, CriuRun
from .desc import Desc, DescError
from .flavors import Flavor, FlavorUnavailable, get_flavor
from .provision import plugin_include_dir
from .procs import children, descendants, kill_trees, pidfd, proc_state, reap, wait_gone, wait_pidfds
from .snapshot import diff, snapshot_tree
from . import upstream
from .suite import Workload

GONE_TIMEOUT = 10.0
INHERIT_FD_MESSAGE = b"zdtm: written by the harness after restore\n"
NSINIT_SOURCE = Path(__file__).resolve().parent / "flavors" / "nsinit.c"
_WORK_IDS = itertools.count(1)
LEFTOVER_GRACE = 1.0
SETTLE_TIME = 0.3
TCP_REPAIR_OPTS = ("--tcp-established", "--tcp-close")
LIVE_VOLATILE = ("tree", "fd", "maps", "signals", "sched")


class Skip(Exception):
    pass


class PhaseFailure(Exception):
    def __init__(self, phase: str, message: str, criu: Optional[CriuRun] = None, details: str = ""):
        super().__init__(message)
        self.phase, self.message, self.criu, self.details = phase, message, criu, details


@dataclass
class TestResult:
    test: str
    flavor: str
    outcome: str = "failed"              # passed | failed | skipped
    phase: Optional[str] = None          # where it failed
    message: str = ""
    identity: str = ""
    artifacts: str = ""
    timings: dict = field(default_factory=dict)
    started: Optional[float] = None      # wall clock, once it may run (excl lock held)
    finished: Optional[float] = None
    criu_commands: list = field(default_factory=list)
    criu_error_lines: list = field(default_factory=list)
    workload_lines: list = field(default_factory=list)
    sections: list = field(default_factory=list)     # (title, text) for the report

    def summary(self) -> str:
        """The short failure text: test, flavor, phase, cause, and where to look."""
        out = [f"phase '{self.phase}': {self.message}", f"test {self.test}, flavor {self.flavor}"]
        if self.criu_error_lines:
            out.append("criu log:")
            out += [f"  {l}" for l in self.criu_error_lines]
        verdict_lines = [l for l in self.workload_lines if re.search(r"\b(FAIL|ERR|SKIP)\b", l)]
        shown = verdict_lines or self.workload_lines[-5:]
        if shown:
            out.append("workload output:")
            out += [f"  {l}" for l in shown[-10:]]
        out.append(f"identity: {self.identity}")
        out.append(f"artifacts: {self.artifacts}")
        return "\n".join(out)


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"


def _mountpoints() -> list:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


def _libc_umount(path: str) -> None:
    import ctypes
    ctypes.CDLL(None, use_errno=True).umount2(path.encode(), 2)   # MNT_DETACH


def _host_filter_rules() -> set:
    """The host's iptables/ip6tables filter rules. criu's TCP network lock
    adds some (marked 0xC114) and a failed restore leaves them; tests add
    their own (DROP a port) and leave them when killed: either drops the
    traffic of whatever uses those ports next."""
    rules = set()
    for tool in ("iptables", "ip6tables"):
        try:
            res = subprocess.run([tool, "-w", "-S"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            continue
        rules |= {(tool, line) for line in res.stdout.splitlines() if line.startswith("-A ")}
    return rules


def _strip_prefix(line: str) -> str:
    """Drop the conventional "HH:MM:SS.mmm: <pid>: " prefix."""
    return re.sub(r"^\d\d:\d\d:\d\d\.\d+: \d+: ", "", line)


def _tail(path: Path, n: int = 40) -> list:
    try:
        return path.read_text(errors="replace").splitlines()[-n:]
    except OSError:
        return []


class TestRun:
    def __init__(self, engine, workload: Workload, flavor_name: str, criu_ns: bool = False):
        self.engine = engine
        self.settings = engine.settings
        self.workload = workload
        self.flavor_name = flavor_name
        self.criu_ns = criu_ns
        variant = flavor_name + ("-criu-ns" if criu_ns else "")
        self.result = TestResult(workload.name, variant)
        self.art = engine.run_dir / workload.name / variant
        # The workload's cwd gets a short path of its own (UNIX socket names
        # must fit in 108 bytes); the artifacts dir links to it as work/.
        self.work = engine.settings.state_dir / "w" / engine.run_dir.name / f"{os.getpid()}-{next(_WORK_IDS)}"
        self.images = self.art / "img"
        stem = workload.source.stem
        self.outfile = self.work / f"{stem}.out"
        self.pidfile = self.work / f"{stem}.pid"
        self.stdio = self.work / f"{stem}.stdio"
        self.roots: list = []          # pids whose trees belong to this test
        self.pid: Optional[int] = None       # host pid of the test process
        self.root_pid: Optional[int] = None  # host pid of the tree criu dumps
        self.test_ns_pid: Optional[int] = None  # the pid the workload wrote
        self.flavor: Optional[Flavor] = None
        self.children_before = set(children(os.getpid()))
        self.criu_runs: list = []
        self.extra_criu_opts: list = []
        self.taint_before = kernel_taint()
        self.tty_fds: list = []
        self.inherit: Optional[tuple] = None      # (workload's read end, write end, criu's read end)
        self.exec_cmd_procs: list = []
        self.hook: Optional[str] = None           # upstream's NAME.hook
        self.tcp_lock = None                       # see _host_tcp_guard
        self.rules_before: Optional[set] = None

    # ---- entry -------------------------------------------------------------
    def run(self) -> TestResult:
        r = self.result
        t0 = time.monotonic()
        lock = None
        try:
            desc = self._desc()
            self._skip_checks(desc)
            exe = self._build(desc)
            lock = self._excl_lock("excl" in desc.flags)
            self._host_tcp_guard(desc)
            r.started = time.time()
            self._prepare_dirs(desc)
            self.hook = exe.hook
            self._start(desc, exe)
            self._cycles(desc)
            self._stop(desc)
            self._verify()
            r.outcome, r.phase = "passed", None
        except Skip as s:
            r.outcome, r.message = "skipped", str(s)
        except PhaseFailure as f:
            r.outcome, r.phase, r.message = "failed", f.phase, f.message
            if f.criu is not None:
                r.criu_error_lines = f.criu.error_lines()
                # The whole log (pytest's --show-capture=no hides sections).
                r.sections.append((f"criu {f.criu.action} log {f.criu.log}", f.criu.log_text()))
            if f.details:
                r.sections.append(("details", f.details))
        finally:
            problems = self._cleanup()
            if problems and r.outcome == "passed":
                r.outcome, r.phase, r.message = "failed", "cleanup", problems[0]
            if problems:
                r.sections.append(("cleanup", "\n".join(problems)))
            if lock is not None:
                r.finished = time.time()
                lock.close()
            if self.tcp_lock is not None:
                self.tcp_lock.close()
            r.timings["total"] = round(time.monotonic() - t0, 4)
            self._finish()
        return r

    # ---- phases ------------------------------------------------------------
    def _desc(self) -> Desc:
        try:
            return self.workload.load_desc()
        except DescError as e:
            raise PhaseFailure("desc", str(e)) from None

    def _skip_checks(self, desc: Desc) -> None:
        eng = self.engine
        reason = eng.suite.exclude.get(self.workload.name)
        if reason:
            raise Skip(reason)
        reason = desc.arch_mismatch()
        if reason:
            raise Skip(reason)
        facts = eng.facts
        if facts.fatal:
            raise PhaseFailure("check", f"no checkpoint can work here: {facts.fatal}")
        reason = facts.feature_missing(desc.features)
        if reason:
            raise Skip(reason)
        for dep in desc.deps:
            # A command, or (upstream) a file such as an iptables module.
            if not any(os.path.exists(alt) if "/" in alt else shutil.which(alt) for alt in dep.split("|")):
                raise Skip(f"needs '{dep}', not found on this host")
        if self.workload.kind == "upstream":
            reason = upstream.checkskip(self.workload)
            if reason:
                raise Skip(reason)
        try:
            self.flavor = get_flavor(self.flavor_name, eng)
        except FlavorUnavailable as e:
            raise Skip(str(e)) from None
        reason = self.flavor.unavailable(facts)
        if reason:
            raise Skip(f"flavor {self.flavor_name}: {reason}")
        if self.settings.norst and "reqrst" in desc.flags:
            raise Skip("flag reqrst: the test needs a restore, and --norst never restores")
        if self.criu_ns and "--exec-cmd" in desc.opts + desc.ropts:
            raise Skip("criu-ns restores detached under its own pseudo-init, which --exec-cmd excludes")
        ident = eng.identity_for("suid" in desc.flags, self.flavor_name, nouser=self._needs_root_criu(desc))
        self.as_root, self.drop_ids = ident.as_root, ident.drop_ids
        self.driver, self.result.identity = eng.driver(ident.driver, self.criu_ns), ident.text
        if self.criu_ns:
            self.result.identity += "; criu through zdtm criu-ns (restores into a fresh pid+mount namespace)"

    @staticmethod
    def _tcp_repair(desc: Desc) -> bool:
        """Does criu repair TCP connections for this test (and so lock the
        network with iptables, which only root may)?"""
        return any(o in TCP_REPAIR_OPTS for o in desc.opts + desc.dopts + desc.ropts)

    def _needs_root_criu(self, desc: Desc) -> bool:
        """upstream's nouser flag, or criu's TCP repair."""
        return "nouser" in desc.flags or self._tcp_repair(desc)

    def _build(self, desc: Desc):
        t = time.monotonic()
        try:
            exe = self.engine.builder.build(self.workload, desc)
            if "crlib" in desc.flags and self.workload.kind == "upstream":
                self.extra_criu_opts = ["--libdir", str(upstream.crlib_dir(self.workload))]
            elif "crlib" in desc.flags:
                libdir = self.engine.builder.plugin(self.workload, plugin_include_dir(self.engine.criu_bin))
                self.extra_criu_opts = ["--libdir", str(libdir)]
        except BuildError as e:
            raise PhaseFailure("build", str(e).splitlines()[0], details=e.output or str(e)) from None
        self.result.timings["build"] = round(time.monotonic() - t, 4)
        return exe

    def _excl_lock(self, exclusive: bool):
        """Shared by every test, exclusive for `excl` ones: an excl test never
        runs beside another one, in this run or a concurrent one."""
        f = open(self.settings.state_dir / "excl.lock", "a")
        fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        return f

    def _host_tcp_guard(self, desc: Desc) -> None:
        """A test whose criu locks TCP connections in the host's network
        namespace (h flavor, --tcp-* options) runs alone among such tests:
        they use fixed ports, and criu's lock rules (iptables) are shared.
        The host's rules are noted so that what criu or the test leaves
        behind is found and removed."""
        if self.flavor_name != "h" or not self._tcp_repair(desc):
            return
        self.tcp_lock = open(self.settings.state_dir / "host-tcp.lock", "a")
        fcntl.flock(self.tcp_lock, fcntl.LOCK_EX)
        self.rules_before = _host_filter_rules()

    def _prepare_dirs(self, desc: Desc) -> None:
        if self.art.exists():
            shutil.rmtree(self.art)
        self.art.mkdir(parents=True)
        for d in (self.work.parent.parent, self.work.parent):
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o755)
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir()
        (self.art / "work").symlink_to(os.path.relpath(self.work, self.art))
        # Parent dirs: reachable by the workload uid.
        for p in [self.art, *self.art.relative_to(self.engine.run_dir).parents]:
            os.chmod(self.engine.run_dir / p, 0o755)
        self.owner = self.flavor.host_ids(0, 0) if self.as_root else self.flavor.host_ids(WORKLOAD_UID, WORKLOAD_GID)
        for p in (self.art, self.work):
            os.chown(p, *self.owner)
        self.driver.prepare_dir(self.images)
        for name in desc.ext_mounts:
            host_dir = self.art / f"ext-{name}"
            host_dir.mkdir()
            os.chown(host_dir, *self.owner)
            (host_dir / "zdtm-external").write_text(f"{name}\n")
            try:
                self.flavor.add_external_mount(name, host_dir)
            except FlavorUnavailable as e:
                raise Skip(str(e)) from None

    def _workload_args(self, desc: Desc) -> list:
        stem = self.workload.source.stem
        out = []
        for arg in desc.args:
            if arg == "--filename":
                arg = f"--filename={self.work / (stem + '.test')}"
            elif arg == "--dirname":
                arg = f"--dirname={self.work / (stem + '.dir')}"
            out.append(arg)
        return out

    def _start(self, desc: Desc, exe) -> None:
        env = workload_env(suid=self.as_root)
        env.update(dict(exe.env))
        argv = list(exe.argv) + [f"--pidfile={self.pidfile}", f"--outfile={self.outfile}"]
        argv += self._workload_args(desc)
        if desc.inherit_fd:
            # The workload holds the read end; we keep the write end and a
            # second read end to hand to criu restore (--inherit-fd).
            r, w = os.pipe()
            self.inherit = (r, w, os.dup(r))
            os.set_inheritable(r, True)
            argv.append(f"--inhfd={r}")
        # The workload's library opens <outfile>.inprogress itself (upstream's
        # with O_EXCL); stdout/stderr before that go to a file of their own.
        fd = os.open(self.stdio, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        os.fchown(fd, *self.owner)
        (self.art / "workload-command.txt").write_text(" ".join(argv) + "\n")
        timeout = self.settings.start_timeout or desc.timeout or DEFAULT_START_TIMEOUT
        t = time.monotonic()
        try:
            try:
                launcher = self.flavor.launch(argv, env, self.work, fd, self.art, self.drop_ids,
                                              pass_fds=(self.inherit[0],) if self.inherit else ())
            except OSError as e:
                raise PhaseFailure("start", f"cannot execute {argv[0]}: {e.strerror}") from None
        finally:
            os.close(fd)
            if self.inherit:
                os.close(self.inherit[0])
        self.roots.append(launcher.pid)
        self.engine.reaper.owned.add(launcher.pid)
        try:
            # As upstream's zdtm.py: right after the launch, while the test
            # sets itself up (some wait for what this hook prepares).
            self._hook("--post-start", timeout=timeout)
            rc = launcher.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            kill_trees([launcher.pid])
            launcher.wait()
            self._output_lines()
            raise PhaseFailure("start", f"workload did not become ready within {timeout:g}s "
                                        f"(its launcher, pid {launcher.pid}, never exited)") from None
        finally:
            if launcher.returncode is None:     # interrupted (Ctrl-C): don't leave it to Popen
                kill_trees([launcher.pid])
                launcher.wait()
            self.engine.reaper.owned.discard(launcher.pid)
        if rc != 0:
            lines = self._output_lines()
            last = lines[-1] if lines else ""
            m = re.search(r"\bSKIP:\s*(.*)", last)
            if m:
                raise Skip(f"workload: {m.group(1).strip()}")
            how = f"exited with {rc}" if rc > 0 else f"was killed by {signal.Signals(-rc).name}"
            raise PhaseFailure("start", f"workload {how} before becoming ready")
        try:
            self.test_ns_pid = int(self.pidfile.read_text().strip())
            self.root_pid, self.pid = self.flavor.locate(self.test_ns_pid)
        except (OSError, ValueError) as e:
            raise PhaseFailure("start", f"workload reported ready but its pidfile {self.pidfile} "
                                        f"is unusable: {e}") from None
        self.roots += [self.root_pid, self.pid]
        if self.pid is None or proc_state(self.pid) is None:
            raise PhaseFailure("start", f"workload pid {self.test_ns_pid} from the pidfile does not exist")
        self.result.timings["start"] = round(time.monotonic() - t, 4)

    def _hook(self, *args: str, images: Optional[Path] = None, timeout: Optional[float] = None) -> None:
        """Upstream's NAME.hook, called as its zdtm.py does (--post-start,
        --pre-dump, --pre-restore, --post-restore, --clean), as root, from
        the tree's test/ directory (hooks find criu's lib/ from there); its
        output goes to the artifacts."""
        if not self.hook:
            return
        env = dict(os.environ)
        if self.pid:
            env["ZDTM_TEST_PID"] = str(self.test_ns_pid or self.pid)
        if images is not None:
            env["ZDTM_IMG_DIR"] = str(images)
        try:
            res = subprocess.run([self.hook, *args], cwd=upstream.test_dir(self.workload), env=env,
                                 stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 timeout=timeout or self.settings.criu_timeout)
            rc, output = res.returncode, res.stdout
        except subprocess.TimeoutExpired as e:
            rc, output = None, e.output if isinstance(e.output, str) else ""
        with open(self.art / "hook.log", "a") as f:
            f.write(f"$ {Path(self.hook).name} {' '.join(args)}\n{output}[exit {rc}]\n")
        if rc != 0:
            missing = re.search(r"^(?:ModuleNotFoundError: No module named '([^']+)'|"
                                r"ImportError: cannot import name '[^']+' from (?:partially initialized module )?"
                                r"'([^']+)')", output, re.M)
            if missing:
                raise Skip(f"{Path(self.hook).name} needs the Python module '{missing.group(1) or missing.group(2)}'"
                           f", not usable here ({missing.group(0)[:160]})")
            how = f"did not finish within {timeout or self.settings.criu_timeout:g}s" if rc is None \
                else f"exited with {rc}"
            said = [line for line in output.strip().splitlines() if line.strip()]
            raise PhaseFailure("hook", f"{Path(self.hook).name} {' '.join(args)} {how}"
                                       + (f": {said[-1].strip()}" if said else ""), details=output)

    def _criu_call(self, action: str, desc: Desc, images: Path, n: int) -> CriuCall:
        extra = desc.dopts if action == "dump" else desc.ropts
        opts = list(desc.opts) + list(extra) + self.flavor.criu_opts(action) + self.extra_criu_opts
        call = CriuCall(images, self.art / f"{action}-{n}.log", opts)
        if action == "restore":
            call.pidfile = self.art / f"restore-{n}.pid"
            if self.inherit:
                keep = self.inherit[2]
                call.pass_fds = (keep,)
                call.opts += ["--inherit-fd", f"fd[{keep}]:pipe:[{os.fstat(keep).st_ino}]"]
            if "--exec-cmd" in opts:
                call.exec_cmd = [str(self.engine.builder.tool(NSINIT_SOURCE)), "--reap"]
            if "--shell-job" in opts:
                # criu restore --shell-job hands its own terminal to the tree:
                # give it one, kept open (master side) until the test is over.
                if not self.tty_fds:                # one terminal for all iterations
                    master, slave = os.openpty()
                    os.fchown(slave, *self.owner)  # criu may restore as the owner
                    self.tty_fds = [master, slave]
                call.tty_slave = self.tty_fds[1]
        return call

    def _record(self, run: CriuRun, key: str) -> None:
        self.criu_runs.append(run)
        self.result.criu_commands.append(run.command_line())
        self.result.timings[key] = round(self.result.timings.get(key, 0.0) + run.duration, 4)

    def _outside_ignore(self, desc: Desc) -> tuple:
        ignore = tuple(item for item, _ in desc.differs)
        if self.criu_ns and self.flavor_name == "h":
            # criu-ns restores into a fresh mount namespace: by design.
            ignore += ("mounts",)
        if self.workload.live:
            # A live workload keeps changing these between our look before
            # the dump and criu freezing it; only its stable state is compared.
            ignore += LIVE_VOLATILE
        return ignore

    def _compare_outside(self, desc: Desc, before, root: int, when: str) -> None:
        # Right after a restore a task may still be on its way back into the
        # call it was in (e.g. sigsuspend's temporary mask not yet in force):
        # a difference must persist for a moment to count.
        deadline = time.monotonic() + SETTLE_TIME
        while True:
            lines = diff(before, snapshot_tree(root), self._outside_ignore(desc))
            if not lines or time.monotonic() >= deadline:
                break
            time.sleep(0.01)
        if lines:
            raise PhaseFailure("verify", f"state seen from /proc changed across {when}: {lines[0]}",
                               details="\n".join(lines))

    def _cycles(self, desc: Desc) -> None:
        crfail = "crfail" in desc.flags
        for n in range(1, self.settings.iters + 1):
            images = self.images / str(n)
            self.driver.prepare_dir(images)
            tree = descendants(self.root_pid)
            before = None if crfail else snapshot_tree(self.root_pid)
            fds = [fd for fd in (pidfd(p) for p in tree) if fd is not None]
            try:
                self._hook("--pre-dump", images=images)
                run = self.driver.dump(self.root_pid, self._criu_call("dump", desc, images, n),
                                       leave_running=self.settings.norst or crfail)
                self._record(run, "dump")
                if crfail:
                    self._judge_crfail(desc, run)
                    return
                if not run.ok:
                    self._skip_if_machine_limit(run)
                    raise PhaseFailure("dump", run.status(), criu=run)
                if self.settings.norst:
                    self._compare_outside(desc, before, self.root_pid, "criu dump --leave-running")
                    continue
                # Restoring while an old task still holds a pid fails ("File exists").
                if not wait_pidfds(fds, GONE_TIMEOUT) or wait_gone(tree, GONE_TIMEOUT, self.engine.reaper):
                    raise PhaseFailure("dump", f"dumped tree {tree} still present {GONE_TIMEOUT:g}s after dump")
            finally:
                for fd in fds:
                    os.close(fd)
            self._hook("--pre-restore", images=images)
            call = self._criu_call("restore", desc, images, n)
            restored_pidfile = call.pidfile
            run = self.driver.restore(call, restored_pidfile, last=n == self.settings.iters)
            self._record(run, "restore")
            if run.exec_cmd_process is not None:
                self.exec_cmd_procs.append(run.exec_cmd_process)
            if not run.ok:
                raise PhaseFailure("restore", run.status(), criu=run)
            try:
                new_pid = int(restored_pidfile.read_text().strip())
            except (OSError, ValueError) as e:
                raise PhaseFailure("restore", f"criu restore left no usable pidfile: {e}", criu=run) from None
            self.roots.append(new_pid)
            if self.flavor.same_pids_after_restore and not self.criu_ns:
                if new_pid != self.root_pid:
                    raise PhaseFailure("restore", f"restored root has pid {new_pid}, dumped was {self.root_pid}")
            else:
                self.root_pid = new_pid
                self.pid = self.flavor.find_test(new_pid, self.test_ns_pid)
                if self.pid is None:
                    raise PhaseFailure("restore", f"test process (pid {self.test_ns_pid} in its namespace) "
                                                  f"not found in the restored tree of {new_pid}")
                self.roots.append(self.pid)
            self._hook("--post-restore", images=images)
            self._compare_outside(desc, before, self.root_pid, "dump and restore")
            if self.inherit:
                os.write(self.inherit[1], INHERIT_FD_MESSAGE)

    def _skip_if_machine_limit(self, run: CriuRun) -> None:
        """A dump refused for a reason `zdtm check` already names (no
        CAP_SYS_RESOURCE: criu cannot read the rlimits of a task of another
        uid, e.g. one a root workload made with setuid) is a skip, not a bug."""
        if "CAP_SYS_RESOURCE" not in self.engine.facts.caps_missing or run.crashed:
            return
        m = re.search(r"Error \(criu/cr-dump\.c:\d+\): Can't get rlimit \d+: Operation not permitted",
                      run.log_text())
        if m:
            self.result.sections.append(("criu dump log (the refusal)", "\n".join(run.error_lines())))
            raise Skip("criu cannot dump a task of another uid without CAP_SYS_RESOURCE, which this machine "
                       f"lacks (see zdtm check); criu said: {m.group(0)}")

    def _judge_crfail(self, desc: Desc, run: CriuRun) -> None:
        if run.ok:
            raise PhaseFailure("dump", "criu dumped a test marked crfail (it was expected to refuse)",
                               criu=run)
        if run.crashed:
            raise PhaseFailure("dump", f"{run.status()} (crfail expects a clean refusal)", criu=run)
        if desc.crfail_match and not re.search(desc.crfail_match, run.log_text(), re.M):
            raise PhaseFailure("dump", f"criu refused, but its log does not match crfail_match "
                                       f"{desc.crfail_match!r}", criu=run)
        self.result.sections.append(("expected criu refusal", "\n".join(run.error_lines())))

    def _stop(self, desc: Desc) -> None:
        if proc_state(self.pid) in (None, "Z"):
            reap(self.pid)
            raise PhaseFailure("stop", f"workload pid {self.pid} was gone before SIGTERM")
        fd = pidfd(self.pid)
        t = time.monotonic()
        try:
            os.kill(self.pid, signal.SIGTERM)
            timeout = desc.timeout or DEFAULT_STOP_TIMEOUT
            if fd is not None and not wait_pidfds([fd], timeout):
                raise PhaseFailure("stop", f"workload did not exit within {timeout:g}s of SIGTERM")
        finally:
            if fd is not None:
                os.close(fd)
        reap(self.pid)
        if self.root_pid != self.pid:
            # The flavor's init exits once the test process is gone.
            left = wait_gone([self.root_pid], timeout, self.engine.reaper)
            if left:
                raise PhaseFailure("stop", f"the tree's root (pid {self.root_pid}) did not exit after the test")
        self.result.timings["stop"] = round(time.monotonic() - t, 4)

    def _output_lines(self) -> list:
        lines = _tail(self.outfile, 200)
        if not lines:
            lines = _tail(Path(str(self.outfile) + ".inprogress"), 200)
        stdio = [f"(stdout/stderr) {line}" for line in _tail(self.stdio, 40) if line.strip()]
        self.result.workload_lines = (stdio + lines)[-40:]
        return lines

    def _verify(self) -> None:
        if not self.outfile.exists():
            self._output_lines()
            raise PhaseFailure("verify", f"workload exited without finishing its output file {self.outfile}")
        lines = [l for l in self._output_lines() if l.strip()]
        last = lines[-1] if lines else ""
        if "PASS" in last:
            return
        m = re.search(r"\bSKIP:\s*(.*)", last)
        if m:
            raise Skip(f"workload: {m.group(1).strip()}")
        fails = [_strip_prefix(l) for l in lines if re.search(r"\b(FAIL|ERR):", l)]
        raise PhaseFailure("verify", fails[0] if fails else
                           f"workload's last line is not PASS: {last!r}" if last else "workload printed nothing")

    # ---- teardown ------------------------------------------------------------
    def _cleanup(self) -> list:
        """Kill and reap every task this test started, whatever happened.
        Returns what the test left behind (a failure of a passing test)."""
        me = os.getpid()
        problems = []

        def ours():
            extra = [p for p in children(me) if p not in self.children_before and p not in self.engine.reaper.owned]
            return [p for root in self.roots + extra if root and proc_state(root) not in (None, "Z", "X")
                    for p in descendants(root) if proc_state(p) not in (None, "Z", "X")], extra

        if self.result.outcome == "passed":
            # Give what exits on its own (a pseudo-init, a helper told to
            # stop) a moment; whatever is still alive then was left behind.
            deadline = time.monotonic() + LEFTOVER_GRACE
            while ours()[0] and time.monotonic() < deadline:
                self.engine.reaper.reap_adopted()
                time.sleep(0.01)
            alive = sorted(set(ours()[0]))
            if alive:
                problems.append(f"left {len(alive)} task(s) running after it ended: "
                                + ", ".join(f"{p} ({_comm(p)})" for p in alive[:10]))
        self.engine.reaper.reap_adopted()
        _, extra = ours()
        killed = kill_trees(self.roots + extra)
        left = wait_gone(set(self.roots + extra + killed), GONE_TIMEOUT, self.engine.reaper)
        for p in list(self.engine.reaper.owned):
            if proc_state(p) is None:
                self.engine.reaper.owned.discard(p)
        if left:
            self.result.sections.append(("cleanup", f"tasks still present after SIGKILL: {left}"))
        if self.hook and self.result.started:
            # upstream's hook cleans what the test made outside its tasks
            # (cgroups, links, ...): once they are gone, before our checks.
            try:
                self._hook("--clean")
            except (PhaseFailure, Skip) as f:
                problems.append(str(f))
        mounts = [m for m in _mountpoints()
                  if any(m == str(d) or m.startswith(str(d) + "/") for d in (self.art, self.work))]
        if mounts:
            problems.append(f"left mounts behind: {' '.join(mounts)}")
            for m in reversed(mounts):
                _libc_umount(m)
        if self.rules_before is not None:
            left = _host_filter_rules() - self.rules_before
            if left:
                problems.append(f"left {len(left)} iptables rule(s) behind (removed): "
                                + "; ".join(f"{tool} {rule}" for tool, rule in sorted(left)[:4]))
                for tool, rule in left:
                    subprocess.run([tool, "-w", "-D", *rule.split()[1:]], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=30)
        taint = kernel_taint()
        if taint != self.taint_before:
            problems.append(f"kernel taint changed from {self.taint_before} to {taint} during the test "
                            f"(see dmesg)")
        for fd in self.tty_fds + list(self.inherit[1:] if self.inherit else ()):
            os.close(fd)
        for proc in self.exec_cmd_procs:      # criu turned --exec-cmd reaper
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            self.engine.reaper.owned.discard(proc.pid)
        if self.flavor is not None:
            self.flavor.teardown()
        return problems

    def _finish(self) -> None:
        r = self.result
        r.artifacts = str(self.art)
        if not self.art.exists():
            return
        keep = self.settings.keep_img
        if self.images.exists() and (keep == "never" or (keep == "failed" and r.outcome != "failed")):
            shutil.rmtree(self.images, ignore_errors=True)
        if not r.workload_lines:
            self._output_lines()
        if r.outcome == "failed":
            out = self.outfile if self.outfile.exists() else Path(str(self.outfile) + ".inprogress")
            r.sections.append((f"workload output {out}", "\n".join(_tail(out, 100000))))
            stdio = _tail(self.stdio, 100000)
            if stdio:
                r.sections.append((f"workload stdout/stderr {self.stdio}", "\n".join(stdio)))
        (self.art / "criu-commands.txt").write_text("".join(c + "\n" for c in r.criu_commands))
        data = {k: v for k, v in asdict(r).items() if k != "sections"}
        (self.art / "result.json").write_text(json.dumps(data, indent=2) + "\n")
