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

Upstream's tests follow zdtm.py's convention instead (upstream_env): a root
of their own, writable, that they know as ZDTM_ROOT and may prepare from
outside in their "host stage"; their cwd is <root>/zdtm/static; and that
stage, criu and everything they mount outside run in a mount namespace of
the test's own standing for the host's (nsinit.c has the details).
"""
from __future__ import annotations

import fcntl
import os
import shutil
import stat
import subprocess
from pathlib import Path
from typing import Optional

from ..config import under_tmp
from ..outcome import PhaseFailure
from ..procs import descendants, ns_pid
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
    "autofs": (10, 235, 0o666),     # upstream's ns root has it (autofs)
}
# An upstream test's /etc is writable, as upstream's (its root's, empty
# there): our /etc's entries as symlinks into the host's, bound here
# (nsinit --etc-links).
HOST_ETC = "/.zdtm-host-etc"
# ZDTM_NEWNS inside the namespaces we made for an upstream test: set (its
# code before test_init() then knows it is inside), but neither 1 (its host
# stage, which nsinit runs) nor 2 (upstream's own ns init): test_init()
# leaves it alone.
INSIDE_NEWNS = "3"


def make_skeleton(root: Path, mountpoints) -> None:
    """A root's own content: mount points and merged-/usr symlinks."""
    for d in ("proc", "tmp", "dev", *(m.lstrip("/") for m in mountpoints)):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.chmod(root / "tmp", 0o1777)
    for d in MERGED_USR:
        host = Path("/") / d
        target = root / d
        if host.is_symlink() and not target.is_symlink():
            target.symlink_to(os.readlink(host))


def remove_root(root: Path) -> None:
    """A test's own root, unless something is still mounted under it here
    (rmtree would go into it; the mounts guard reports such leftovers)."""
    with open("/proc/self/mountinfo") as f:
        mounted = [line.split()[4] for line in f]
    if not any(m == str(root) or m.startswith(f"{root}/") for m in mounted):
        shutil.rmtree(root, ignore_errors=True)


def map_id(host_map: str, inside: int) -> Optional[int]:
    """Host id of an id inside a user namespace with this map."""
    for line in host_map.split(","):
        first, lower, count = map(int, line.split())
        if first <= inside < first + count:
            return lower + inside - first
    return None


