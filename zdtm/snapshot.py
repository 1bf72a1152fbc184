"""Verification from outside the workload: what /proc shows of a task tree.

`snapshot_tree(pid)` records, for every task of the tree rooted at pid, the
state a checkpoint/restore must preserve as far as /proc shows it;
`diff(before, after)` compares two snapshots and returns short readable lines
(empty list: the same). The harness takes one snapshot before the dump and one
after the restore; a workload's own verdict checks the inside, this checks the
outside.

    before = snapshot_tree(pid)
    ... criu dump / criu restore ...
    lines = diff(before, snapshot_tree(pid), ignore=("fd.5.pos",))   # e.g. from the .desc

Tasks are matched by their position in the tree, not by pid: the root is
`0`, its children (ordered by pid) `0.0`, `0.1`, their children `0.1.0`, …
Lines name the task as `pid 1234 (pipe00) [0.1]: <item> <before> -> <after>`.

Ignore vocabulary
-----------------
Every difference has a dotted item name; an `ignore` entry drops the
differences whose name is that entry or starts with it followed by a dot
(`fd` drops `fd.5.pos`; `fd.5` drops everything about fd 5; `fd.5.pos` only
its offset). Entries with `*`/`?` are shell patterns matched against the
whole name (`fd.*.pos`).

    tree            shape and identity of the tree:
      tree.task       a task missing after restore / a new task
      tree.pid        the pid as the workload sees it (innermost pid ns)
      tree.comm       process name
      tree.threads    thread count, thread ids, thread names
      tree.ppid, tree.pgid, tree.sid   relative: a tree position or "outside"
      tree.state      alive, stopped (T/t) or zombie (Z/X)
    fd              open files:   fd.N (missing/new), fd.N.target,
                                  fd.N.flags, fd.N.pos, fd.N.info (kind-specific fdinfo)
    maps            memory maps:  maps.<name>, name = a path, [heap], [stack],
                                  [vdso], anon (private), [shared-anon], …
    mounts          mount table of the task's mount namespace: mounts.<mountpoint>
    creds           creds.uid, creds.gid, creds.groups, creds.capinh, creds.capprm,
                    creds.capeff, creds.capbnd, creds.capamb, creds.nonewprivs,
                    creds.seccomp, creds.umask
    cwd, root       working and root directory
    signals         signals.sigblk, signals.sigpnd (per thread), signals.shdpnd,
                    signals.sigign, signals.sigcgt
    rlimits         rlimits.nofile, rlimits.stack, … (RLIMIT_* names, lower case)
    sched           sched.nice, sched.policy, sched.rt_priority

A category that cannot be read on one side (task gone, permission) is
reported under the category's own name ("fd unreadable after restore: …").

What is recorded as it is not (each rule's reason is at the code, search "Canon")
--------------------------------------------------------------------------------
* pids: tasks matched by tree position; ppid/pgid/sid recorded as positions
  ("outside" for tasks not in the tree, e.g. the root's parent, which is
  whoever adopted the restored tree); tids compared relative to their pid,
  threads in order leader first, then by tid in their pid namespace.
* epoll targets: a set of (events, data); the fd number a registration
  was made with is dropped.
* fd targets "pipe:[123]", "socket:[9]", …: "pipe#1", numbered by first
  sighting in the tree, which keeps which fds share one object; fdinfo
  flags without O_LARGEFILE and O_DIRECTORY; fdinfo mnt_id/ino and per-kind
  ids dropped; eventfd counters not compared in a tree with POSIX timers.
* a task with SIGEV_THREAD timers: its threads on both sides only, its
  anonymous private mappings (their stacks) not compared.
* maps: dev/inode dropped; adjacent VMAs of the same kind merged; [vvar*]
  dropped and [vdso] by size only; shared anonymous memory as
  "[shared-anon]", anonymous hugetlb memory as "[anon-hugetlb]".
* the offset of a write-only O_APPEND fd: moving forward (the file grew)
  is not a difference.
* deleted files: criu's temporary names ("x.cr.1.ghost (deleted)",
  "x.cr_link (deleted)") as the original "x (deleted)"; a deleted file
  seen under several names before the dump (hard links) matches any of them.
* autofs mounts: pgrp= and pipe_ino= of their super options.
* mounts: ids become structure (parent mount point), peer groups named
  after their first mount point ("shared:/t"), devices dropped. A task in
  our own mount namespace (the h flavor) records "host" rather than the
  table: that table is the machine's, criu does not checkpoint it and other
  tests change it concurrently (host_mounts=True records it anyway).
* signals: stop signals pending on a task in group stop dropped.
* zombies: only their state is compared.

Known criu deviations
---------------------
Some differences a program can observe are how criu restores on purpose
(upstream's tests accept them): the O_TMPFILE flag of an unnamed temporary
file (TMPFILE_LOST), an inotify watch on an unlinked file (WATCH_ON_DELETED_LOST).
They are reported like any difference, with Difference.accepted set to the
reason; summarize_accepted() gives one line per reason.
"""
from __future__ import annotations

import errno
import fnmatch
import os
import re
import signal
import time
from dataclasses import asdict, dataclass, field
from typing import Callable, Iterable, Mapping, Optional, Union

__all__ = ["snapshot_tree", "diff", "differences", "format_differences", "summarize_accepted", "Difference",
           "TreeSnapshot", "TaskSnap", "ThreadSnap", "Fd", "Mount", "TMPFILE_LOST", "WATCH_ON_DELETED_LOST"]

PidTranslate = Union[None, Callable[[int], int], Mapping[int, int]]

# Canon: O_LARGEFILE (0100000 on x86-64/arm64) is forced on by open() on
# 64-bit kernels but not set by pipe()/socket()/eventfd(), so it depends on
# how an fd was created, and criu creates some differently from the program
# (e.g. the second end of a pipe reopened through /proc/self/fd). On 64-bit
# it changes nothing a program can observe. Everything else in f_flags
# (access mode, O_APPEND, O_NONBLOCK, O_DIRECT, O_NOATIME, O_CLOEXEC, O_PATH,
# …) criu restores, and it is compared.
O_LARGEFILE = 0o100000
# Canon: O_DIRECTORY only makes open() itself fail on a non-directory; it has
# no effect on the open file afterwards. criu reopens directories without it.
O_DIRECTORY = 0o200000
FLAGS_IGNORED = O_LARGEFILE | O_DIRECTORY
# __O_TMPFILE: open() made an unnamed file; see TMPFILE_LOST.
O_TMPFILE_BIT = 0o20000000

