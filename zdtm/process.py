"""The workload under the protocol: start it and wait until it is ready,
stop it with SIGTERM, and read its verdict (zdtm-protocol.md)."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import time

from .config import DEFAULT_START_TIMEOUT, DEFAULT_STOP_TIMEOUT, workload_env
from .diagnose import tree_report
from .outcome import PhaseFailure, Skip
from .procs import is_descendant, kill_trees, pidfd, proc_state, reap, wait_child, wait_gone, wait_pidfds
from .safeio import read_text



def strip_prefix(line: str) -> str:
    """Drop the conventional "HH:MM:SS.mmm: <pid>: " prefix."""
    return re.sub(r"^\d\d:\d\d:\d\d\.\d+: \d+: ", "", line)


def _skip_said(lines: list) -> None:
    last = lines[-1] if lines else ""
    m = re.search(r"\bSKIP:\s*(.*)", last)
    if m:
        raise Skip(f"workload: {m.group(1).strip()}")


def output_lines(run) -> list:
    """The workload's output (and what it printed before opening it), also
    kept in the result for the failure summary."""
    lines = run.paths.output_lines()
    stdio = [f"(stdout/stderr) {line}" for line in run.paths.stdio_lines() if line.strip()]
    run.result.workload_lines = (stdio + lines)[-40:]
    return lines


def _hang_details(run, where: str) -> str:
    said = output_lines(run)[-10:]
    return ("the tree when the time ran out (state, wchan, kernel stack, signals):\n" + where
            + "\n\nthe workload's last lines:\n" + ("\n".join(said) if said else "(nothing)"))


def _argv(run, exe) -> list:
    argv = list(exe.argv) + [f"--pidfile={run.paths.pidfile}", f"--outfile={run.paths.outfile}"]
    argv += [run.paths.workload_arg(a) for a in run.desc.args]
    if run.desc.inherit_fd:
        # The workload holds the read end; we keep the write end and a
        # second read end to hand to criu restore (--inherit-fd).
        r, w = os.pipe()
        run.inherit = (r, w, os.dup(r))
        os.set_inheritable(r, True)
        argv.append(f"--inhfd={r}")
    return argv


def _launch(run, exe, argv: list) -> subprocess.Popen:
    env = workload_env(suid=run.as_root)
    env.update(dict(exe.env))
    if env.pop("ZDTM_NEWNS", None) == "1":
        # zdtm.py's convention (an upstream binary): the flavor's to honour
        env = run.flavor.upstream_env(env, run.paths.art, run.workload.root.path.name)
    # The workload's library opens <outfile>.inprogress itself (upstream's
    # with O_EXCL); stdout/stderr before that go to a file of their own.
    fd = run.paths.open_stdio()
    run.paths.write("workload-command.txt", " ".join(argv) + "\n")
    try:
        return run.flavor.launch(argv, env, run.paths.work, fd, run.paths.art, run.drop_ids,
                                 pass_fds=(run.inherit[0],) if run.inherit else ())
    except OSError as e:
        raise PhaseFailure("start", f"cannot execute {argv[0]}: {e.strerror}") from None
    finally:
        os.close(fd)
        if run.inherit:
            os.close(run.inherit[0])


def start(run, exe) -> None:
    """Launch; the launcher exiting 0 means ready, the test's pid is in the pidfile."""
    timeout = run.settings.start_timeout or run.desc.timeout or DEFAULT_START_TIMEOUT
    t = time.monotonic()
    launcher = _launch(run, exe, _argv(run, exe))
    run.add_roots(launcher.pid)
    run.engine.reaper.owned.add(launcher.pid)
    try:
        # As upstream's zdtm.py: right after the launch, while the test
        # sets itself up (some wait for what this hook prepares).
        run.call_hook("post-start", timeout=timeout)
        rc = wait_child(launcher, timeout)
    except subprocess.TimeoutExpired:
        where = tree_report([launcher.pid])
        kill_trees([launcher.pid])
        launcher.wait()
        output_lines(run)
        raise PhaseFailure("start", f"workload did not become ready within {timeout:g}s "
                                    f"(its launcher, pid {launcher.pid}, never exited)",
                           details=_hang_details(run, where)) from None
    finally:
        if launcher.returncode is None:     # interrupted (Ctrl-C): don't leave it to Popen
            kill_trees([launcher.pid])
            launcher.wait()
        run.engine.reaper.owned.discard(launcher.pid)
    if rc != 0:
        _skip_said(output_lines(run))
        how = f"exited with {rc}" if rc > 0 else f"was killed by {signal.Signals(-rc).name}"
        raise PhaseFailure("start", f"workload {how} before becoming ready")
    _locate(run)
    run.result.timings["start"] = round(time.monotonic() - t, 4)


def _locate(run) -> None:
    try:
        run.test_ns_pid = int(read_text(run.paths.pidfile, 64).strip())
        root_pid, pid = run.flavor.locate(run.test_ns_pid)
    except (OSError, ValueError) as e:
        raise PhaseFailure("start", f"workload reported ready but its pidfile {run.paths.pidfile} "
                                    f"is unusable: {e}") from None
    if pid is None or proc_state(pid) is None:
        raise PhaseFailure("start", f"workload pid {run.test_ns_pid} from the pidfile does not exist")
    for p in (root_pid, pid):
        # The pidfile is the workload's: never dump or kill outside our tree.
        if not is_descendant(p):
            raise PhaseFailure("start", f"pid {p} from the pidfile {run.paths.pidfile} is not a task the "
                                        f"harness started")
    run.root_pid, run.pid = root_pid, pid
    run.add_roots(root_pid, pid)


def stop(run) -> None:
    """SIGTERM: the test checks its state, writes its verdict and exits."""
    if proc_state(run.pid) in (None, "Z"):
        reap(run.pid)
        raise PhaseFailure("stop", f"workload pid {run.pid} was gone before SIGTERM")
    fd = pidfd(run.pid)
    t = time.monotonic()
    timeout = run.desc.timeout or DEFAULT_STOP_TIMEOUT
    try:
        os.kill(run.pid, signal.SIGTERM)
        if fd is not None and not wait_pidfds([fd], timeout):
            raise PhaseFailure("stop", f"workload did not exit within {timeout:g}s of SIGTERM",
                               details=_hang_details(run, tree_report([run.root_pid])))
    finally:
        if fd is not None:
            os.close(fd)
    reap(run.pid)
    if run.root_pid != run.pid:
        # The flavor's init exits once the test process is gone.
        if wait_gone([run.root_pid], timeout, run.engine.reaper):
            raise PhaseFailure("stop", f"the tree's root (pid {run.root_pid}) did not exit after the test",
                               details=_hang_details(run, tree_report([run.root_pid])))
    run.result.timings["stop"] = round(time.monotonic() - t, 4)


def verdict(run) -> None:
    """Passes iff the last line of the output file says PASS."""
    if not run.paths.outfile.exists():
        output_lines(run)
        raise PhaseFailure("verify", f"workload exited without finishing its output file {run.paths.outfile}")
    lines = [line for line in output_lines(run) if line.strip()]
    last = lines[-1] if lines else ""
    if "PASS" in last:
        return
    _skip_said(lines)
    fails = [strip_prefix(line) for line in lines if re.search(r"\b(FAIL|ERR):", line)]
    raise PhaseFailure("verify", fails[0] if fails else
                       f"workload's last line is not PASS: {last!r}" if last else "workload printed nothing")
