"""criu over its RPC: a stand-in for the criu binary that takes criu's
command line, turns it into one RPC request (criu_req with criu_opts), runs
`criu swrk FD` over a socketpair, waits for the answer and exits with
criu's verdict (the --rpc mode, zdtm/modes/rpc.py, puts it in front of
criu).

    python3 -I zdtm/criu_rpc.py --pycriu SITE [--pidfd-store-fd N] CRIU ACTION [criu args]
    python3 -I zdtm/criu_rpc.py --pycriu SITE --self-check

CRIU ACTION stay next to each other (a wrapper outside, criu-ns, splits the
command line at the criu path). Run as criu would be (the same uid and
capabilities): `criu swrk` inherits them. Only the standard library and
pycriu's generated rpc_pb2 (from SITE) are imported, so the system's python3
can run it as the workload's owner.

dump, pre-dump, restore and page-server go over RPC; for an action the RPC
has no request for (lazy-pages, dedup, check, ...) criu's command line runs
instead, said on stderr. An option the RPC cannot express is refused (exit
2: "--rpc cannot pass --xyz to criu"). The request is printed (stderr, which
the harness keeps next to criu's log); on success the restore's pidfile is
written from the answer. Exit status: 0, 1 when criu refused (its error
text and cr_errno printed), criu's own signal when it crashed.

--action-script has no RPC field: the request asks criu to notify its
client of every script stage (notify_scripts), and the client runs the
scripts itself with criu's environment (CRTOOLS_SCRIPT_ACTION,
CRTOOLS_IMAGE_DIR, CRTOOLS_INIT_PID from the dump's pid or the notify's),
answering success or failure. A --restore-sibling restore runs swrk as the
sibling of this client (CLONE_PARENT), so that the restored root is the
child of whoever runs the client, as of an RPC caller running swrk itself.
"""
from __future__ import annotations

import os
import platform
import select
import signal
import socket
import subprocess
import sys

REFUSED = 2
RPC_ACTIONS = {"dump": "DUMP", "pre-dump": "PRE_DUMP", "restore": "RESTORE", "page-server": "PAGE_SERVER_CHLD"}
SHORT = {"d": "restore-detached", "S": "restore-sibling", "s": "leave-stopped", "R": "leave-running",
         "t": "tree", "D": "images-dir", "o": "log-file", "v": "verbosity", "x": "ext-unix-sk", "r": "root",
         "j": "shell-job", "J": "join-ns", "l": "file-locks", "W": "work-dir", "L": "libdir",
         "M": "ext-mount-map", "h": "help", "V": "version"}
# criu option -> criu_opts field
FLAGS = {"leave-running": "leave_running", "leave-stopped": "leave_stopped", "shell-job": "shell_job",
         "file-locks": "file_locks", "tcp-established": "tcp_established", "tcp-close": "tcp_close",
         "skip-in-flight": "tcp_skip_in_flight", "evasive-devices": "evasive_devices",
         "link-remap": "link_remap", "force-irmap": "force_irmap", "auto-dedup": "auto_dedup",
         "track-mem": "track_mem", "weak-sysctls": "weak_sysctls", "display-stats": "display_stats",
         "mntns-compat-mode": "mntns_compat_mode", "unprivileged": "unprivileged",
         "skip-file-rwx-check": "skip_file_rwx_check", "enable-external-sharing": "ext_sharing",
         "enable-external-masters": "ext_masters", "lazy-pages": "lazy_pages", "restore-sibling": "rst_sibling",
         "tls": "tls", "tls-no-cn-verify": "tls_no_cn_verify", "restore-detached": None, "daemon": None,
         "page-server": None}
STRINGS = {"root": "root", "freeze-cgroup": "freeze_cgroup", "lsm-profile": "lsm_profile",
           "lsm-mount-context": "lsm_mount_context", "cgroup-props": "cgroup_props",
           "cgroup-props-file": "cgroup_props_file", "cgroup-yard": "cgroup_yard", "tls-cacert": "tls_cacert",
           "tls-cacrl": "tls_cacrl", "tls-cert": "tls_cert", "tls-key": "tls_key",
           "prev-images-dir": "parent_img", "config": "config_file"}