# readlink of pipes, sockets, namespaces, pidfds …: "kind:[inode]"
_INODE_LINK = re.compile(r"^([A-Za-z_][\w-]*):\[(\d+)\]$")
# Canon: criu restores a file that was deleted while open from a "ghost"
# copy it creates as "<path>.cr.<id>.ghost" and unlinks again; should the
# link read "/tmp/x.cr.3.ghost (deleted)" after restore, that is "/tmp/x (deleted)".
_GHOST = re.compile(r"\.cr\.[0-9a-f]+\.ghost( \(deleted\))$")
# Canon: criu restores a deleted file that still has a link elsewhere (a
# "link remap") by linking it back at its old path, opening it there and
# unlinking it again; when a new file has taken that path meanwhile, it
# links it at "<path>.cr_link" instead (files-reg.c: "Strictly speaking,
# this is cheating, file name shouldn't change"). A deleted file has no
# name any more: "/tmp/x.cr_link (deleted)" is "/tmp/x (deleted)".
_CR_LINK = re.compile(r"\.cr_link( \(deleted\))$")
# Canon: shared anonymous memory (MAP_SHARED|MAP_ANONYMOUS, or MAP_SHARED of
# /dev/zero) is a shmem file the kernel names "/dev/zero (deleted)"; criu
# restores it from a memfd of that name, which reads "/memfd:/dev/zero
# (deleted)". Same memory, same sharing between tasks: both are recorded as
# "[shared-anon]".
_SHMEM_NAMES = frozenset({"/dev/zero (deleted)", "/memfd:/dev/zero (deleted)"})
_SHMEM = "[shared-anon]"
# Canon: likewise anonymous hugetlb memory (MAP_ANONYMOUS|MAP_HUGETLB) is a
# hugetlbfs file the kernel names "/anon_hugepage (deleted)"; criu restores
# the shared kind from a hugetlb memfd of that name ("/memfd:/anon_hugepage
# (deleted)"; upstream's maps09, maps10). Both are "[anon-hugetlb]", shared
# or private as the perms say.
_HUGETLB_NAMES = frozenset({"/anon_hugepage (deleted)", "/memfd:/anon_hugepage (deleted)"})
_HUGETLB = "[anon-hugetlb]"

# Canon: the kernel's vvar pages (data of the vDSO; [vvar], and on 6.x also
# [vvar_vclock]) are not dumped: criu maps the restoring kernel's vvar and
# vdso and may place them differently (it "remaps" them next to each other,
# or keeps the old vdso as a proxy if the kernel's vdso changed). Nothing a
# program can observe depends on where vvar is, so vvar is not recorded at
# all; the vdso is recorded by presence and size only (a task that lost its
# vdso, or got a different one, is a real difference), not by address.
_VVAR = frozenset({"[vvar]", "[vvar_vclock]"})
# private anonymous memory, whose offsets mean nothing (maps shows 0)
_ANON = frozenset({"", "[heap]", "[stack]"})

_RLIMIT_NAMES = {
    "Max cpu time": "cpu", "Max file size": "fsize", "Max data size": "data",
    "Max stack size": "stack", "Max core file size": "core",
    "Max resident set": "rss", "Max processes": "nproc",
    "Max open files": "nofile", "Max locked memory": "memlock",
    "Max address space": "as", "Max file locks": "locks",
    "Max pending signals": "sigpending", "Max msgqueue size": "msgqueue",
    "Max nice priority": "nice", "Max realtime priority": "rtprio",
    "Max realtime timeout": "rttime",
}
_STATES = {"T": "stopped", "t": "stopped", "Z": "zombie", "X": "zombie"}
_CRED_KEYS = ("Uid", "Gid", "Groups", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb",
              "NoNewPrivs", "Seccomp", "Umask")
_PROC_SIG_KEYS = ("ShdPnd", "SigIgn", "SigCgt")     # shared by all threads
_THREAD_SIG_KEYS = ("SigBlk", "SigPnd")             # per thread
# Canon: the protocol libraries block SIGTERM and wait for it with
# sigsuspend()/sigwait(), which lift the block only while waiting: whether a
# thread is inside that wait at the moment we look is timing, not state.
SIGTERM_BIT = 1 << 14
# Canon: a stop signal (SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU) sent to a task
# already in group stop stays pending, but can never act: a stopped task
# runs again only on SIGCONT, which discards every pending stop signal (or
# dies of SIGKILL). criu restores the stop, not such a leftover signal.
STOP_SIGNAL_BITS = sum(1 << (s - 1) for s in (signal.SIGSTOP, signal.SIGTSTP, signal.SIGTTIN, signal.SIGTTOU))
# kind-specific fdinfo lines worth keeping (ids, inodes, timers' remaining
# time are not: they change on restore or with time)
_FDINFO_KEEP = ("eventfd-count", "eventfd-semaphore", "sigmask", "clockid", "settime flags",
                "it_interval")
_EVENTFD_COUNT = "eventfd-count:"
_LIBC_TIMER_SIGNAL = 32     # the C library's own, below SIGRTMIN as programs see it

# Known criu deviations: differences a program can observe, which criu makes
# on purpose or cannot avoid, and which upstream's own tests accept. They
# are marked (Difference.accepted, the reason) rather than dropped: the
# harness reports them as warnings for upstream's tests, failures for ours.
TMPFILE_LOST = ("criu restores an unnamed temporary file (O_TMPFILE) as a ghost file, opened without "
                "that flag (files-reg.c): F_GETFL no longer shows it, and the file, now an ordinary "
                "unlinked one, can no longer be linked in with linkat()")
WATCH_ON_DELETED_LOST = ("criu restores an inotify watch on an unlinked file through a temporary "
                         "ghost/link-remap file; the watch is gone once criu removes that file")


@dataclass
class ThreadSnap:
    tid: int
    vtid: int
    comm: str = ""
    signals: dict = field(default_factory=dict)     # SigBlk/SigPnd -> int
    error: Optional[str] = None


@dataclass
class Fd:
    target: str
    flags: Optional[int] = None
    pos: Optional[int] = None
    info: tuple = ()
    watched: dict = field(default_factory=dict)     # inotify: wd -> file key (see _file_key)


@dataclass
class Mount:
    mountpoint: str
    parent: str         # the parent's mount point ("" if outside the table)
    root: str
    options: str
    propagation: str    # canonical: "shared:1 master:2", "" for private
    fstype: str
    source: str
    superoptions: str