class NamespaceFlavor(Flavor):
    name = "ns"
    description = "new pid, mount, net, ipc and uts namespaces under an init"
    userns = False

    def __init__(self, engine):
        super().__init__(engine)
        state = engine.settings.state_dir
        self.state = state
        self.root = state / "nsroot"
        self.dev = state / "nsdev"
        self.init_pidfile: Optional[Path] = None
        self.ext_mounts: list = []      # (name, host dir)
        self.plugin_mounts: set = set()  # their mountpoints inside, left to a criu plugin
        # An upstream test's (upstream_env): its root, its cwd there, the
        # holder of its mount namespace.
        self.own_root: Optional[Path] = None
        self.inner_cwd = ""
        self.work: Optional[Path] = None
        self.holder: Optional[subprocess.Popen] = None
        self.run_kdat: Optional[Path] = None    # the run's kerndat cache its /run shares (--kdat-run)

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

    def add_external_mount(self, name: str, host_dir: Path, tell_criu: bool = True) -> None:
        """A host directory bound at /mnt/NAME inside: an external mount,
        which criu gets as --external mnt[...] on dump and restore (unless
        not tell_criu: the test's criu plugin handles it, DUMP_EXT_MOUNT)."""
        self.ext_mounts.append((name, host_dir))
        if not tell_criu:
            self.plugin_mounts.add(f"/mnt/{name}")
        mountpoint = self.root / "mnt" / name
        if not mountpoint.is_dir():
            with open(self.state / "nsroot.lock", "a") as lock:
                fcntl.flock(lock, fcntl.LOCK_EX)
                mountpoint.mkdir(parents=True, exist_ok=True)

    def _prepare(self) -> None:
        """Create the cached root and /dev once (under a lock)."""
        stamp = self.root / ".ready"
        if stamp.exists() and all((self.root / dst.lstrip("/")).is_dir() for _, dst, _ in self._binds()) \
                and all(os.path.lexists(self.dev / name) for name in DEVICES):
            return
        self.state.mkdir(parents=True, exist_ok=True)
        with open(self.state / "nsroot.lock", "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            for _, dst, _ in self._binds():
                (self.root / dst.lstrip("/")).mkdir(parents=True, exist_ok=True)
            if not stamp.exists():
                make_skeleton(self.root, [dst for _, dst, _ in self._binds()])
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

    # ---- upstream's tests: zdtm.py's convention --------------------------------
    def upstream_env(self, env: dict, art: Path, subdir: str) -> dict:
        """An upstream test gets a root of its own (art/root), as zdtm.py's
        is: writable (its tests write into / and /etc), known to the test as
        ZDTM_ROOT, which its host stage prepares, with the test's cwd at
        /zdtm/SUBDIR (descs name /zdtm/static/...)."""
        self.own_root = art / "root"
        self.inner_cwd = f"/zdtm/{subdir}"
        env = dict(env, ZDTM_NEWNS=INSIDE_NEWNS, ZDTM_ROOT=str(self.own_root), ZDTM_DEV=str(self.dev))
        if "ZDTM_NOTIFY_FDIN" in env:
            # test_init() sets up the pre-dump notification only without it
            # (upstream's ns init does it for the test)
            del env["ZDTM_NEWNS"]
        if self.userns:
            env["ZDTM_USERNS"] = "1"
        return env

    def _own_binds(self) -> list:
        # the host's /etc at HOST_ETC: the test's /etc is its own (nsinit --etc-links)
        return [(src, HOST_ETC if dst == "/etc" else dst, ro) for src, dst, ro in self._binds()]

    def _prepare_own_root(self) -> None:
        """On the disk, as zdtm.py's (FIEMAP works there, not on a tmpfs:
        unlink_multiple_largefiles), mode 0777 (the test's uid writes
        there). Its /etc: see nsinit --etc-links."""
        root = self.own_root
        if root.exists():
            remove_root(root)
        root.mkdir()
        make_skeleton(root, [dst for _, dst, _ in self._own_binds()] + ["/etc", self.inner_cwd])
        os.chmod(root, 0o777)

    def _move_work_into_root(self, work: Path) -> None:
        """The work dir becomes the root's /zdtm/SUBDIR, part of the root
        mount as in upstream's root (a test that shares "/" and mounts in
        its cwd expects that to propagate: mntns_shared_bind). The harness
        reaches it through a symlink at the old path until teardown moves
        it back."""
        inner = self.own_root / self.inner_cwd.lstrip("/")
        inner.rmdir()               # made by the skeleton, empty
        os.rename(work, inner)
        work.symlink_to(inner)
        self.work = work

    def _move_work_back(self) -> None:
        work, self.work = self.work, None
        inner = self.own_root / self.inner_cwd.lstrip("/")
        if work is not None and work.is_symlink() and inner.is_dir():
            work.unlink()
            os.rename(inner, work)

    def _hold(self) -> None:
        """The test's mount namespace (nsinit --hold), until teardown closes
        its stdin. Nothing is mounted under the root there: criu binds it."""
        cmd = [str(self._nsinit()), "--hold"]
        if not self.engine.facts.kdat_cache:
            # criu's kerndat cache on a tmpfs /run of this namespace, seeded
            # with the run's copy: made during this boot by this run's criu
            # (a reboot or another criu build start a new one; criu itself
            # refuses a cache of another build). See nsinit --kdat-run.
            self.run_kdat = self.engine.run_dir / "criu.kdat"
            cmd.append(f"--kdat-run={self.run_kdat}")
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, close_fds=True)
        self.engine.reaper.owned.add(proc.pid)
        self.holder = proc
        said = proc.stdout.readline()
        if said != b"ready\n":
            proc.wait()
            raise PhaseFailure("start", "cannot make the test's own mount namespace: "
                                        + (said + proc.stdout.read()).decode(errors="replace").strip())
        proc.stdout.close()

    def _keep_kdat(self) -> None:
        """The cache criu wrote in this test's /run, for the next tests."""
        dest = self.run_kdat
        if dest.exists():
            return
        try:
            data = Path(f"/proc/{self.holder.pid}/root/run/criu.kdat").read_bytes()
        except OSError:
            return
        tmp = dest.with_name(f".criu.kdat-{os.getpid()}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, dest)

    def _mntns(self) -> str:
        return f"/proc/{self.holder.pid}/ns/mnt"

    def criu_wrapper(self):
        """An upstream test's criu runs in its own mount namespace, where its
        host stage put the sources of its external mounts, as upstream's
        criu runs where zdtm.py and that stage do."""
        if self.holder is None:
            return None
        enter = [str(self._nsinit()), f"--enter={self._mntns()}", "--"]
        return lambda argv, criu_bin: enter + list(argv)

    def teardown(self) -> None:
        if self.holder is not None:
            if self.run_kdat is not None:
                self._keep_kdat()
            self.holder.stdin.close()
            self.holder.kill()
            self.holder.wait()
            self.engine.reaper.owned.discard(self.holder.pid)
            self.holder = None
        if self.own_root is not None and self.own_root.exists():
            self._move_work_back()
            remove_root(self.own_root)

    # ---- running ---------------------------------------------------------------
    def _nsinit(self) -> Path:
        return self.engine.builder.tool(Path(__file__).with_name("nsinit.c"))

    def launch(self, argv: list, env: dict, cwd: Path, output, art: Path = None, drop_ids: bool = False,
               pass_fds=()):
        self._prepare()
        self.init_pidfile = art / "init.pid"
        test_pidfile = next(a.split("=", 1)[1] for a in argv if a.startswith("--pidfile="))
        cmd, root, binds = [str(self._nsinit())], self.root, self._binds()
        if self.own_root:
            self._prepare_own_root()
            self._move_work_into_root(cwd)
            self._hold()
            # The host stage runs in the work dir; inside, that is /zdtm/static
            # with what the stage mounted there.
            cmd += [f"--enter={self._mntns()}", "--own-root", "--timens", "--host-stage=ZDTM_NEWNS=1",
                    f"--cwd={self.inner_cwd}", f"--etc-links={HOST_ETC}"]
            # its files by that path too (upstream's library renames a
            # pidfile made in the cwd: the same mount)
            argv = [a.replace(f"={cwd}/", f"={self.inner_cwd}/", 1) for a in argv]
            test_pidfile = test_pidfile.replace(f"{cwd}/", f"{self.inner_cwd}/", 1)
            root, binds = self.own_root, self._own_binds()
            if env.get("ZDTM_BIND"):
                # upstream's .desc bind: that dir of the root a mount of its own
                # (mnt_ro_root makes "/" read-only and still writes its output there)
                inner = "/" + env["ZDTM_BIND"].strip("/")
                binds = binds + [(str(root) + inner, inner, False)]
        cmd += [f"--root={root}", f"--init-pidfile={self.init_pidfile}",
                f"--test-pidfile={test_pidfile}", "--hostname=zdtm-" + self.name]
        if self.userns:
            cmd += ["--userns", f"--uid-map={UID_MAP}", f"--gid-map={GID_MAP}"]
        if drop_ids:
            cmd.append("--drop-ids")
        cmd += [f"--bind={src}:{dst}" + (":ro" if ro else "") for src, dst, ro in binds]
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
        binds = self._binds()
        if self.own_root:
            binds = self._own_binds()      # the work dir is part of the root (/zdtm/static)
        for src, dst, _ in binds:
            if dst in self.plugin_mounts:
                continue
            if action == "dump":
                opts += ["--external", f"mnt[{dst}]:{self._ext_key(dst)}"]
            else:
                opts += ["--external", f"mnt[{self._ext_key(dst)}]:{src}"]
        if action == "restore":
            opts += ["--root", str(self.own_root or self.root)]
        return opts


class UserNamespaceFlavor(NamespaceFlavor):
    name = "uns"
    description = "as ns, plus a user namespace (upstream's uid/gid maps)"
    userns = True