NUMBERS = {"tree": "pid", "timeout": "timeout"}
LISTS = {"external": "external", "skip-mnt": "skip_mnt", "enable-fs": "enable_fs",
         "irmap-scan-path": "irmap_scan_paths", "cgroup-dump-controller": "cgroup_dump_controller"}
# options handled one by one (_special), with whether they take a value
SPECIAL = {"images-dir": True, "work-dir": True, "log-file": True, "pidfile": True, "status-fd": True,
           "address": True, "port": True, "ghost-limit": True, "inherit-fd": True, "cgroup-root": True,
           "ext-mount-map": True, "join-ns": True, "empty-ns": True, "network-lock": True,
           "pre-dump-mode": True, "pidfd-store": False, "verbosity": None, "ext-unix-sk": None,
           "manage-cgroups": None, "action-script": True, "cpu-cap": None}
OPTIONAL_VALUE = {"verbosity", "ext-unix-sk", "manage-cgroups", "cpu-cap"}
WITH_VALUE = ({*STRINGS, *NUMBERS, *LISTS, "libdir", "close", "veth-pair", "action-script", "feature",
               "ps-socket", "file-validation"} | {k for k, v in SPECIAL.items() if v})
CG_MODES = {"none": "CG_NONE", "props": "PROPS", "soft": "SOFT", "full": "FULL", "strict": "STRICT",
            "ignore": "IGNORE"}
NS_FLAGS = {"net": 0x40000000}
# criu/include/cr_options.h: CPU_CAP_FPU, _CPU, _INS; criu's default is fpu,ins
CPU_CAPS = {"fpu": 1, "cpu": 2, "ins": 4, "all": 7}
CPU_CAP_DEFAULT = 5
CLONE_PARENT = 0x8000
SYS_CLONE = {"x86_64": 56, "aarch64": 220, "ppc64le": 120}     # clone(flags, stack, ...) there


class Refused(Exception):
    """An option (or action) criu's RPC cannot be asked for."""


def split_options(args: list) -> list:
    """criu's command line as [(name, value or None)], long names, no dashes.
    Raises Refused for what is not an option (a stray word)."""
    out, i = [], 0
    while i < len(args):
        a = args[i]
        i += 1
        if a == "--":           # the command of --exec-cmd
            out.append(("--", args[i:]))
            break
        if a.startswith("--"):
            name, eq, value = a[2:].partition("=")
            if not eq:
                value = None
                if name in WITH_VALUE and i < len(args):
                    value, i = args[i], i + 1
        elif a.startswith("-") and len(a) > 1 and a[1] in SHORT:
            name, value = SHORT[a[1]], a[2:] or None
            if value is None and name in WITH_VALUE and i < len(args):
                value, i = args[i], i + 1
        else:
            raise Refused(f"--rpc cannot pass the argument {a!r} to criu (not an option)")
        out.append((name, value))
    return out


def refusal(args: list) -> str:
    """Why these criu options cannot go over RPC, or "" (for the mode's skip)."""
    try:
        for name, value in split_options(list(args)):
            _check_known(name, value)
    except Refused as e:
        return str(e)
    return ""