@dataclass
class TaskSnap:
    pid: int
    pos: str = ""
    vpid: int = 0
    comm: str = ""
    ppid: int = 0
    pgid: int = 0
    sid: int = 0
    state: str = "alive"      # alive | stopped | zombie
    # relative to the tree: a position or "outside"
    rel: dict = field(default_factory=dict)
    threads: list = field(default_factory=list)
    fds: dict = field(default_factory=dict)         # fd number -> Fd
    maps: list = field(default_factory=list)        # (start, end, perms, offset, name)
    mntns: Optional[str] = None                     # canonical ns key into TreeSnapshot.mounts
    creds: dict = field(default_factory=dict)
    signals: dict = field(default_factory=dict)     # process-wide signal masks
    cwd: str = ""
    root: str = ""
    rlimits: dict = field(default_factory=dict)
    sched: dict = field(default_factory=dict)
    posix_timers: int = 0                           # how many (not compared; see _Comparison)
    thread_timers: int = 0                          # of them, SIGEV_THREAD ones (see _thread_pairs)
    deleted_files: list = field(default_factory=list)   # [(fd target or map name, file key)]
    errors: dict = field(default_factory=dict)      # category -> message


@dataclass
class TreeSnapshot:
    root_pid: int
    tasks: list = field(default_factory=list)       # TaskSnap in tree (preorder) order
    mounts: dict = field(default_factory=dict)      # mntns key -> [Mount] or error str
    deleted: dict = field(default_factory=dict)     # file key -> names of a deleted file in the tree
    taken: float = 0.0                              # time.time()
    duration: float = 0.0                           # seconds spent taking it

    def task(self, pos: str) -> Optional[TaskSnap]:
        for t in self.tasks:
            if t.pos == pos:
                return t
        return None

    def as_dict(self) -> dict:
        """Plain data (for result.json / artifacts)."""
        return asdict(self)

    def deleted_aliases(self) -> dict:
        """{name: the name compared instead} for deleted files seen under
        several names (hard links, all unlinked); a name two different
        files bore is left as it is."""
        owners: dict = {}
        for names in self.deleted.values():
            for name in names:
                owners[name] = owners.get(name, 0) + 1
        out = {}
        for names in self.deleted.values():
            own = [n for n in names if owners[n] == 1]
            if len(own) > 1:
                out.update({n: min(own) for n in own})
        return out


# ---------------------------------------------------------------- reading

def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _err(e: OSError) -> str:
    name = errno.errorcode.get(e.errno or 0, "error")
    return f"{name}: {e.strerror}" if e.strerror else name


def _status(text: str) -> dict:
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(":")
        out[k] = v.strip()
    return out


def _children(pid: int, tids: list) -> list:
    out = []
    for tid in tids:
        try:
            out.extend(int(x) for x in _read(f"/proc/{pid}/task/{tid}/children").split())
        except OSError:
            pass
    return out


def _innermost(nspid: str, default: int) -> int:
    parts = nspid.split()
    return int(parts[-1]) if parts else default


def _canon_path(p: str) -> str:
    if not p.endswith(" (deleted)"):
        return p
    if p in _SHMEM_NAMES:
        return _SHMEM
    if p in _HUGETLB_NAMES:
        return _HUGETLB
    return _CR_LINK.sub(r"\1", _GHOST.sub(r"\1", p))


def _file_key(dev: int, ino: int) -> str:
    """A file's identity within one snapshot ("major:minor:inode")."""
    return f"{os.major(dev)}:{os.minor(dev)}:{ino}"


def _is_deleted_file(name: str) -> bool:
    """Is name (canonical) a deleted file? Not anonymous or memfd memory."""
    return name.endswith(" (deleted)") and not name.startswith("/memfd:")


def _read_fds(pid: int, t: TaskSnap) -> None:
    base = f"/proc/{pid}"
    try:
        names = os.listdir(base + "/fd")
    except OSError as e:
        t.errors["fd"] = _err(e)
        return
    for name in sorted(names, key=int):
        try:
            target = os.readlink(f"{base}/fd/{name}")
        except OSError:
            continue        # closed meanwhile
        fd = Fd(_canon_path(target))
        try:
            _parse_fdinfo(fd, _read(f"{base}/fdinfo/{name}"))
        except OSError:
            pass
        if _is_deleted_file(fd.target):
            try:
                st = os.stat(f"{base}/fd/{name}")
            except OSError:
                pass
            else:
                t.deleted_files.append((fd.target, _file_key(st.st_dev, st.st_ino)))
        t.fds[int(name)] = fd


def _parse_fdinfo(fd: Fd, info: str) -> None:
    extra, tfds = [], []
    for line in info.splitlines():
        k, _, v = line.partition(":")
        v = v.strip()
        if k == "pos":
            fd.pos = int(v)
        elif k == "flags":
            fd.flags = int(v, 8) & ~FLAGS_IGNORED
        elif k in _FDINFO_KEEP:
            extra.append(f"{k}: {' '.join(v.split())}")
        elif k == "tfd":
            # epoll: "tfd: 5 events: 19 data: 5  pos:0 ino:.. sdev:.." -> events
            # and data; ino/sdev name the file by inode (changes). Canon: the
            # fd number a registration was made with is seen only here
            # (epoll_wait reports events and data); it outlives that fd, and
            # criu registers the file under whatever fd it restored it at.
            m = re.match(r"\s*\d+\s+events:\s*(\S+)\s+data:\s*(\S+)", v)
            tfds.append(f"tfd events {m.group(1)} data {m.group(2)}" if m else line)
        elif k == "inotify wd":
            m = re.match(r"(\d+).*?\bmask:(\S+)", v)
            extra.append(f"inotify wd {m.group(1)} mask {m.group(2)}" if m else line)
            m = re.match(r"(\d+)\s+ino:([0-9a-f]+)\s+sdev:([0-9a-f]+)", v)
            if m:   # sdev is the kernel's dev_t: major above bit 20
                sdev = int(m.group(3), 16)
                fd.watched[int(m.group(1))] = _file_key(os.makedev(sdev >> 20, sdev & 0xfffff),
                                                        int(m.group(2), 16))
    # Canon: fdinfo lists epoll targets in the kernel's rbtree order, which
    # follows file addresses and so changes on restore: compare as a set.
    fd.info = tuple(extra + sorted(tfds))


def _read_timers(pid: int, t: TaskSnap) -> None:
    try:
        lines = _read(f"/proc/{pid}/timers").splitlines()
    except OSError:
        return      # no CONFIG_CHECKPOINT_RESTORE: counted as none
    t.posix_timers = sum(line.startswith("ID:") for line in lines)
    # glibc (and musl) run SIGEV_THREAD timers through a helper thread that
    # their internal signal 32 wakes: "signal: 32/<sigev_value>"
    t.thread_timers = sum(line.startswith(f"signal: {_LIBC_TIMER_SIGNAL}/") for line in lines)


