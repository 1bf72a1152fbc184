"""criu-ns: a drop-in wrapper around criu that restores into a fresh pid and
mount namespace, so a restore never collides with pids taken on the host
("pid mismatch"), and dumps such trees by entering their namespaces.

    zdtm criu-ns [--criu-bin PATH] [--criu-cmd "PREFIX... criu"] ACTION [criu args]
    python -m zdtm.criu_ns ...           (the same, without loading the CLI)

restore: the wrapper unshares a pid namespace; its first child (pid 1 there)
unshares a mount namespace, becomes a session leader, mounts a /proc for the
new pid namespace and runs `criu restore --restore-detached` as its child,
then stays as the pseudo-init: the parent of the restored tree, reaping, and
exiting with the restored root's status when it is gone. The wrapper's own
--restore-detached and --pidfile are handled here: the pidfile gets the
restored root's pid as the caller sees it. --restore-sibling is refused.

dump: the target's pid and mount namespaces are entered (setns), its pid is
translated (NSpid), a holder process keeps the pid namespace alive while criu
runs, and criu dumps the translated pid. Every other argument passes through.
"""
from __future__ import annotations

import ctypes
import os
import shlex
import signal
import sys
import time
from typing import Optional

from .procs import children, proc_ppid

CLONE_NEWNS = 0x00020000
CLONE_NEWPID = 0x20000000
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8

_libc = ctypes.CDLL(None, use_errno=True)


class CriuNsError(Exception):
    pass


def _check(ret: int, what: str) -> None:
    if ret != 0:
        err = ctypes.get_errno()
        raise CriuNsError(f"{what}: {os.strerror(err)}")


def unshare(flags: int) -> None:
    _check(_libc.unshare(flags), "unshare")


def setns(fd: int, nstype: int) -> None:
    _check(_libc.setns(fd, nstype), "setns")


def mount(source, target, fstype, flags, data=None) -> None:
    enc = lambda s: s.encode() if isinstance(s, str) else s   # noqa: E731
    _check(_libc.mount(enc(source), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)),
           f"mount {target}")


def _ns_id(pid, kind: str) -> str:
    return os.readlink(f"/proc/{pid}/ns/{kind}")