def cpu_cap_bits(value) -> int:
    """criu's --cpu-cap[=VALUE] as criu_opts.cpu_cap (criu/config.c: the
    caps named are added to the default fpu,ins, '^' removes the next ones,
    'none' clears them all). criu's RPC always adds the image bit, so
    'none' (no cpuinfo image at all) cannot be said: Refused."""
    if value is None:
        return CPU_CAPS["all"]
    cap, inverse, rest = CPU_CAP_DEFAULT, False, value
    while rest:
        if rest[0] in "^,":
            inverse = rest[0] == "^" and not inverse
            rest = rest[1:]
            continue
        word = next((w for w in (*CPU_CAPS, "none") if rest.startswith(w)), None)
        if word is None:
            raise Refused(f"--cpu-cap={value}: criu would refuse it ('{rest}' is none of fpu cpu ins all none)")
        if word == "none":
            cap = CPU_CAPS["all"] if inverse else 0
        else:
            cap = cap & ~CPU_CAPS[word] if inverse else cap | CPU_CAPS[word]
        rest = rest[len(word):]
    if cap == 0:
        raise Refused(f"--rpc cannot pass --cpu-cap={value} to criu (criu's RPC always writes and checks "
                      f"the cpuinfo image, which 'none' turns off)")
    return cap


def _check_known(name: str, value) -> None:
    base = name[3:] if name.startswith("no-") and name[3:] in FLAGS else name
    if base in ("--", "exec-cmd"):
        return
    if base == "cpu-cap":
        cpu_cap_bits(value)
    if base in FLAGS or base in STRINGS or base in NUMBERS or base in LISTS or base in SPECIAL:
        if base == "restore-detached" and name != base:
            raise Refused("--rpc cannot pass --no-restore-detached to criu (criu's RPC always detaches)")
        return
    raise Refused(f"--rpc cannot pass --{name} to criu (criu's RPC has no field for it)")


def _size(value: str) -> int:
    mult = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(value[-1:].upper(), 1)
    return int(value[:-1] if mult > 1 else value) * mult