def _read_maps(pid: int, t: TaskSnap) -> None:
    try:
        text = _read(f"/proc/{pid}/maps")
    except OSError as e:
        t.errors["maps"] = _err(e)
        return
    t.maps = parse_maps(text)
    for line in text.splitlines():
        parts = line.split(None, 5)
        if len(parts) == 6 and _is_deleted_file(_canon_path(parts[5])):
            major, _, minor = parts[3].partition(":")
            t.deleted_files.append((_canon_path(parts[5]),
                                    _file_key(os.makedev(int(major, 16), int(minor, 16)), int(parts[4]))))


def parse_maps(text: str) -> list:
    """/proc/PID/maps text -> canonical [(start, end, perms, offset, name)]."""
    out = []
    for line in text.splitlines():
        # start-end perms offset dev inode [name]; dev/inode ignored (Canon:
        # device and inode numbers of backing files may change — tmpfs,
        # overlay, ghost files — and the name says which file it is)
        parts = line.split(None, 5)
        if len(parts) < 5:
            continue
        name = parts[5] if len(parts) == 6 else ""
        if name in _VVAR:
            continue
        start, _, end = parts[0].partition("-")
        s, e = int(start, 16), int(end, 16)
        off = int(parts[2], 16)
        name = _canon_path(name)
        if name == "[vdso]":
            s, e = 0, e - s          # presence and size only, see _VVAR
        # Canon: adjacent mappings of the same kind are merged. Whether the
        # kernel keeps two neighbouring VMAs apart (different anon_vma,
        # history of mprotect/mremap) or merges them is not observable by
        # the program and differs after criu maps memory afresh.
        if out:
            ps, pe, pp, po, pn = out[-1]
            if pe == s and pp == parts[1] and pn == name and name != "[vdso]" and \
                    (name in _ANON or po + (pe - ps) == off):
                out[-1] = (ps, e, pp, po, pn)
                continue
        out.append((s, e, parts[1], off, name))
    return out


def _read_limits(pid: int, t: TaskSnap) -> None:
    try:
        text = _read(f"/proc/{pid}/limits")
    except OSError as e:
        t.errors["rlimits"] = _err(e)
        return
    for line in text.splitlines()[1:]:
        name = line[:26].strip()
        vals = line[26:].split()
        if len(vals) >= 2:
            t.rlimits[_RLIMIT_NAMES.get(name, name.lower().replace(" ", "_"))] = (vals[0], vals[1])


def parse_mountinfo(text: str) -> list:
    """/proc/PID/mountinfo text -> canonical [Mount]."""
    rows = []
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        if not sep:
            continue
        f = left.split()
        r = right.split()
        if len(f) < 6 or len(r) < 2:
            continue
        rows.append((f[0], f[1], f[3], f[4], f[5], f[6:], r[0], r[1], r[2] if len(r) > 2 else ""))
    by_id = {row[0]: row[3] for row in rows}
    # Canon: mount ids and peer-group ids are allocated afresh on restore:
    # ids become structure (parent = the parent's mount point), peer groups
    # are named by their mounts (_peer_groups); major:minor is dropped (anonymous
    # devices of tmpfs/proc/… are renumbered); "kind:[inode]" in a root
    # (nsfs bind mounts) loses the inode.
    groups = _peer_groups(rows)
    out = []
    for mid, parent, root, mp, opts, optional, fstype, source, superopts in rows:
        prop = []
        for o in optional:
            k, _, v = o.partition(":")
            if v.isdigit():
                v = groups[v]
            prop.append(f"{k}:{v}" if v else k)
        m = _INODE_LINK.match(root)
        if m:
            root = m.group(1)
        if fstype == "autofs":
            superopts = _AUTOFS_IDS.sub(r"\1=*", superopts)
        out.append(Mount(mp, by_id.get(parent, ""), root, opts, " ".join(prop), fstype, source,
                         superopts))
    return out


# Canon: an autofs mount's super options name its daemon's process group
# (pgrp=, a pid as the host sees it, which a restore renumbers) and its pipe
# (pipe_ino=, an inode number, new on restore); the rest is compared.
_AUTOFS_IDS = re.compile(r"\b(pgrp|pipe_ino)=\d+")


def _peer_groups(rows: list) -> dict:
    """{peer group id: its name}. Canon: what survives a restore is which
    mounts share a group (shared:N) and which group a slave receives from
    (master:N), not the numbers, nor the order of the table (criu mounts in
    an order of its own). A group is named after its first mount by mount
    point ("shared:/t" for every mount sharing /t's group; the n-th of mounts
    stacked on one point is "/t#n"), so a mount leaving a group changes that
    mount's line only. A group with no mount in this table (a slave's master
    outside the namespace) is "outside#n", numbered as its first slave."""
    groups: dict = {}
    by_point = sorted(rows, key=lambda row: row[3])     # stable: stacked mounts in table order
    seen: dict = {}
    for row in by_point:
        n = seen[row[3]] = seen.get(row[3], 0) + 1
        for o in row[5]:
            kind, _, v = o.partition(":")
            if kind == "shared":
                groups.setdefault(v, row[3] if n == 1 else f"{row[3]}#{n}")
    outside = 0
    for row in by_point:
        for o in row[5]:
            _, _, v = o.partition(":")
            if v.isdigit() and v not in groups:
                outside += 1
                groups[v] = f"outside#{outside}"
    return groups


def canonicalise_ids(tasks: list) -> dict:
    """Rewrite fd targets and mappings "kind:[inode]" -> "kind#n" and mount namespaces
    -> "mntns#n" in place, tasks in tree order; returns {ns: "mntns#n"}."""
    ids: dict = {}
    per_kind: dict = {}
    ns_ids: dict = {}

    def canon(name: str) -> str:
        m = _INODE_LINK.match(name)
        if not m:
            return name
        kind = m.group(1)
        key = (kind, m.group(2))
        if key not in ids:
            per_kind[kind] = ids[key] = per_kind.get(kind, 0) + 1
        return f"{kind}#{ids[key]}"

    for t in tasks:
        for n in sorted(t.fds):
            t.fds[n].target = canon(t.fds[n].target)
        # Memory mapped from such an object (a packet socket's ring) too.
        t.maps = [(*m[:4], canon(m[4])) for m in t.maps]
        if t.mntns not in (None, "host"):
            t.mntns = ns_ids.setdefault(t.mntns, f"mntns#{len(ns_ids) + 1}")
    return ns_ids


def _deleted_files_of(tasks: list) -> dict:
    """{file key: sorted names} of the deleted files the tasks hold open or mapped."""
    names: dict = {}
    for t in tasks:
        for name, key in t.deleted_files:
            names.setdefault(key, set()).add(name)
    return {key: sorted(v) for key, v in names.items()}


def _translator(pid_translate: PidTranslate) -> Optional[Callable[[int], int]]:
    if pid_translate is None:
        return None
    if callable(pid_translate):
        return pid_translate
    return lambda p: pid_translate.get(p, p)


