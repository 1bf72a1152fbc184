"""An existing upstream ZDTM tree (criu's test/zdtm) run by this harness.

A CRIU developer points us at a checkout (`--upstream DIR`); its static/ and
transition/ directories become test roots named upstream/static and
upstream/transition.  Upstream's own Makefile stays in charge of what it
knows: which tests exist ($(TST)), how each is built (its library, its
flags) and which arguments each gets (the recipe of NAME.pid).  The harness
then copies the binary into its build dir (so the ns flavors, whose root
only shows the state dir, can run it), starts it in a work dir of its own
(relative --filename/--dirname land there, not in the source tree) and
checkpoints and verifies it like any other workload.  NAME.checkskip and
NAME.hook are honoured as upstream's zdtm.py does; test/zdtm.desc's
exclusions become skips with that reason.
"""
from __future__ import annotations

import ast
import fcntl
import os
import re
import shlex
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Callable, Optional

from .. import check, hostwide, netns_tcp
from ..build import BuildError, Builder, Executable, digest
from ..desc import Desc
from ..guards.tasks import HOOK_ENV
from ..outcome import PhaseFailure, Skip
from ..provision import ProvisionError
from ..provision.pycriu import find_pycriu, provision_pycriu
from ..safeio import read_bytes
from ..workload import SuiteError, TestRoot, Workload
from .base import Hooks, WorkloadKind

SUBDIRS = ("static", "transition")
MAKE_TIMEOUT = 600
CHECKSKIP_TIMEOUT = 60
# Upstream's library switches to the protocol's ids itself. zdtm.py exports
# ZDTM_NEWNS=1 (and ZDTM_ROOT, ...) in its ns flavors: a binary then runs its
# "host stage" and clones itself into namespaces. Our ns flavors make the
# namespaces and run that stage (flavors/ns.py upstream_env); h gets none.
NEWNS_ENV = (("ZDTM_NEWNS", "1"),)
LIST_TARGET = "zdtm-harness-list-tests"


def zdtm_dir(path: Path) -> Path:
    """criu checkout, its test/ or test/zdtm/ -> the test/zdtm directory."""
    path = Path(path).resolve()
    for d in (path / "test" / "zdtm", path / "zdtm", path):
        if (d / "Makefile.inc").is_file() and (d / "static" / "Makefile").is_file():
            return d
    raise SuiteError(f"{path}: not a ZDTM tree (expected test/zdtm/Makefile.inc and "
                     f"test/zdtm/static/Makefile in a criu checkout)")


def _make(args: list, what: str, timeout: float = MAKE_TIMEOUT) -> str:
    cmd = ["make", "--no-print-directory", *args]
    env = dict(os.environ, MAKEFLAGS="", LC_ALL="C")
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=timeout, env=env)
    except FileNotFoundError:
        raise BuildError(f"{what}: 'make' not found (upstream trees are built with their Makefile)") from None
    except subprocess.TimeoutExpired as e:
        raise BuildError(f"{what}: {shlex.join(cmd)} timed out after {timeout:g}s",
                         e.output if isinstance(e.output, str) else "") from None
    if res.returncode != 0:
        tail = "\n".join(res.stdout.strip().splitlines()[-30:])
        raise BuildError(f"{what}: {shlex.join(cmd)} exited with {res.returncode}", tail)
    return res.stdout


@lru_cache(maxsize=None)
def _test_names(root: Path, makefile_mtime: float) -> frozenset:
    try:
        out = _make(["-s", "-C", str(root), "--eval", f"{LIST_TARGET}: ; @echo $(TST)", LIST_TARGET],
                    f"listing the tests of {root}", timeout=60)
    except BuildError as e:
        raise SuiteError(f"{e}\n{e.output}") from None
    return frozenset(out.split())


def test_names(root: Path) -> frozenset:
    """The tests upstream's Makefile declares ($(TST): no state tests)."""
    return _test_names(root, (root / "Makefile").stat().st_mtime)