class Request:
    """criu_opts being filled from criu's command line."""

    def __init__(self, rpc, action: str):
        self.rpc, self.action = rpc, action
        self.opts = rpc.criu_opts(images_dir_fd=-1)
        self.images = self.work = self.log = self.pidfile = None
        self.detached = False
        self.keep_fds: list = []        # fds criu swrk inherits (--inherit-fd)
        self.pidfd_store_fd = None
        self.exec_cmd = False
        self.scripts: list = []         # --action-script: run here on criu's notify messages
        self.init_pid = None            # CRTOOLS_INIT_PID of those scripts

    def add(self, name: str, value) -> None:
        _check_known(name, value)
        negated = name.startswith("no-") and name[3:] in FLAGS
        base = name[3:] if negated else name
        o = self.opts
        if base == "--":
            o.exec_cmd.extend(value)
        elif base == "exec-cmd":
            self.exec_cmd = True
        elif base in FLAGS:
            if base in ("restore-detached", "daemon"):
                self.detached = True
            elif base == "page-server":
                o.ps.SetInParent()
            else:
                setattr(o, FLAGS[base], not negated)
        elif base in STRINGS:
            setattr(o, STRINGS[base], value)
        elif base in NUMBERS:
            setattr(o, NUMBERS[base], int(value))
        elif base in LISTS:
            getattr(o, LISTS[base]).append(value)
        else:
            self._special(base, value)

    def _special(self, name: str, value) -> None:
        o, rpc = self.opts, self.rpc
        if name in ("images-dir", "work-dir", "log-file", "pidfile"):
            setattr(self, {"images-dir": "images", "work-dir": "work", "log-file": "log"}.get(name, name), value)
        elif name == "verbosity":
            o.log_level = int(value) if value else 4
        elif name == "status-fd":
            o.status_fd = int(value)        # criu opens it in our fd table
        elif name == "address":
            o.ps.address = value
        elif name == "port":
            o.ps.port = int(value)
        elif name == "ghost-limit":
            o.ghost_limit = _size(value)
        elif name == "inherit-fd":
            fd, _, key = value.partition(":")
            entry = o.inherit_fd.add()
            entry.fd, entry.key = int(fd[3:-1]), key
            self.keep_fds.append(entry.fd)
        elif name == "cgroup-root":
            ctrl, sep, path = value.rpartition(":")
            entry = o.cg_root.add()
            entry.path = path
            if sep:
                entry.ctrl = ctrl
        else:
            self._special2(name, value, o, rpc)

    def _special2(self, name: str, value, o, rpc) -> None:
        if name == "ext-mount-map":
            if value == "auto":
                o.auto_ext_mnt = True
            else:
                key, _, val = value.partition(":")
                o.ext_mnt.add(key=key, val=val)
        elif name == "join-ns":
            ns, _, rest = value.partition(":")
            ns_file, comma, extra = rest.partition(",")
            entry = o.join_ns.add(ns=ns, ns_file=ns_file)
            if comma:
                entry.extra_opt = extra
        elif name == "empty-ns":
            if value not in NS_FLAGS:
                raise Refused(f"--rpc cannot pass --empty-ns {value} to criu (only net)")
            o.empty_ns = NS_FLAGS[value]
        elif name == "network-lock":
            o.network_lock = getattr(rpc, value.upper())
        elif name == "pre-dump-mode":
            o.pre_dump_mode = rpc.SPLICE if value == "splice" else rpc.VM_READ
        elif name == "manage-cgroups":
            o.manage_cgroups = True
            if value:
                o.manage_cgroups_mode = getattr(rpc, CG_MODES[value.lower()])
        elif name == "ext-unix-sk":
            o.ext_unix_sk = True
            for ino in (value or "").split(","):
                if ino:
                    o.unix_sk_ino.add(inode=int(ino))
        elif name == "cpu-cap":
            o.cpu_cap = cpu_cap_bits(value)
        elif name == "action-script":
            # criu's RPC has no script path: it notifies its client of each
            # stage instead (notify_scripts), and the client runs them.
            self.scripts.append(value)
            o.notify_scripts = True
        elif name == "pidfd-store":
            if self.pidfd_store_fd is None:
                raise Refused("--rpc cannot pass --pidfd-store to criu without a socket (--pidfd-store-fd)")
            o.pidfd_store_sk = self.pidfd_store_fd

    def finish(self) -> None:
        """The paths as fds of ours that criu opens through /proc (images,
        work dir), the log as a name in the work dir."""
        o = self.opts
        if self.images:
            o.images_dir_fd = self._dir_fd(self.images)
        work = self.work
        if self.log:
            log = self.log if os.path.isabs(self.log) else os.path.join(work or self.images or ".", self.log)
            work, o.log_file = os.path.dirname(log) or ".", os.path.basename(log)
        if work:
            o.work_dir_fd = self._dir_fd(work)
        if bool(o.exec_cmd) != self.exec_cmd or (self.exec_cmd and self.action != "restore"):
            raise Refused("--rpc: --exec-cmd goes with a restore and its command after --")
        if self.action == "restore" and not (self.detached or o.rst_sibling or self.exec_cmd):
            raise Refused("--rpc cannot restore without --restore-detached or --restore-sibling "
                          "(criu's RPC always detaches the restored tree)")
        if self.pidfile and self.action != "restore":
            raise Refused(f"--rpc cannot pass --pidfile to criu {self.action}")

    def _dir_fd(self, path: str) -> int:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
        self.keep_fds.append(fd)
        return fd


def _say(text: str) -> None:
    print(f"zdtm.criu_rpc: {text}", file=sys.stderr, flush=True)


def _exchange(sk, rpc, req):
    """Send a request, read the answer; None when criu swrk went away first."""
    try:
        sk.send(req.SerializeToString())
        size = len(sk.recv(1, socket.MSG_TRUNC | socket.MSG_PEEK))
        data = sk.recv(size) if size else b""
    except (ConnectionError, OSError) as e:
        _say(f"talking to criu swrk: {e}")
        return None
    if not data:
        return None
    resp = rpc.criu_resp()
    resp.ParseFromString(data)
    return resp