def snapshot_tree(root_pid: int, pid_translate: PidTranslate = None, *,
                  host_mounts: bool = False) -> TreeSnapshot:
    """What /proc shows of root_pid and its descendants.

    pid_translate: a callable or mapping from a pid as this process sees it
    to the pid the workload sees (its pid namespace); by default the
    innermost NSpid of /proc/PID/status, which is the same thing.
    host_mounts: also record the mount table when the task shares our own
    mount namespace. By default it is not: that table is the host's, criu
    neither dumps nor restores it, and other tests change it concurrently.

    Never raises for tasks that vanish or files that cannot be read: the
    error is recorded in TaskSnap.errors instead.
    """
    t0 = time.perf_counter()
    snap = TreeSnapshot(root_pid, taken=time.time())
    tasks, kids = _walk_tree(root_pid, _translator(pid_translate), _host_mntns(host_mounts), snap.mounts)
    snap.tasks = _place(root_pid, tasks, kids)
    _relate(snap.tasks)
    # Canon: inode numbers of pipes, sockets, namespaces … change on
    # restore; what must survive is which fds share one object. Each
    # "kind:[inode]" becomes "kind#n", n numbered in first-seen order over the
    # tree (tasks in position order, fds ascending), so fds 3 and 4 being
    # the two ends of one pipe reads "pipe#1" / "pipe#1" before and after.
    # Mount namespaces likewise become "mntns#n" ("host" = ours).
    ns_ids = canonicalise_ids(snap.tasks)
    snap.mounts = {ns_ids[k]: v for k, v in snap.mounts.items() if k in ns_ids}
    snap.deleted = _deleted_files_of(snap.tasks)
    snap.duration = time.perf_counter() - t0
    return snap


def _host_mntns(host_mounts: bool) -> Optional[str]:
    """Our own mount namespace, whose tasks record "host" rather than its table;
    None when host_mounts asks for the table anyway (or ours is unreadable)."""
    if host_mounts:
        return None
    try:
        return os.readlink("/proc/self/ns/mnt")
    except OSError:
        return None


def _walk_tree(root_pid: int, translate: Optional[Callable[[int], int]], host_ns: Optional[str],
               mounts: dict) -> tuple:
    """Read root_pid and every descendant: ({pid: TaskSnap}, {pid: [child pids]}).
    Each mount namespace's table goes into mounts once."""
    tasks: dict = {}
    kids: dict = {}
    todo = [root_pid]
    while todo:
        pid = todo.pop()
        if pid in tasks:
            continue
        tasks[pid], kids[pid] = _read_task(pid, translate, host_ns, mounts)
        todo.extend(kids[pid])
    return tasks, kids


def _read_task(pid: int, translate: Optional[Callable[[int], int]], host_ns: Optional[str],
               mounts: dict) -> tuple:
    """One task as /proc shows it, and the pids of its children."""
    t = TaskSnap(pid)
    base = f"/proc/{pid}"
    try:
        stat = _read(base + "/stat")
        status = _status(_read(base + "/status"))
        tids = sorted(int(x) for x in os.listdir(base + "/task"))
    except OSError as e:
        t.errors["task"] = _err(e)
        return t, []
    _parse_stat_and_status(t, stat, status, translate)
    t.threads = _read_threads(pid, tids, status, translate)
    if _stat_state(stat) == "T":        # group stop (not "t", a ptrace stop)
        t.signals["ShdPnd"] &= ~STOP_SIGNAL_BITS
        for th in t.threads:
            if "SigPnd" in th.signals:
                th.signals["SigPnd"] &= ~STOP_SIGNAL_BITS
    children = _children(pid, tids)
    if t.state == "zombie":
        return t, children      # nothing more to read: no files, no memory
    for what in ("cwd", "root"):
        try:
            setattr(t, what, os.readlink(f"{base}/{what}"))
        except OSError as e:
            t.errors[what] = _err(e)
    _read_fds(pid, t)
    _read_maps(pid, t)
    _read_limits(pid, t)
    _read_timers(pid, t)
    _read_mntns(pid, t, host_ns, mounts)
    if any(e.startswith(("ENOENT", "ESRCH")) for e in t.errors.values()):
        _died_while_read(pid, t)
    return t, children


def _died_while_read(pid: int, t: TaskSnap) -> None:
    """A task that exited while we read it (a live workload's short-lived
    child) is recorded as what it became: a zombie, or gone. Its files were
    not unreadable, they stopped existing, as they do for the dump."""
    try:
        state = _stat_state(_read(f"/proc/{pid}/stat"))
    except OSError as e:
        t.errors = {"task": f"exited while being read ({_err(e)})"}
        return
    if _STATES.get(state) == "zombie":
        t.state = "zombie"
        t.errors = {}


def _stat_state(stat: str) -> str:
    return stat[stat.rindex(")") + 2:].split(None, 1)[0]


def _parse_stat_and_status(t: TaskSnap, stat: str, status: dict,
                           translate: Optional[Callable[[int], int]]) -> None:
    rest = stat[stat.rindex(")") + 2:].split()
    t.comm = status.get("Name", "")
    t.state = _STATES.get(rest[0], "alive")
    t.ppid, t.pgid, t.sid = int(rest[1]), int(rest[2]), int(rest[3])
    t.sched = {"nice": int(rest[16]), "policy": int(rest[38]), "rt_priority": int(rest[37])}
    t.vpid = translate(t.pid) if translate else _innermost(status.get("NSpid", ""), t.pid)
    t.creds = {k.lower(): " ".join(status.get(k, "").split()) for k in _CRED_KEYS}
    t.signals = {k: int(status.get(k, "0"), 16) for k in _PROC_SIG_KEYS}


def _read_threads(pid: int, tids: list, status: dict,
                  translate: Optional[Callable[[int], int]]) -> list:
    """The threads of task pid (status: the leader's, already read)."""
    threads = []
    for tid in tids:
        th = ThreadSnap(tid, translate(tid) if translate else tid)
        try:
            st = status if tid == pid else _status(_read(f"/proc/{pid}/task/{tid}/status"))
        except OSError as e:
            th.error = _err(e)
        else:
            th.comm = st.get("Name", "")
            if not translate:
                th.vtid = _innermost(st.get("NSpid", ""), tid)
            th.signals = {k: int(st.get(k, "0"), 16) for k in _THREAD_SIG_KEYS}
            th.signals["SigBlk"] &= ~SIGTERM_BIT
        threads.append(th)
    # Canon: the leader first, then by tid inside the task's pid namespace:
    # host tids are new after a restore into a fresh pid namespace and
    # may wrap around pid_max (a thread's below its leader's).
    threads.sort(key=lambda th: (th.tid != pid, th.vtid))
    return threads