def _exclusions(root: TestRoot) -> dict:
    """test/zdtm.desc's exclude list, for the tests of this root."""
    desc = root.path.parent.parent / "zdtm.desc"
    if not desc.is_file():
        return {}
    try:
        data = ast.literal_eval(desc.read_text())
        entries = list(data.get("exclude") or [])
    except (ValueError, SyntaxError, AttributeError, TypeError) as e:
        raise SuiteError(f"{desc}: cannot read upstream's exclusions: {e}") from None
    sub = root.path.name + "/"
    return {f"upstream/{e}": f"excluded by upstream's {desc.name}"
            for e in entries if isinstance(e, str) and e.startswith(sub)}


def test_dir(workload: Workload) -> Path:
    """The tree's test/ directory: where upstream's zdtm.py runs checkskips
    and hooks from (hooks get a stand-in of it: UpstreamHook)."""
    return workload.root.path.parent.parent


def _checkskip(workload: Workload) -> Optional[str]:
    """Upstream's NAME.checkskip: an executable that fails when the test
    cannot run here. Returns the skip reason, or None."""
    script = workload.root.path / f"{workload.source.stem}.checkskip"
    if not os.access(script, os.X_OK):
        return None
    try:
        res = subprocess.run([str(script)], cwd=test_dir(workload), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=CHECKSKIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"{script.name} did not finish within {CHECKSKIP_TIMEOUT}s"
    if res.returncode == 0:
        return None
    said = [line for line in res.stdout.strip().splitlines() if line.strip()]
    return f"{script.name} exited with {res.returncode}" + (f": {said[-1].strip()}" if said else "")


def _defines(root: Path, name: str) -> set:
    """The -D symbols upstream's Makefile adds to NAME's CFLAGS
    (`socket-tcp-nft-nfconntrack: CFLAGS += -D ZDTM_TCP_LOCAL ...`)."""
    found = set()
    try:
        text = (root / "Makefile").read_text(errors="replace")
    except OSError:
        return found
    for m in re.finditer(r"^([^\n:=#]+):\s*CFLAGS\s*\+=(.*)$", text, re.M):
        if name in m.group(1).split():
            found |= set(re.findall(r"-D\s*(\w+)", m.group(2)))
    return found


def _active_source(path: Path, defines: set) -> list:
    """The lines of a test's source its build compiles, as far as #ifdef
    and #ifndef of -D symbols decide (other conditions count as true)."""
    try:
        lines = path.read_text(errors="replace").splitlines()
    except OSError:
        return []
    stack, out = [], []
    for line in lines:
        d = re.match(r"\s*#\s*(ifdef|ifndef|if|elif|else|endif)\b\s*(\w*)", line)
        if not d:
            if all(stack):
                out.append(line)
            continue
        what, sym = d.groups()
        if what == "ifdef":
            stack.append(sym in defines)
        elif what == "ifndef":
            stack.append(sym not in defines)
        elif what == "if":
            stack.append(True)
        elif what in ("else", "elif") and stack:
            stack[-1] = (not stack[-1]) if what == "else" else True
        elif what == "endif" and stack:
            stack.pop()
    return out


def _machine_limit(workload: Workload) -> Optional[str]:
    """What this test needs from the machine that is not here, known
    before it runs: a device it opens by its fixed path (rtc: /dev/rtc), a
    command its source runs with system() (socket-tcp-nft-nfconntrack:
    nft), or a precondition of one test (MACHINE_NEEDS)."""
    name = workload.source.stem
    need = MACHINE_NEEDS.get(name)
    if need and (reason := need()):
        return reason
    code = "\n".join(_active_source(workload.source, _defines(workload.root.path, name)))
    for dev in check.DEVICES:
        if f'"{dev}"' in code and not os.path.exists(dev):
            return f"needs {dev} (its source opens it), which this machine does not have (see zdtm check)"
    for tool in sorted(set(re.findall(r'\bsystem\(\s*"([\w.+-]+)', code))):
        if not shutil.which(tool, path=SYSTEM_PATH):
            return f"needs the command '{tool}' (its source runs system(\"{tool} ...\")), not installed on this host"
    for kind in sorted(set(re.findall(r'system\(\s*"ip link add [^;\n]*?\btype (\w+)', code))):
        if (reason := check.link_type_missing(kind)):
            return reason
    return None


def _net_prio_unmounted() -> Optional[str]:
    reason = check.net_prio_missing()
    return reason and (f"{reason}: cgroup_ifpriomap then falls back to a string literal it later "
                       f"free()s (get_controller_name) and aborts after its PASS, its output never "
                       f"finished, which upstream's zdtm.py fails as well")


def _pid1_ns_closed() -> Optional[str]:
    reason = check.pid1_ns_denied()
    return reason and (f"{reason}: cgroupns setns()es into pid 1's cgroup namespace, which upstream's "
                       f"zdtm.py (in zdtm_ct's pid namespace, flavor h) makes its own")


# What single upstream tests change by themselves between the outside
# check's snapshot and the dump, or after the restore, with the reason.
_TCPBUF = (("fd.*.flags", "its heartbeat loop sets O_NONBLOCK on its socket while it fills the send "
                          "buffer (fill_sock_buf) and clears it again, at any moment, for a long while "
                          "after a restore: the flags at the dump need not be those seen before"),)
VOLATILE = {name: _TCPBUF for name in ("socket-tcpbuf", "socket-tcpbuf6", "socket-tcpbuf-local", "socket-tcpbuf6-local")}
VOLATILE["fd_from_pidfd"] = (("fd.5", "its child closes the pipe's write end (fd 5) after fork() without the "
                                      "parent waiting for it: under load that happens after the snapshot, "
                                      "before or after the dump (seen once in 1153 tests with --sibling)"),)

# Upstream tests dumped only once their TCP connections are quiet
# (netns_tcp.wait_quiet), as zdtm.py's dumps happen to find them, with the reason.
_TCPBUF_QUIET = (
    "criu restores an established TCP socket with an MSS of 524 (soccr.c connect()s the repaired socket, "
    "which sizes the MSS, before TCP_REPAIR_OPTIONS sets the dumped mss_clamp; tests/static/tcp_mss00.c). "
    "This test keeps its receive buffers at the edge of the kernel's memory squeeze: without criu too "
    "its client's segments are dropped and retransmitted. Dumped while segments are in flight (criu's "
    "network lock drops their ACKs), the restored client retransmits them in 524-byte segments into the "
    "server's nearly full buffer; both ends then advertise a retracted zero window and reject the "
    "other's window updates as beyond it (TcpExtBeyondWindow in the hang report; netdev 2026 'tcp: "
    "implement RFC 7323 window retraction receiver requirements'), and the test never stops (1 run in "
    "3 under load, dumped at once). zdtm.py's dump comes ~0.13 s after ready, behind criu's uncached "
    "kernel probe, when the test's first burst is over and nothing is in flight: its dumps find the "
    "client's data all unsent (8 of 8 here), and so do ours now")
QUIET_TCP = {name: _TCPBUF_QUIET for name in ("socket-tcpbuf-local", "socket-tcpbuf6-local")}
# how long a QUIET_TCP test may take to get there before it is dumped anyway
QUIET_TCP_TIMEOUT = 5.0


def _binfmt_misc_dies() -> Optional[str]:
    reason = check.binfmt_misc_unmounted()
    return reason and (f"{reason}: binfmt_misc (flavor ns: no user namespace, so the host's instance, "
                       f"which criu does not dump, filesystems.c binfmt_misc_dump) loses the entries it "
                       f"registered when the dump ends its mount namespace; it passes with a host mount")


def _tun_closed_to_userns() -> Optional[str]:
    reason = check.tun_closed_to_others()
    return reason and (f"{reason}: criu restores the test's tun devices from inside its user namespace, "
                       f"whose root (not the host's) cannot open it ('tun: Can't open tun device: "
                       f"Permission denied'); upstream's zdtm.py fails it the same way")


# Preconditions of single upstream tests in one flavor on the machine.
FLAVOR_MACHINE_NEEDS = {("tun_ns", "uns"): _tun_closed_to_userns}

# Preconditions of single upstream tests on the machine (zdtm check shows them).
MACHINE_NEEDS = {"cgroup_ifpriomap": _net_prio_unmounted, "cgroupns": _pid1_ns_closed,
                 "binfmt_misc": _binfmt_misc_dies}


def _start_args(root: Path, name: str) -> tuple:
    """The workload arguments of upstream's NAME.pid recipe, minus the
    --pidfile/--outfile the harness gives itself."""
    out = _make(["-n", "-C", str(root), "--eval", f".PHONY: {name}.pid", f"{name}.pid"],
                f"{root.name}/{name}: reading its start command")
    found = _parse_start_commands(root, out, [name])
    if name not in found:
        raise BuildError(f"{root.name}/{name}: upstream's Makefile has no start command for {name}.pid", out)
    return found[name]


def _parse_start_commands(root: Path, out: str, names: list) -> dict:
    """{name: args} from `make -n NAME.pid ...` output (the last command
    that runs each test's binary)."""
    wanted = {}
    for name in names:
        for spelling in (f"./{name}", name, str(root / name)):
            wanted[spelling] = name
    found = {}
    for line in out.splitlines():
        try:
            words = shlex.split(line)
        except ValueError:
            continue
        if words and words[0] in wanted:
            found[wanted[words[0]]] = tuple(w for w in words[1:] if not w.startswith(("--pidfile=", "--outfile=")))
    return found


# Per process: every test's start command of a root read in one `make -n`,
# and the tree's lib made once; a test whose binary is newer than what it is
# built from then costs no make at all. Keyed by the Makefile's mtime: an
# edited Makefile is read again.
_PREPARED: dict = {}
# The run's selection per root (UpstreamKind.will_run): the first test of a
# root builds them all at once with make -j, as zdtm.py builds its tree.
_SELECTED: dict = {}


def _prepare_root(root: Path) -> dict:
    """{name: start args} of every test of root."""
    key = (str(root), (root / "Makefile").stat().st_mtime)
    if key in _PREPARED:
        return _PREPARED[key]
    names = sorted(test_names(root))
    with _tree_lock(root.parent):
        lib = root.parent / "lib"
        if (lib / "Makefile").is_file():
            _make(["-C", str(lib)], f"building {lib} with upstream's Makefile")
        stale = [n for n in sorted(_SELECTED.get(str(root), ())) if not _up_to_date(root, n)]
        if len(stale) > 1:
            try:    # -k: a test that does not build says so in its own build
                _make(["-C", str(root), f"-j{os.cpu_count() or 1}", "-k", *stale],
                      f"building the selected tests of {root}")
            except BuildError:
                pass
        try:
            out = _make(["-n", "-C", str(root), "--eval", ".PHONY: " + " ".join(f"{n}.pid" for n in names),
                         *[f"{n}.pid" for n in names]], f"reading the start commands of {root}")
            found = _parse_start_commands(root, out, names)
        except BuildError:
            found = {}      # each test's own reading says what is wrong
    _PREPARED[key] = found
    return found


def _up_to_date(root: Path, name: str) -> bool:
    """Is NAME's binary newer than its source, the Makefiles and the tree's lib?"""
    try:
        built = (root / name).stat().st_mtime
        inputs = [root / f"{name}.c", root / "Makefile", root.parent / "Makefile.inc"]
        inputs += list((root.parent / "lib").glob("*.a"))
        return all(p.stat().st_mtime <= built for p in inputs if p.exists()) and os.access(root / name, os.X_OK)
    except OSError:
        return False


def _protocol_env(workload: Workload, desc: Desc) -> tuple:
    """What upstream's zdtm.py and test library say through the environment
    besides the ids: the pre-dump notification fds of a pre-dump-notify test
    (zdtm.py's numbers; the library makes pipes there, without them such a
    test stops waiting at once: "Fd criu_status_in is not initialized"), and
    ZDTM_NOREAP when the test asks its ns init not to reap (upstream's init
    is the test binary itself, which sees the test's own setenv; ours, nsinit,
    sees only what it is started with), and ZDTM_BIND (the .desc's bind)."""
    env = []
    if desc.bind:        # the ns flavors bind that dir of the root onto itself
        env.append(("ZDTM_BIND", desc.bind))
    if "pre-dump-notify" in desc.flags:
        env += [("ZDTM_NOTIFY_FDIN", "100"), ("ZDTM_NOTIFY_FDOUT", "101")]
    try:
        if re.search(r'setenv\(\s*"ZDTM_NOREAP"', workload.source.read_text(errors="replace")):
            env.append(("ZDTM_NOREAP", "1"))
    except OSError:
        pass
    return tuple(env)


@contextmanager
def _tree_lock(top: Path):
    """One make at a time per tree, whatever state dir the harness uses
    (every test's rule also makes ../lib): a lock on the directory itself."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _build(builder: Builder, workload: Workload) -> Executable:
    root, name = workload.root.path, workload.source.stem
    prepared = _prepare_root(root)
    binary = root / name
    with _tree_lock(root.parent):
        if not _up_to_date(root, name):
            _make(["-C", str(root), name], f"building {workload.name} with upstream's Makefile")
        args = prepared[name] if name in prepared else _start_args(root, name)
        if not os.access(binary, os.X_OK):
            raise BuildError(f"{workload.name}: upstream's Makefile made no executable {binary}")
        content = binary.read_bytes()
    # Short: some tests name UNIX sockets after their own path (108 bytes).
    key = "u-" + digest(content)

    def stage(tmp: Path):
        (tmp / name).write_bytes(content)
        os.chmod(tmp / name, 0o755)

    out = builder.build_once(key, stage)
    return Executable((str(out / name), *args), NEWNS_ENV)



# A test that changes its own binary (dumpable02: chmod(argv[0], 0111), then
# execs it as another uid) runs a copy in its work dir, as upstream's tests
# run from their own writable directory: not the shared build cache, which
# the ns flavors' root shows read-only.
OWN_COPY = 'cp "$0" "./${0##*/}" && exec "./${0##*/}" "$@"'


def _changes_own_binary(workload: Workload) -> bool:
    try:
        return re.search(r"\bchmod\(\s*argv\[0\]", workload.source.read_text(errors="replace")) is not None
    except OSError:
        return False


# Hooks run python3 and ip from the system (pyenv's python3 lacks the modules).
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
HOOK_POLL = 0.05
# A hook that adds devices in the host's network namespace.


class UpstreamHook(Hooks):
    """Upstream's NAME.hook, called as its zdtm.py does (--post-start while
    the test starts, --pre-dump, --pre-restore, --post-restore, --clean), as
    root. Its cwd is the test's own stand-in for the tree's test/ directory
    (_hook_dir), so that what upstream's hooks read relative to it is there:
    zdtm/<static|transition>/NAME.pid (.pid.inprogress while the test starts)
    with the host pid of the tree's root, as upstream's pidfiles hold it, and
    ../lib, the tree's lib/. Two runs of one tree never share them, and
    nothing lands in the tree. Python hooks find the provisioned pycriu."""

    present = True

    def __init__(self, path: Path, tree: Path, subdir: str):
        self.path, self.tree, self.subdir = path, tree, subdir
        self.pycriu_error: Optional[str] = None
        self.links: Optional[set] = None     # the host's links before --post-start
        self.host_net = None                 # the host-wide lock of hooks adding host links
        self.files: Optional[SharedCwd] = None

    def call(self, stage: str, *, root_pid, log: Path, timeout: float,
             images: Optional[Path] = None) -> None:
        arg = f"--{stage}"
        cwd = self._hook_dir(log.parent)
        pidfile = cwd / "zdtm" / self.subdir / f"{self.path.stem}.pid"
        starting = pidfile.with_name(pidfile.name + ".inprogress")
        pid = root_pid()
        _unlink(starting)
        # As upstream's: NAME.pid once the test is ready, gone with the tree
        # (after the dump, at the end); NAME.pid.inprogress while it starts.
        if stage in ("post-start", "pre-restore", "clean") or not pid:
            _unlink(pidfile)
        else:
            _write_pid(pidfile, pid)
        if stage == "post-start":
            self._take_host_net()
        if stage == "clean":
            self._give_output(log.parent, pidfile.with_suffix(".out"))
        try:
            rc, output = self._run(arg, cwd, log, timeout, self._env(pid, images, log),
                                   (starting, root_pid) if stage == "post-start" else None)
            with open(log, "a") as f:
                f.write(f"$ {self.path.name} {arg}\n{output}[exit {rc}]\n")
                if stage == "clean":
                    self._remove_links(f)
        finally:
            if stage == "clean":
                _unlink(pidfile.with_suffix(".out"))      # the copy _give_output made
                self.files.unmirror()
                _end_daemons(str(log.parent), log)
            if stage == "clean" and self.host_net is not None:
                self.host_net.close()
                self.host_net = None
        if rc != 0:
            self._fail(arg, rc, output, timeout)

    @staticmethod
    def _give_output(art: Path, dest: Path) -> None:
        """Upstream's --clean hooks may read the test's finished output as
        zdtm/<subdir>/NAME.out (mnt_ext_sharing): a copy from its work dir."""
        try:
            dest.write_bytes(read_bytes(art / "work" / dest.name))
        except OSError:
            pass

    def _take_host_net(self) -> None:
        """A hook making devices of fixed names in the host's netns (cr_veth,
        cr_veth02, macvlan: zdtm.py gives each test a netns of its own, zdtm_ct)
        runs alone on the host, from --post-start to --clean."""
        self.links = _host_links()
        try:
            if self.host_net is None and hostwide.ADDS_HOST_LINKS.search(self.path.read_bytes()):
                self.host_net = hostwide.lock(hostwide.HOST_LINKS)
                self.links = _host_links()
        except OSError:
            pass

    def _remove_links(self, log) -> None:
        """Links named zdtm* the hooks made on the host and left (cr_veth's
        bridge zdtmbr0): zdtm_ct's netns would take them away; here they
        would break the next test's hook (macvlan: "File exists")."""
        if self.links is None or self.host_net is None:
            return
        for name in sorted(n for n in _host_links() - self.links if n.startswith("zdtm")):
            try:
                res = subprocess.run(["ip", "link", "del", name], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, text=True, timeout=30)
                said = f"exit {res.returncode} {res.stdout.strip()}"
            except (OSError, subprocess.SubprocessError) as e:
                said = str(e)
            log.write(f"(zdtm) removed the host link {name} the hook left: {said}\n")

    def _hook_dir(self, art: Path) -> Path:
        """art/hook-tree/test: the hook's cwd; art/hook-tree/lib: the tree's
        lib/. Its zdtm/<subdir> stands for the test's cwd (SharedCwd)."""
        top = art / "hook-tree"
        sub = top / "test" / "zdtm" / self.subdir
        sub.mkdir(parents=True, exist_ok=True)
        if self.files is None:
            self.files = SharedCwd(art / "work", sub, self.path.stem)
        lib = self.tree.parent / "lib"
        if lib.is_dir() and not (top / "lib").is_symlink():
            (top / "lib").symlink_to(lib)
        return top / "test"

    def _env(self, pid: Optional[int], images: Optional[Path], log: Path) -> dict:
        env = dict(os.environ)
        # What the hook leaves running (a daemon it forks) carries this:
        # the tasks guard knows it from the test's own tasks.
        env[HOOK_ENV] = str(log.parent)
        paths = [SYSTEM_PATH, env.get("PATH", "")]
        pycriu = self._pycriu(log)
        if pycriu:
            paths.insert(0, str(pycriu.crit.parent))
            env["PYTHONPATH"] = ":".join(p for p in (str(pycriu.site), env.get("PYTHONPATH")) if p)
        env["PATH"] = ":".join(p for p in paths if p)
        if pid:
            env["ZDTM_TEST_PID"] = str(pid)
        if images is not None:
            # upstream's: the directory of the iterations' image dirs (1/, 2/, ...)
            env["ZDTM_IMG_DIR"] = str(images.parent)
        return env

    def _pycriu(self, log: Path):
        """The provisioned pycriu (provisioned now if this hook imports it)."""
        found = find_pycriu()
        if found or self.pycriu_error is not None:
            return found
        try:
            if b"pycriu" not in self.path.read_bytes():
                return None
            with open(log, "a") as f:
                return provision_pycriu(log=lambda m: print(m, file=f, flush=True))
        except (OSError, ProvisionError) as e:
            self.pycriu_error = str(e).splitlines()[0]
            return None

    def _run(self, arg: str, cwd: Path, log: Path, timeout: float, env: dict, starting) -> tuple:
        """(exit status or None on timeout, output). starting: (pidfile,
        root_pid) to write the pid into as soon as it is known."""
        with tempfile.TemporaryFile(dir=log.parent) as out:
            proc = subprocess.Popen([str(self.path), arg], cwd=cwd, env=env,
                                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
            deadline = time.monotonic() + timeout
            while True:
                self.files.mirror()
                if starting and (pid := starting[1]()):
                    _write_pid(starting[0], pid)
                    starting = None
                try:
                    rc = proc.wait(timeout=HOOK_POLL)
                    break
                except subprocess.TimeoutExpired:
                    if time.monotonic() > deadline:
                        proc.kill()
                        proc.wait()
                        rc = None
                        break
            self.files.mirror()
            out.seek(0)
            return rc, out.read().decode(errors="replace")

    def _fail(self, arg: str, rc: Optional[int], output: str, timeout: float) -> None:
        missing = re.search(r"^(?:ModuleNotFoundError: No module named '([^']+)'|"
                            r"ImportError: cannot import name '[^']+' from (?:partially initialized module )?"
                            r"'([^']+)')", output, re.M)
        if missing:
            module = missing.group(1) or missing.group(2)
            why = f"; provisioning it failed: {self.pycriu_error}" if module == "pycriu" and self.pycriu_error else ""
            raise Skip(f"{self.path.name} needs the Python module '{module}', not usable here "
                       f"({missing.group(0)[:160]}){why}")
        how = f"did not finish within {timeout:g}s" if rc is None else f"exited with {rc}"
        said = [line for line in output.strip().splitlines() if line.strip()]
        raise PhaseFailure("hook", f"{self.path.name} {arg} {how}" + (f": {said[-1].strip()}" if said else ""),
                           details=output)


def _end_daemons(art: str, log: Path) -> None:
    """Kill what the hooks of this test left running (marked HOOK_ENV, e.g.
    netns_lock_*'s TCP server, "closed when zdtm sends SIGKILL"): upstream's
    zdtm_ct ends them with its pid namespace. Noted in the hook's log."""
    mark = f"{HOOK_ENV}={art}".encode()
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if mark not in f.read().split(b"\0"):
                    continue
            os.kill(int(d), 9)
            found.append(int(d))
        except OSError:
            continue
    for pid in found:
        try:
            os.waitpid(pid, 0)          # ours: the harness is their subreaper
        except ChildProcessError:
            pass
    if found:
        with open(log, "a") as f:
            f.write(f"(zdtm) killed what the hooks left running, as zdtm.py's pid namespace would: {found}\n")


class SharedCwd:
    """Upstream's tests and hooks share one directory, test/zdtm/static:
    the test's cwd and, seen from the hook's cwd, zdtm/static. Files one
    leaves there for the other (net_lock_socket_*: the test writes
    socket_lock.sync, its hook waits for it; netns_lock_*: the hook writes
    net_lock.sync, the test waits for it) appear on the other side as
    symlinks, made while a hook runs; the harness's own files there (the
    pidfiles, the output) are not shared, nor directories. The links made
    in the test's dir are removed at --clean."""

    def __init__(self, work: Path, hook_side: Path, stem: str):
        self.work, self.hook_side = work, hook_side
        self.own = (f"{stem}.pid", f"{stem}.out", f"{stem}.stdio")
        self.seen: set = set()          # (side, name) already mirrored
        self.made: list = []            # links made in the test's dir
        self.given: list = []           # links made in the hook's

    def _files(self, d: Path) -> list:
        try:
            return [e.name for e in os.scandir(d) if e.is_file(follow_symlinks=False)
                    and not e.name.startswith(self.own) and not e.name.startswith(".")]
        except OSError:
            return []

    def mirror(self) -> None:
        # A hook that removes what it read (socket_lock.sync) removes it.
        for link in [link for link in self.given if not os.path.lexists(link)]:
            self.given.remove(link)
            _unlink(self.work / link.name)
        for src, dst in ((self.work, self.hook_side), (self.hook_side, self.work)):
            for name in self._files(src):
                if (dst, name) in self.seen or os.path.lexists(dst / name):
                    continue
                self.seen.add((dst, name))
                self.seen.add((src, name))
                try:
                    (dst / name).symlink_to(src.resolve() / name)
                except OSError:
                    continue
                (self.made if dst == self.work else self.given).append(dst / name)

    def unmirror(self) -> None:
        for link in self.made:
            if link.is_symlink():
                _unlink(link)
        self.made = []


def _host_links() -> set:
    try:
        return set(os.listdir("/sys/class/net"))
    except OSError:
        return set()


def _write_pid(path: Path, pid: int) -> None:
    # Whole or absent, as upstream's write_pidfile (the hooks poll for it).
    tmp = path.with_name(f".{path.name}.{os.getpid()}")
    tmp.write_text(str(pid))
    os.replace(tmp, path)


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


class UpstreamKind(WorkloadKind):
    """A test of an existing ZDTM tree: upstream/static/NAME, upstream/transition/NAME."""

    name = "upstream"
    root_kind = "upstream"
    shared_work_dir = True         # e.g. thread_different_uid_gid finishes its output as uid 12

    def tree_roots(self, path: Path, name: Optional[str]) -> list:
        top = zdtm_dir(path)
        return [TestRoot(f"upstream/{sub}", top / sub, self.root_kind)
                for sub in SUBDIRS if (top / sub / "Makefile").is_file()]

    def exclusions(self, root: TestRoot) -> dict:
        return _exclusions(root)

    def candidates(self, root: TestRoot) -> list:
        return [root.path / f"{n}.c" for n in sorted(test_names(root.path))]

    def is_test(self, root: TestRoot, path: Path) -> bool:
        return path.suffix == ".c" and path.stem in test_names(root.path)

    def will_run(self, workloads: list) -> None:
        for w in workloads:
            _SELECTED.setdefault(str(w.root.path), set()).add(w.source.stem)

    def build(self, builder: Builder, workload: Workload, desc: Desc) -> Executable:
        exe = _build(builder, workload)
        argv = exe.argv
        if _changes_own_binary(workload):
            argv = ("/bin/sh", "-c", OWN_COPY, *argv)
        return Executable(argv, exe.env + _protocol_env(workload, desc))

    def skip_reason(self, workload: Workload) -> Optional[str]:
        return _checkskip(workload) or _machine_limit(workload)

    def hooks(self, workload: Workload) -> Hooks:
        hook = workload.root.path / f"{workload.stem}.hook"
        if not os.access(hook, os.X_OK):
            return super().hooks(workload)
        return UpstreamHook(hook, test_dir(workload), workload.root.path.name)

    def flavor_skip_reason(self, workload: Workload, flavor: str) -> Optional[str]:
        need = FLAVOR_MACHINE_NEEDS.get((workload.source.stem, flavor))
        return need() if need else None

    def settle(self, workload: Workload) -> Optional[Callable[[int], str]]:
        why = QUIET_TCP.get(workload.source.stem)
        if not why:
            return None

        def quiet(pid: int) -> str:
            quiet, waited, looks = netns_tcp.wait_quiet(pid, QUIET_TCP_TIMEOUT)
            state = {True: "its TCP connections quiet (nothing in flight or moving, the server waiting "
                           "for its peer)",
                     False: "its TCP connections never quiet, dumped anyway",
                     None: "ss could not look into its netns, dumped at once"}[quiet]
            return f"settle: {state} after {waited:.3f} s ({looks} looks); why: {why}"
        return quiet

    def outside_ignore(self, workload: Workload) -> tuple:
        """What the outside check must not compare for this test (it changes
        it by itself while it runs, see VOLATILE)."""
        return tuple(item for item, _ in VOLATILE.get(workload.source.stem, ()))

    def criu_opts(self, builder: Builder, workload: Workload, desc: Desc, criu_bin: Optional[str]) -> list:
        # Upstream's crlib tests keep their criu plugin beside them.
        opts = ["--libdir", str(workload.root.path)] if "crlib" in desc.flags else []
        return opts + _test_dir_paths(desc.opts)


# criu resolves a relative path from its work dir, the images dir, which
# upstream's zdtm.py makes test/dump/zdtm/<subdir>/NAME/PID/N: six levels
# below test/, the cwd of its hooks. Ours is art/img/N, two below the
# test's artifacts dir, where art/hook-tree/test is the hook's cwd.
UPSTREAM_IMG_DEPTH = 6
HOOK_CWD_FROM_IMAGES = "../../hook-tree/test/"


def _test_dir_paths(opts) -> list:
    """Options of the .desc whose value names a path in upstream's test/ as
    seen from its images dir (cgroup_yard: --cgroup-yard
    ../../../../../../external_yard, which its --post-start hook mounts),
    given again (criu keeps the last) with that path in the hook's cwd."""
    out = []
    up = "../" * UPSTREAM_IMG_DEPTH
    for opt, value in zip(opts, list(opts[1:]) + [""]):
        if opt.startswith("--") and value.startswith(up) and not value[len(up):].startswith("../"):
            out += [opt, HOOK_CWD_FROM_IMAGES + value[len(up):]]
    return out
