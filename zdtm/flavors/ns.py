"""`ns` and `uns`: the workload runs under an init (pid 1) in new pid, mount,
net, ipc and uts namespaces (`uns`: and a user namespace), in a root the
harness prepares; criu dumps the tree from the init and restores it whole.

The workload itself needs no namespace code: nsinit.c (built by the harness)
creates the namespaces, prepares the mounts and runs the unmodified protocol
launcher inside.

The root (cached under the state dir, shared by all tests) holds only empty
mount points and symlinks; inside the mount namespace the init binds the
host's /usr and /etc (read-only), a private /dev and the harness's state dir
(at the same path, so work dirs, binaries and output files keep their paths)
into it. criu learns about those binds as external mounts.
"""
from __future__ import annotations

import fcntl
import os
import stat
import subprocess
from pathlib import Path
from typing import Optional

from ..config import under_tmp
from ..procs import descendants
from .base import Flavor

# Upstream's maps: inside uid 0..19999 -> host 20000..., 100000.. -> 200000...
UID_MAP = "0 20000 20000,100000 200000 50000"
GID_MAP = "0 400000 50000,50000 500000 100000"

RO_BINDS = ("/usr", "/etc")
MERGED_USR = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")
DEVICES = {  # name: (major, minor, mode)
    "null": (1, 3, 0o666), "zero": (1, 5, 0o666), "full": (1, 7, 0o666),
    "random": (1, 8, 0o666), "urandom": (1, 9, 0o666), "tty": (5, 0, 0o666),
    "net/tun": (10, 200, 0o666),
}


def map_id(host_map: str, inside: int) -> Optional[int]:
    """Host id of an id inside a user namespace with this map."""
    for line in host_map.split(","):
        first, lower, count = map(int, line.split())
        if first <= inside < first + count:
            return lower + inside - first
    return None


def ns_pid(host_pid: int) -> Optional[int]:
    """The pid of a task in its own (innermost) pid namespace."""
    try:
        with open(f"/proc/{host_pid}/status") as f:
            for line in f:
                if line.startswith("NSpid:"):
                    return int(line.split()[-1])
    except OSError:
        return None
    return None