def _read_mntns(pid: int, t: TaskSnap, host_ns: Optional[str], mounts: dict) -> None:
    """The task's mount namespace; its table into mounts unless already there."""
    base = f"/proc/{pid}"
    try:
        ns = os.readlink(base + "/ns/mnt")
    except OSError as e:
        t.errors["mounts"] = _err(e)
        return
    if ns == host_ns:
        t.mntns = "host"
        return
    if ns not in mounts:
        try:
            mounts[ns] = parse_mountinfo(_read(base + "/mountinfo"))
        except OSError as e:
            mounts[ns] = _err(e)
    t.mntns = ns


def _place(root_pid: int, tasks: dict, kids: dict) -> list:
    """Give each task its position (preorder, children ordered by the pid the
    workload sees); returns the tasks in that order."""
    order = []

    def place(pid: int, pos: str) -> None:
        t = tasks[pid]
        t.pos = pos
        order.append(t)
        for i, c in enumerate(sorted(kids.get(pid, []), key=lambda c: (tasks[c].vpid, c))):
            place(c, f"{pos}.{i}")

    place(root_pid, "0")
    return order


def _relate(order: list) -> None:
    """ppid, pgid and sid as tree positions ("outside" for tasks not in the tree)."""
    where = {t.pid: t.pos for t in order}
    for t in order:
        if "task" not in t.errors:
            t.rel = {k: where.get(getattr(t, k), "outside") for k in ("ppid", "pgid", "sid")}


# ---------------------------------------------------------------- comparing

class _Ignore:
    def __init__(self, entries: Iterable[str]):
        if isinstance(entries, str):
            entries = entries.replace(",", " ").split()
        self.exact = set()
        self.patterns = []
        for e in entries:
            e = e.strip()
            if not e:
                continue
            if any(c in e for c in "*?["):
                self.patterns.append(e)
            else:
                self.exact.add(e)

    def __call__(self, item: str) -> bool:
        parts = item.split(".")
        for i in range(1, len(parts) + 1):
            if ".".join(parts[:i]) in self.exact:
                return True
        # names with dots inside (paths, mount points): plain prefix test too
        for e in self.exact:
            if item.startswith(e + "."):
                return True
        return any(fnmatch.fnmatchcase(item, p) for p in self.patterns)


def _hex(v: int) -> str:
    return hex(v)


def _fmt_fd(fd: Fd) -> str:
    s = fd.target
    if fd.flags is not None:
        s += f" flags 0{fd.flags:o}"
    if fd.pos:
        s += f" pos {fd.pos}"
    return s


def _fmt_map(m: tuple) -> str:
    s, e, perms, off, name = m
    rng = f"[vdso] size {e:#x}" if name == "[vdso]" else f"{s:x}-{e:x}"
    tail = f" {name}" if name and name != "[vdso]" else (" anon" if not name else "")
    return f"{rng} {perms}" + (f" off {off:#x}" if off else "") + tail


@dataclass(frozen=True)
class Difference:
    who: str        # "pid 1234 (pipe00) [0.1]"
    item: str       # dotted item name, see the module doc ("fd.5.pos")
    text: str       # "fd 5 pos 100 -> 0"
    accepted: str = ""      # a known criu deviation: why criu does this (TMPFILE_LOST, ...)

    def __str__(self) -> str:
        return f"{self.who}: {self.text}"


class _Out:
    def __init__(self, ignore: _Ignore):
        self.ignore = ignore
        self.found: list = []

    def add(self, who: str, item: str, text: str, accepted: str = "") -> None:
        if not self.ignore(item):
            self.found.append(Difference(who, item, text, accepted))


def summarize_accepted(found: list) -> list:
    """One line per known criu deviation among found: its reason, the
    first difference it explains and how many more."""
    by_reason: dict = {}
    for d in found:
        if d.accepted:
            by_reason.setdefault(d.accepted, []).append(d)
    out = []
    for reason, ds in by_reason.items():
        more = f", and {len(ds) - 1} more like it" if len(ds) > 1 else ""
        out.append(f"outside check: {reason} (seen: {ds[0]}{more})")
    return out


def format_differences(found: list, per_category: int = 8, total: int = 60) -> list:
    """Readable lines: at most per_category per task and category (then
    "... N more"), at most total lines overall."""
    lines: list = []
    last: dict = {}         # group -> index of its last line
    extra: dict = {}        # group -> lines left out
    dropped = 0
    for d in found:
        group = (d.who, d.item.split(".")[0])
        shown = sum(1 for l in lines if l[0] == group)
        if shown >= per_category:
            extra[group] = extra.get(group, 0) + 1
        elif len(lines) >= total:
            dropped += 1
        else:
            lines.append((group, str(d)))
            last[group] = len(lines) - 1
    out = [l for _, l in lines]
    for group, n in sorted(extra.items(), key=lambda kv: -last[kv[0]]):
        out.insert(last[group] + 1, f"{group[0]}: ... {n} more {group[1]} difference{'s' if n > 1 else ''}")
    if dropped:
        out.append(f"... {dropped} more difference{'s' if dropped > 1 else ''}")
    return out


def _who(b: Optional[TaskSnap], a: Optional[TaskSnap]) -> str:
    t = a if a is not None and "task" not in a.errors else b
    pid = str(t.pid)
    if b is not None and a is not None and b.pid != a.pid:
        pid = f"{b.pid}->{a.pid}"
    return f"pid {pid} ({t.comm or '?'}) [{t.pos}]"


def _cmp_dict(out: _Out, who: str, cat: str, b: dict, a: dict, fmt=str) -> None:
    for k in list(b) + [k for k in a if k not in b]:
        vb, va = b.get(k), a.get(k)
        if vb != va:
            sb = "none" if vb is None else fmt(vb)
            sa = "none" if va is None else fmt(va)
            out.add(who, f"{cat}.{k.lower()}", f"{cat} {k} {sb} -> {sa}")


def _errors_differ(out: _Out, who: str, cat: str, b: TaskSnap, a: TaskSnap) -> bool:
    """True if cat is unreadable on either side (reported here, compare no further)."""
    eb, ea = b.errors.get(cat), a.errors.get(cat)
    if eb is None and ea is None:
        return False
    if eb != ea:
        item = "tree.task" if cat == "task" else cat
        if eb and ea:
            text = f"{cat} unreadable: {eb} -> {ea}"
        else:
            text = f"{cat} unreadable {'before' if eb else 'after'} restore: {eb or ea}"
        out.add(who, item, text)
    return True