def _fork_sibling() -> int:
    """fork(), the child becoming our parent's (CLONE_PARENT)."""
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    pid = libc.syscall(SYS_CLONE[platform.machine()], CLONE_PARENT | signal.SIGCHLD, 0, 0, 0, 0)
    if pid < 0:
        raise OSError(ctypes.get_errno(), "clone(CLONE_PARENT)")
    return pid


def _spawn_swrk(criu: str, keep_fds: list, sibling: bool = False):
    """criu swrk over a fresh socketpair: (its pid, our end). sibling: swrk
    is made our parent's child, so that what it restores with
    --restore-sibling is the child of whoever ran this client (the harness),
    as it is of an RPC caller running swrk itself (upstream's harness):
    this client exits, and a root with a pdeath signal would get it."""
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    pid = _fork_sibling() if sibling else os.fork()
    if pid == 0:
        try:
            ours.close()
            for fd in [theirs.fileno(), *keep_fds]:
                os.set_inheritable(fd, True)
            os.execv(criu, [criu, "swrk", str(theirs.fileno())])
        finally:
            os._exit(127)
    theirs.close()
    return pid, ours


def _describe_failure(rpc, resp, action: str) -> str:
    if resp is None:
        return f"criu swrk ended without answering the {action} request"
    text = f"criu {action} over RPC failed"
    if resp.type != getattr(rpc, RPC_ACTIONS[action]):
        text += f" (answer of type {rpc.criu_req_type.Name(resp.type)})"
    if resp.HasField("cr_errno"):
        text += f": cr_errno {resp.cr_errno} ({os.strerror(resp.cr_errno)})"
    if resp.cr_errmsg:
        text += f": {resp.cr_errmsg.strip()}"
    return text


def _page_server(sk, rpc, resp, status_fd) -> int:
    """The page server runs as swrk's child: say it is ready, then wait for it."""
    _say(f"page server pid {resp.ps.pid}, port {resp.ps.port}")
    if status_fd is not None:
        os.write(status_fd, b"\0")
        os.close(status_fd)
    wait = _exchange(sk, rpc, rpc.criu_req(type=rpc.WAIT_PID, pid=resp.ps.pid))
    if wait is None or not wait.success:
        _say("criu swrk could not wait for the page server")
        return 1
    return os.waitstatus_to_exitcode(wait.status)


def _status_of(status: int, verdict: int) -> int:
    """criu swrk's own end: a crash is passed on as the same signal."""
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        _say(f"criu swrk was killed by {signal.Signals(sig).name}")
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
    code = os.waitstatus_to_exitcode(status)
    if code and not verdict:
        _say(f"criu swrk exited with {code} after a successful answer")
        return code
    return verdict


def _run_scripts(req: Request, stage: str) -> bool:
    """criu's notify of a stage: run the action scripts as criu would (in
    its order: the last given first), with its environment."""
    if stage == "query-ext-files":
        return True         # criu asks RPC clients only, no script of criu's runs there
    env = dict(os.environ, CRTOOLS_SCRIPT_ACTION=stage)
    if req.images:
        env["CRTOOLS_IMAGE_DIR"] = os.path.abspath(req.images)
    if req.init_pid:
        env["CRTOOLS_INIT_PID"] = str(req.init_pid)
    ok = True
    for script in reversed(req.scripts):
        rc = subprocess.run([script], env=env, stdin=subprocess.DEVNULL).returncode
        if rc:
            _say(f"action script {script} exited with {rc} at {stage}: telling criu it failed")
            ok = False
    return ok


def _on_notify(rpc, req: Request, note):
    """The answer to criu's notify message."""
    if note.HasField("pid"):
        req.init_pid = note.pid         # criu says it at setup-namespaces and post-restore
    ok = _run_scripts(req, note.script)
    _say(f"notify {note.script}" + (f" (pid {note.pid})" if note.HasField("pid") else "")
         + f": {'success' if ok else 'failure'}")
    return rpc.criu_req(type=rpc.NOTIFY, notify_success=ok)