class NamespaceFlavor(Flavor):
    name = "ns"
    description = "new pid, mount, net, ipc and uts namespaces under an init"
    userns = False

    def __init__(self, engine):
        self.engine = engine
        state = engine.settings.state_dir
        self.state = state
        self.root = state / "nsroot"
        self.dev = state / "nsdev"
        self.init_pidfile: Optional[Path] = None
        self.ext_mounts: list = []      # (name, host dir)

    # ---- preparation -------------------------------------------------------
    def unavailable(self, facts) -> Optional[str]:
        if under_tmp(self.state):
            return (f"the state dir {self.state} is under /tmp, where the init mounts a tmpfs of the "
                    f"test's own: choose another (ZDTM_DIR / --zdtm-dir)")
        if self.userns and not facts.userns:
            return f"user namespaces are not available ({facts.userns_detail})"
        return None

    def _binds(self) -> list:
        binds = [(p, p, True) for p in RO_BINDS]
        for d in MERGED_USR:
            host = Path("/") / d
            if host.is_dir() and not host.is_symlink():
                binds.append((str(host), str(host), True))
        binds.append((str(self.dev), "/dev", False))
        # The build dir (binaries, libraries, the init) and the work dirs, at
        # their own paths; not the whole state dir: criu mounts its cgroup
        # yard in the images dir under runs/ (--manage-cgroups), and a bind
        # source holding a mount cannot be bound in a user namespace.
        # The build dir read-only: a suid test is root inside, and root
        # outside runs what is built there.
        binds.append((str(self.state / "build"), str(self.state / "build"), True))
        binds.append((str(self.state / "w"), str(self.state / "w"), False))
        binds += [(str(src), f"/mnt/{name}", False) for name, src in self.ext_mounts]
        return binds

    def add_external_mount(self, name: str, host_dir: Path) -> None:
        """A host directory bound at /mnt/NAME inside: an external mount,
        which criu gets as --external mnt[...] on dump and restore."""
        self.ext_mounts.append((name, host_dir))
        mountpoint = self.root / "mnt" / name
        if not mountpoint.is_dir():
            with open(self.state / "nsroot.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                mountpoint.mkdir(parents=True, exist_ok=True)

    def _prepare(self) -> None:
        """Create the cached root and /dev once (under a lock)."""
        stamp = self.root / ".ready"
        if stamp.exists() and all((self.root / dst.lstrip("/")).is_dir() for _, dst, _ in self._binds()):
            return
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.state / "nsroot.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for _, dst, _ in self._binds():
                (self.root / dst.lstrip("/")).mkdir(parents=True, exist_ok=True)
            if stamp.exists():
                return
            for d in ("proc", "tmp", "dev"):
                (self.root / d).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / "tmp", 0o1777)
            for d in MERGED_USR:
                host = Path("/") / d
                target = self.root / d
                if host.is_symlink() and not target.is_symlink():
                    target.symlink_to(os.readlink(host))
            for _, dst, _ in self._binds():
                (self.root / dst.lstrip("/")).mkdir(parents=True, exist_ok=True)
            (self.dev / "pts").mkdir(parents=True, exist_ok=True)
            (self.dev / "net").mkdir(exist_ok=True)
            for name, (major, minor, mode) in DEVICES.items():
                node = self.dev / name
                if not node.exists():
                    os.mknod(node, stat.S_IFCHR | mode, os.makedev(major, minor))
                    os.chmod(node, mode)
            if not (self.dev / "ptmx").is_symlink():
                (self.dev / "ptmx").symlink_to("pts/ptmx")
            for p in (self.root, self.dev):
                os.chmod(p, 0o755)
            stamp.touch()

    # ---- identity ------------------------------------------------------------
    def host_ids(self, uid: int, gid: int) -> tuple:
        if not self.userns:
            return uid, gid
        return map_id(UID_MAP, uid), map_id(GID_MAP, gid)

    # ---- running ---------------------------------------------------------------
    def launch(self, argv: list, env: dict, cwd: Path, output, art: Path = None, drop_ids: bool = False,
               pass_fds=()):
        self._prepare()
        nsinit = self.engine.builder.tool(Path(__file__).with_name("nsinit.c"))
        self.init_pidfile = art / "init.pid"
        test_pidfile = next(a.split("=", 1)[1] for a in argv if a.startswith("--pidfile="))
        cmd = [str(nsinit), f"--root={self.root}", f"--init-pidfile={self.init_pidfile}",
               f"--test-pidfile={test_pidfile}", "--hostname=zdtm-" + self.name]
        if self.userns:
            cmd += ["--userns", f"--uid-map={UID_MAP}", f"--gid-map={GID_MAP}"]
        if drop_ids:
            cmd.append("--drop-ids")
        cmd += [f"--bind={src}:{dst}" + (":ro" if ro else "") for src, dst, ro in self._binds()]
        cmd += ["--", *argv]
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=output, stderr=output, close_fds=True, pass_fds=pass_fds)

    def locate(self, test_ns_pid: int) -> tuple:
        """(root of the tree to dump, host pid of the test process)."""
        init = int(self.init_pidfile.read_text())
        return init, self.find_test(init, test_ns_pid)

    def find_test(self, init: int, test_ns_pid: int) -> Optional[int]:
        for pid in descendants(init, include_self=False):
            if ns_pid(pid) == test_ns_pid:
                return pid
        return None

    same_pids_after_restore = False

    def _ext_key(self, dst: str) -> str:
        return "zdtm" + dst.replace("/", "_")

    def criu_opts(self, action: str) -> list:
        opts = []
        for src, dst, _ in self._binds():
            if action == "dump":
                opts += ["--external", f"mnt[{dst}]:{self._ext_key(dst)}"]
            else:
                opts += ["--external", f"mnt[{self._ext_key(dst)}]:{src}"]
        if action == "restore":
            opts += ["--root", str(self.root)]
        return opts


class UserNamespaceFlavor(NamespaceFlavor):
    name = "uns"
    description = "as ns, plus a user namespace (upstream's uid/gid maps)"
    userns = True