class _Comparison:
    """What the comparison of two snapshots knows beyond one task."""

    def __init__(self, out: _Out, before: TreeSnapshot):
        self.out = out
        self.aliases = before.deleted_aliases()
        self.deleted_before = set(before.deleted)
        # Canon: a tree with POSIX timers may be counting its eventfds up
        # itself (upstream's pthread_timers: a SIGEV_THREAD timer writes to
        # one every 10ms), between our look before the dump and the freeze
        # as much as after the restore: not state C/R must keep, here.
        self.eventfd_counts_move = any(t.posix_timers for t in before.tasks)
        self.mounts_done: set = set()

    def name(self, name: str) -> str:
        # Canon: a deleted file that had several names (hard links, all
        # unlinked) is one file to criu, restored under one of them (it
        # maps both of upstream's unlink_mmap01 mappings from the same
        # file): the names it bore before the dump are one name.
        return self.aliases.get(name, name)

    def info(self, fd: Fd) -> tuple:
        if not self.eventfd_counts_move:
            return fd.info
        return tuple(x for x in fd.info if not x.startswith(_EVENTFD_COUNT))

    def watches_on_deleted_lost(self, fb: Fd, fa: Fd) -> bool:
        """Do fb's and fa's fdinfo differ only by inotify watches gone, each
        on a file deleted before the dump?"""
        ib, ia = self.info(fb), self.info(fa)
        lost = [x for x in ib if x not in ia]
        if not lost or any(x not in ib for x in ia):
            return False
        wds = [re.match(r"inotify wd (\d+) ", x) for x in lost]
        return all(m and fb.watched.get(int(m.group(1))) in self.deleted_before for m in wds)


def _tmpfile_lost(before: Optional[int], after: Optional[int]) -> bool:
    """Did the fd lose O_TMPFILE, and nothing else?"""
    return before is not None and bool(before & O_TMPFILE_BIT) and (before & ~O_TMPFILE_BIT) == after


# Canon: the offset of a write-only O_APPEND fd has no effect (every write
# goes to the end of the file, nothing is read at it); it only says how
# long the file was at its last write. It moving forward is the file
# growing (upstream's test log, which poll writes to at each return of
# poll(), also after the snapshot was taken); going back is still compared.
O_APPEND, O_ACCMODE, O_WRONLY = 0o2000, 0o3, 0o1


def _appended(fb: Fd, fa: Fd) -> bool:
    flags = fb.flags or 0
    return (flags & O_ACCMODE) == O_WRONLY and bool(flags & O_APPEND) and fb.flags == fa.flags \
        and (fb.pos or 0) <= (fa.pos or 0)


def _cmp_fds(c: _Comparison, who: str, b: dict, a: dict) -> None:
    out = c.out
    for n in sorted(set(b) | set(a)):
        fb, fa = b.get(n), a.get(n)
        if fa is None:
            out.add(who, f"fd.{n}", f"fd {n} {_fmt_fd(fb)} missing after restore")
        elif fb is None:
            out.add(who, f"fd.{n}", f"fd {n} {_fmt_fd(fa)} new after restore")
        else:
            if c.name(fb.target) != c.name(fa.target):
                out.add(who, f"fd.{n}.target", f"fd {n} {fb.target} -> {fa.target}")
            if fb.flags != fa.flags:
                out.add(who, f"fd.{n}.flags", f"fd {n} flags 0{fb.flags or 0:o} -> 0{fa.flags or 0:o}",
                        TMPFILE_LOST if _tmpfile_lost(fb.flags, fa.flags) else "")
            if fb.pos != fa.pos and not _appended(fb, fa):
                out.add(who, f"fd.{n}.pos", f"fd {n} pos {fb.pos} -> {fa.pos}")
            if c.info(fb) != c.info(fa):
                out.add(who, f"fd.{n}.info", f"fd {n} {'; '.join(fb.info) or '-'} -> {'; '.join(fa.info) or '-'}",
                        WATCH_ON_DELETED_LOST if c.watches_on_deleted_lost(fb, fa) else "")


def _map_item(name: str) -> str:
    return "maps." + (name or "anon")


def _cmp_maps(c: _Comparison, who: str, b: list, a: list, anon_moves: bool = False) -> None:
    out = c.out
    # Canon (anon_moves): a task with SIGEV_THREAD timers maps and unmaps
    # the stacks of the threads its timers start (see _thread_pairs), which
    # are anonymous private memory; only its other mappings are compared.
    b = [(*m[:4], c.name(m[4])) for m in b if not (anon_moves and m[4] == "")]
    a = [(*m[:4], c.name(m[4])) for m in a if not (anon_moves and m[4] == "")]
    sb, sa = set(b), set(a)
    if sb == sa:
        return
    by_range_a = {(m[0], m[1]): m for m in a if m not in sb}
    done = set()
    for m in b:
        if m in sa:
            continue
        o = by_range_a.get((m[0], m[1]))
        if o is not None:
            done.add(o)
            changes = [f"{what} {x} -> {y}" for what, x, y in
                       (("perms", m[2], o[2]), ("offset", hex(m[3]), hex(o[3])),
                        ("file", m[4] or "anon", o[4] or "anon")) if x != y]
            out.add(who, _map_item(m[4]), f"mapping {_fmt_map(m)}: {', '.join(changes)}")
        else:
            out.add(who, _map_item(m[4]), f"mapping {_fmt_map(m)} missing after restore")
    for m in a:
        if m not in sb and m not in done:
            out.add(who, _map_item(m[4]), f"mapping {_fmt_map(m)} new after restore")


def _mount_keys(mounts: list) -> dict:
    seen: dict = {}
    out = {}
    for m in mounts:
        n = seen.get(m.mountpoint, 0)
        seen[m.mountpoint] = n + 1
        out[(m.mountpoint, n)] = m
    return out


def _cmp_mounts(out: _Out, who: str, b, a) -> None:
    if isinstance(b, str) or isinstance(a, str):
        if b != a:
            out.add(who, "mounts", f"mountinfo {b if isinstance(b, str) else 'readable'} -> "
                                   f"{a if isinstance(a, str) else 'readable'}")
        return
    kb, ka = _mount_keys(b), _mount_keys(a)
    for key in list(kb) + [k for k in ka if k not in kb]:
        mb, ma = kb.get(key), ka.get(key)
        mp = key[0] + (f" (#{key[1] + 1})" if key[1] else "")
        item = f"mounts.{key[0]}"
        if ma is None:
            out.add(who, item, f"mount {mp} ({mb.fstype} {mb.source}) missing after restore")
        elif mb is None:
            out.add(who, item, f"mount {mp} ({ma.fstype} {ma.source}) new after restore")
        elif mb != ma:
            for f in ("parent", "root", "options", "propagation", "fstype", "source", "superoptions"):
                x, y = getattr(mb, f), getattr(ma, f)
                if x != y:
                    out.add(who, item, f"mount {mp} {f} {x or '-'} -> {y or '-'}")