def _wait_swrk(pid: int, sibling: bool) -> int:
    """swrk's wait status; a sibling's is our parent's to collect: its end
    is seen through a pidfd and taken as a clean exit."""
    if not sibling:
        return os.waitpid(pid, 0)[1]
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return 0
    try:
        select.select([fd], [], [])
    finally:
        os.close(fd)
    return 0


def run_rpc(rpc, criu: str, req: Request) -> int:
    action = req.action
    msg = rpc.criu_req(type=getattr(rpc, RPC_ACTIONS[action]), opts=req.opts)
    if action == "page-server":
        msg.keep_open = True
        ps_status = msg.opts.status_fd if msg.opts.HasField("status_fd") else None
        msg.opts.ClearField("status_fd")
    if action in ("dump", "pre-dump") and req.opts.HasField("pid"):
        req.init_pid = req.opts.pid
    _say(f"criu {action} over RPC (criu swrk), request:\n" + str(msg).rstrip())
    sibling = action == "restore" and req.opts.rst_sibling and platform.machine() in SYS_CLONE
    pid, sk = _spawn_swrk(criu, req.keep_fds, sibling)
    verdict = 1
    try:
        resp = _exchange(sk, rpc, msg)
        while resp is not None and resp.type == rpc.NOTIFY:
            resp = _exchange(sk, rpc, _on_notify(rpc, req, resp.notify))
        if resp is None or not resp.success:
            _say(_describe_failure(rpc, resp, action))
        elif action == "page-server":
            verdict = _page_server(sk, rpc, resp, ps_status)
        else:
            verdict = 0
            if action == "restore":
                _say(f"restored, root pid {resp.restore.pid}")
                if req.pidfile:
                    _write_pidfile(req.pidfile, resp.restore.pid)
                if req.exec_cmd:
                    _become(req, sk)
    finally:
        sk.close()
        status = _wait_swrk(pid, sibling)
    return _status_of(status, verdict)


def _become(req: Request, sk) -> None:
    """restore --exec-cmd: criu swrk has turned into the command, the
    restored tree's parent; the client does as criu's command line does and
    becomes the command too (the harness waits for its criu to exec it),
    then the parent of the swrk one."""
    cmd = list(req.opts.exec_cmd)
    _say(f"criu swrk runs {' '.join(cmd)} as the restored tree's parent; so does this client")
    sk.close()
    sys.stderr.flush()
    os.execv(cmd[0], cmd)


def _write_pidfile(path: str, pid: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
    with os.fdopen(fd, "w") as f:
        f.write(f"{pid}\n")


def _load_rpc(site: str):
    sys.path.insert(0, site)
    from pycriu import rpc_pb2         # noqa: E402 (from the site given)
    return rpc_pb2


def _take(argv: list, name: str):
    if name in argv:
        i = argv.index(name)
        value = argv[i + 1]
        del argv[i:i + 2]
        return value
    return None


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    site = _take(argv, "--pycriu")
    store = _take(argv, "--pidfd-store-fd")
    if argv[:1] == ["--self-check"]:
        rpc = _load_rpc(site)
        print(f"rpc_pb2 from {rpc.__file__}")
        return 0
    if len(argv) < 2 or not site:
        _say("usage: criu_rpc.py --pycriu SITE [--pidfd-store-fd N] CRIU ACTION [criu args]")
        return REFUSED
    criu, action, args = argv[0], argv[1], argv[2:]
    if action not in RPC_ACTIONS:
        _say(f"criu's RPC has no request for {action!r}: running criu's command line")
        os.execv(criu, [criu, action, *args])
    rpc = _load_rpc(site)
    req = Request(rpc, action)
    req.pidfd_store_fd = int(store) if store else None
    try:
        for name, value in split_options(args):
            req.add(name, value)
        req.finish()
    except Refused as e:
        _say(str(e))
        return REFUSED
    return run_rpc(rpc, criu, req)


if __name__ == "__main__":
    sys.exit(main())