def nspids(pid) -> list:
    """The pid of a task in each pid namespace it is in, outermost first."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("NSpid:"):
                return [int(x) for x in line.split()[1:]]
    raise CriuNsError(f"pid {pid}: no NSpid in /proc/{pid}/status")


def namespace_home(host_pid: int) -> tuple:
    """(task whose pid and mount namespaces criu must run in, the target's
    pid there). A target that is the init of its own pid namespace (a
    container's init, our ns flavor's) is dumped from its parent's
    namespaces, where it is an ordinary task; any other target from its own."""
    levels = nspids(host_pid)
    owner = host_pid
    if levels[-1] == 1 and len(levels) > 1:
        owner = proc_ppid(host_pid)
    depth = len(nspids(owner))
    return owner, levels[depth - 1]


# ---- argument handling -------------------------------------------------------
def _take_option(args: list, names: tuple, has_value: bool) -> tuple:
    """Remove an option from args; (found, value)."""
    out, found, value, i = [], False, None, 0
    while i < len(args):
        a = args[i]
        hit = None
        for n in names:
            if a == n:
                hit = n
                if has_value:
                    value = args[i + 1] if i + 1 < len(args) else None
                    i += 1
                break
            if has_value and n.startswith("--") and a.startswith(n + "="):
                hit, value = n, a.split("=", 1)[1]
                break
            if has_value and not n.startswith("--") and a.startswith(n) and len(a) > len(n):
                hit, value = n, a[len(n):]
                break
        if hit:
            found = True
        else:
            out.append(a)
        i += 1
    args[:] = out
    return found, value


# ---- restore -------------------------------------------------------------------
def restore(criu_cmd: list, args: list) -> int:
    if _take_option(args, ("--restore-sibling",), False)[0]:
        raise CriuNsError("--restore-sibling is not supported by criu-ns")
    detached, _ = _take_option(args, ("--restore-detached", "-d"), False)
    _, pidfile = _take_option(args, ("--pidfile",), True)
    rfd, wfd = os.pipe()
    unshare(CLONE_NEWPID)
    init = os.fork()
    if init == 0:
        os.close(rfd)
        try:
            os._exit(_pseudo_init(criu_cmd, args, wfd))
        except BaseException as e:     # never return into the caller's code
            print(f"criu-ns: {e}", file=sys.stderr)
            os._exit(1)
    os.close(wfd)
    status = os.read(rfd, 1)
    os.close(rfd)
    if not status or status[0] != 0:
        _, st = os.waitpid(init, 0)
        return status[0] if status else (os.waitstatus_to_exitcode(st) or 1)
    restored = children(init)
    if len(restored) != 1:
        raise CriuNsError(f"expected one restored root under the pseudo-init {init}, found {restored}")
    if pidfile:
        tmp = f"{pidfile}.tmp{os.getpid()}"
        # Never through a name someone else planted (the dir may be the workload uid's).
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(f"{restored[0]}\n")
        os.replace(tmp, pidfile)
    if detached:
        return 0
    _, st = os.waitpid(init, 0)
    return os.waitstatus_to_exitcode(st)


def _pseudo_init(criu_cmd: list, args: list, report_fd: int) -> int:
    """pid 1 of the new pid namespace."""
    unshare(CLONE_NEWNS)
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    os.setsid()
    mount("proc", "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC)
    criu = os.fork()
    if criu == 0:
        os.close(report_fd)
        os.execvp(criu_cmd[0], criu_cmd + ["restore", "--restore-detached"] + args)
    _, st = os.waitpid(criu, 0)
    code = os.waitstatus_to_exitcode(st)
    os.write(report_fd, bytes([code & 0xff if code >= 0 else 128 + (-code & 0x7f)]))
    os.close(report_fd)
    if code != 0:
        return code
    # Let go of the caller's stdio: a caller reading criu's output until EOF
    # must not wait for the pseudo-init, which lives as long as the tree.
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    os.close(devnull)
    # The restored root was criu's child; criu exited, so it is ours now.
    # Reap everything until no child is left; exit with the root's status.
    root_status = 0
    roots = set(children(1))
    while True:
        try:
            pid, st = os.wait()
        except ChildProcessError:
            # Our death would SIGKILL everything left in the namespace: a
            # criu-ns dump's criu and holder may still be at work in it.
            if not _others_in_namespace():
                return root_status
            time.sleep(0.01)
            continue
        if pid in roots:
            root_status = os.waitstatus_to_exitcode(st)


def _others_in_namespace() -> bool:
    return any(e.isdigit() and e != "1" for e in os.listdir("/proc"))


# ---- dump ------------------------------------------------------------------------
def dump(criu_cmd: list, args: list, action: str = "dump") -> int:
    found, tree = _take_option(args, ("--tree", "-t"), True)
    if not found or not tree:
        raise CriuNsError(f"criu-ns {action}: -t/--tree PID is required")
    host_pid = int(tree)
    holder = None
    owner, target = namespace_home(host_pid)
    if _ns_id(owner, "pid") != _ns_id("self", "pid") or _ns_id(owner, "mnt") != _ns_id("self", "mnt"):
        pid_fd = os.open(f"/proc/{owner}/ns/pid", os.O_RDONLY)
        mnt_fd = os.open(f"/proc/{owner}/ns/mnt", os.O_RDONLY)
        setns(pid_fd, CLONE_NEWPID)
        # Keeps the pid namespace alive (with a task criu did not start)
        # while criu runs in it.
        holder = os.fork()
        if holder == 0:
            signal.pause()
            os._exit(0)
        setns(mnt_fd, CLONE_NEWNS)
        os.close(pid_fd)
        os.close(mnt_fd)
    try:
        criu = os.fork()
        if criu == 0:
            os.execvp(criu_cmd[0], criu_cmd + [action, "--tree", str(target)] + args)
        _, st = os.waitpid(criu, 0)
        return os.waitstatus_to_exitcode(st)
    finally:
        if holder:
            os.kill(holder, signal.SIGKILL)
            os.waitpid(holder, 0)


# ---- entry ---------------------------------------------------------------------------
def main(argv: Optional[list] = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    criu_cmd = None
    _, criu_bin = _take_option(argv, ("--criu-bin",), True)
    _, cmd = _take_option(argv, ("--criu-cmd",), True)
    if cmd:
        criu_cmd = shlex.split(cmd)
    elif criu_bin:
        criu_cmd = [criu_bin]
    else:
        from .provision import ProvisionError, find_criu
        try:
            criu_cmd = [str(find_criu(os.environ.get("ZDTM_CRIU_BIN"), log=lambda m: None))]
        except ProvisionError as e:
            print(f"criu-ns: {e}", file=sys.stderr)
            return 1
    if not argv:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 1
    action, rest = argv[0], argv[1:]
    try:
        if action == "restore":
            return restore(criu_cmd, rest)
        if action in ("dump", "pre-dump"):
            return dump(criu_cmd, rest, action)
        os.execvp(criu_cmd[0], criu_cmd + [action] + rest)
    except (CriuNsError, OSError) as e:
        print(f"criu-ns: {action}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