def diff(before: TreeSnapshot, after: TreeSnapshot, ignore: Iterable[str] = (), *,
         per_category: int = 8, total: int = 60) -> list:
    """Differences between two snapshots of one tree, as readable lines
    (empty: the same). ignore: item names/prefixes, see the module doc.
    At most per_category lines per task and category, total lines overall."""
    return format_differences(differences(before, after, ignore), per_category, total)


def differences(before: TreeSnapshot, after: TreeSnapshot, ignore: Iterable[str] = ()) -> list:
    """Every difference not ignored, as Difference records, uncapped."""
    c = _Comparison(_Out(_Ignore(ignore)), before)
    out = c.out
    ta = {t.pos: t for t in after.tasks}
    tb = {t.pos: t for t in before.tasks}
    for b in before.tasks:
        a = ta.get(b.pos)
        who = _who(b, a)
        if a is None or ("task" in a.errors and "task" not in b.errors):
            why = f": {a.errors['task']}" if a is not None else ""
            out.add(who, "tree.task", f"task missing after restore{why}")
            continue
        if _errors_differ(out, who, "task", b, a):
            continue
        _cmp_tree_place(out, who, b, a)
        if "zombie" in (b.state, a.state):
            # Canon: a zombie has nothing else to compare; criu recreates it
            # as a fresh task that exits, so its creds and signal state are
            # criu's, not the dead task's.
            continue
        _cmp_threads(out, who, b, a)
        _cmp_task_state(c, who, b, a, before, after)
    for a in after.tasks:
        if a.pos not in tb and "task" not in a.errors:
            out.add(_who(None, a), "tree.task", "task new after restore")
    return out.found


def _cmp_tree_place(out: _Out, who: str, b: TaskSnap, a: TaskSnap) -> None:
    if b.vpid != a.vpid:
        out.add(who, "tree.pid", f"pid {b.vpid} -> {a.vpid}")
    if b.comm != a.comm:
        out.add(who, "tree.comm", f"comm {b.comm} -> {a.comm}")
    for k in ("ppid", "pgid", "sid"):
        if b.rel.get(k) != a.rel.get(k):
            out.add(who, f"tree.{k}", f"{k} {b.rel.get(k)} -> {a.rel.get(k)}")
    if b.state != a.state:
        out.add(who, "tree.state", f"state {b.state} -> {a.state}")


def _thread_pairs(out: _Out, who: str, b: TaskSnap, a: TaskSnap) -> list:
    """The threads to compare, before and after, in pairs."""
    if b.thread_timers:
        # Canon: the C library runs each expiry of a SIGEV_THREAD timer in a
        # thread of its own, which lives as long as the notify function
        # (upstream's pthread_timers: every 10ms): how many threads such a
        # task has at one look is timing. The threads seen on both sides
        # (by tid) are compared, their number is not.
        after = {ha.vtid - a.vpid: ha for ha in a.threads}
        return [(hb, after[hb.vtid - b.vpid]) for hb in b.threads if hb.vtid - b.vpid in after]
    if len(b.threads) != len(a.threads):
        out.add(who, "tree.threads", f"threads {len(b.threads)} -> {len(a.threads)}")
    return list(zip(b.threads, a.threads))


# What a mask blocking all may lack: SIGKILL, SIGSTOP (unblockable), SIGTERM
# (left out of every mask compared, see _read_threads).
_UNBLOCKABLE = (1 << 8) | (1 << 18) | SIGTERM_BIT


def _starting(mask) -> bool:
    """A thread seen blocking every signal is being started: glibc's
    pthread_create runs it so until it sets its creator's mask (upstream
    seccomp_filter_tsync, socket_aio: a thread caught in that moment before
    the dump, with its own mask after the restore)."""
    return mask is not None and (mask | _UNBLOCKABLE) == (1 << 64) - 1


def _cmp_threads(out: _Out, who: str, b: TaskSnap, a: TaskSnap) -> None:
    for i, (hb, ha) in enumerate(_thread_pairs(out, who, b, a)):
        tw = f"thread {i} (tid {ha.tid})" if i else "main thread"
        if hb.vtid - b.vpid != ha.vtid - a.vpid:
            out.add(who, "tree.threads", f"{tw} tid {hb.vtid} -> {ha.vtid}")
        if hb.comm != ha.comm:
            out.add(who, "tree.threads", f"{tw} name {hb.comm} -> {ha.comm}")
        if (hb.error or ha.error) and hb.error != ha.error:
            out.add(who, "signals", f"{tw} status {hb.error or 'readable'} -> {ha.error or 'readable'}")
            continue
        for k in _THREAD_SIG_KEYS:
            x, y = hb.signals.get(k), ha.signals.get(k)
            if k == "SigBlk" and i and _starting(x):
                continue
            if x != y:
                out.add(who, f"signals.{k.lower()}", f"{tw} {k} {_hex(x or 0)} -> {_hex(y or 0)}")


def _cmp_task_state(c: _Comparison, who: str, b: TaskSnap, a: TaskSnap, before: TreeSnapshot,
                    after: TreeSnapshot) -> None:
    out = c.out
    if not _errors_differ(out, who, "fd", b, a):
        _cmp_fds(c, who, b.fds, a.fds)
    if not _errors_differ(out, who, "maps", b, a):
        _cmp_maps(c, who, b.maps, a.maps, anon_moves=bool(b.thread_timers))
    if not _errors_differ(out, who, "mounts", b, a):
        if b.mntns != a.mntns and "host" in (b.mntns, a.mntns):
            out.add(who, "mounts", f"mount namespace {b.mntns} -> {a.mntns}")
        elif b.mntns not in (None, "host") and (b.mntns, a.mntns) not in c.mounts_done:
            # each namespace's table is compared once, at its first task
            c.mounts_done.add((b.mntns, a.mntns))
            if b.mntns != a.mntns:
                out.add(who, "mounts", f"mount namespace {b.mntns} -> {a.mntns}")
            _cmp_mounts(out, who, before.mounts.get(b.mntns, []), after.mounts.get(a.mntns, []))
    _cmp_dict(out, who, "creds", b.creds, a.creds)
    for k in ("cwd", "root"):
        if not _errors_differ(out, who, k, b, a) and getattr(b, k) != getattr(a, k):
            out.add(who, k, f"{k} {getattr(b, k)} -> {getattr(a, k)}")
    _cmp_dict(out, who, "signals", b.signals, a.signals, _hex)
    if not _errors_differ(out, who, "rlimits", b, a):
        _cmp_dict(out, who, "rlimits", b.rlimits, a.rlimits, lambda v: "/".join(v))
    _cmp_dict(out, who, "sched", b.sched, a.sched)
