"""zdtm.snapshot: /proc snapshots of a task tree and their diff.

Synthetic snapshots for the diff's wording, ignore vocabulary and caps; real
trees (selftests/workloads/snap_tree.py) for "twice -> same", "one change ->
exactly that item", and a real criu dump/restore -> no difference at all.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from zdtm import procs
from zdtm.snapshot import (Fd, Mount, TaskSnap, ThreadSnap, TreeSnapshot, canonicalise_ids, diff,
                           differences, parse_maps, parse_mountinfo, snapshot_tree)

HERE = Path(__file__).resolve().parent
WORKLOAD = HERE / "workloads" / "snap_tree.py"
PROJECT = HERE.parent


# ------------------------------------------------------------ synthetic

def task(pid=100, pos="0", comm="w", **kw) -> TaskSnap:
    t = TaskSnap(pid, pos=pos, vpid=kw.pop("vpid", pid), comm=comm)
    t.rel = kw.pop("rel", {"ppid": "outside", "pgid": "0", "sid": "0"})
    t.threads = kw.pop("threads", [ThreadSnap(pid, t.vpid, comm, {"SigBlk": 0, "SigPnd": 0})])
    t.fds = kw.pop("fds", {0: Fd("/dev/null", 0, 0), 5: Fd("/tmp/x", 0o2, 100)})
    t.maps = kw.pop("maps", [(0x1000, 0x3000, "rw-p", 0, "/tmp/x"), (0x5000, 0x6000, "rw-p", 0, "")])
    t.creds = kw.pop("creds", {"uid": "0 0 0 0", "umask": "0022"})
    t.signals = kw.pop("signals", {"ShdPnd": 0, "SigIgn": 0, "SigCgt": 0})
    t.cwd, t.root = kw.pop("cwd", "/tmp"), "/"
    t.rlimits = kw.pop("rlimits", {"nofile": ("1024", "4096")})
    t.mntns = "host"
    for k, v in kw.items():
        setattr(t, k, v)
    return t


def tree(*tasks) -> TreeSnapshot:
    return TreeSnapshot(tasks[0].pid, list(tasks))


def test_same_is_empty():
    assert diff(tree(task()), tree(task())) == []


def test_fd_pos_line_names_task_item_and_values():
    after = task(fds={0: Fd("/dev/null", 0, 0), 5: Fd("/tmp/x", 0o2, 0)})
    assert diff(tree(task()), tree(after)) == ["pid 100 (w) [0]: fd 5 pos 100 -> 0"]
    assert [d.item for d in differences(tree(task()), tree(after))] == ["fd.5.pos"]


def test_fd_missing_new_flags_target():
    after = task(fds={0: Fd("/dev/zero", 0o4000, 0), 7: Fd("pipe#1", 0, 0)})
    got = {d.item: d.text for d in differences(tree(task()), tree(after))}
    assert got == {"fd.0.target": "fd 0 /dev/null -> /dev/zero",
                   "fd.0.flags": "fd 0 flags 00 -> 04000",
                   "fd.5": "fd 5 /tmp/x flags 02 pos 100 missing after restore",
                   "fd.7": "fd 7 pipe#1 flags 00 new after restore"}


def test_maps_missing_new_changed():
    after = task(maps=[(0x1000, 0x3000, "r--p", 0, "/tmp/x"), (0x8000, 0x9000, "rw-p", 0, "")])
    assert diff(tree(task()), tree(after)) == [
        "pid 100 (w) [0]: mapping 1000-3000 rw-p /tmp/x: perms rw-p -> r--p",
        "pid 100 (w) [0]: mapping 5000-6000 rw-p anon missing after restore",
        "pid 100 (w) [0]: mapping 8000-9000 rw-p anon new after restore"]


def test_ignore_vocabulary():
    after = task(fds={0: Fd("/dev/null", 0, 0), 5: Fd("/tmp/x", 0o2002, 7)}, cwd="/",
                 creds={"uid": "0 0 0 0", "umask": "0077"}, maps=[])
    b, a = tree(task()), tree(after)
    items = lambda ign: sorted(d.item for d in differences(b, a, ign))
    everything = ["creds.umask", "cwd", "fd.5.flags", "fd.5.pos", "maps./tmp/x", "maps.anon"]
    assert items(()) == everything
    assert items(["fd"]) == ["creds.umask", "cwd", "maps./tmp/x", "maps.anon"]
    assert items(["fd.5"]) == ["creds.umask", "cwd", "maps./tmp/x", "maps.anon"]
    assert items(["fd.5.pos"]) == ["creds.umask", "cwd", "fd.5.flags", "maps./tmp/x", "maps.anon"]
    assert items(["fd.*.pos", "maps.anon"]) == ["creds.umask", "cwd", "fd.5.flags", "maps./tmp/x"]
    assert items(["maps./tmp/x", "creds"]) == ["cwd", "fd.5.flags", "fd.5.pos", "maps.anon"]
    assert items("fd, maps cwd creds") == []             # a .desc string works too
    assert items(["f", "fd.5.po", "cw"]) == everything   # prefixes end at dots


def test_cap_per_category_and_total():
    after = task(fds={n: Fd(f"/tmp/f{n}", 0, 0) for n in range(20)})
    lines = diff(tree(task(fds={})), tree(after), per_category=3)
    assert lines == [f"pid 100 (w) [0]: fd {n} /tmp/f{n} flags 00 new after restore" for n in range(3)] + \
        ["pid 100 (w) [0]: ... 17 more fd differences"]
    lines = diff(tree(task(fds={})), tree(after), per_category=30, total=5)
    assert len(lines) == 6 and lines[-1] == "... 15 more differences"


def test_tree_compared_by_structure_not_pid():
    """Different host pids, same structure and same pids inside: no diff."""
    b = tree(task(100, vpid=1), task(101, "0.0", vpid=2, rel={"ppid": "0", "pgid": "0", "sid": "0"}))
    a = tree(task(200, vpid=1), task(201, "0.0", vpid=2, rel={"ppid": "0", "pgid": "0", "sid": "0"}))
    assert diff(b, a) == []
    a.tasks[1].rel = {"ppid": "0", "pgid": "0.0", "sid": "0"}
    a.tasks[1].comm = "x"
    assert diff(b, a) == ["pid 101->201 (x) [0.0]: comm w -> x", "pid 101->201 (x) [0.0]: pgid 0 -> 0.0"]


def test_task_missing_new_and_unreadable():
    two = tree(task(100), task(101, "0.0"))
    assert diff(two, tree(task(100))) == ["pid 101 (w) [0.0]: task missing after restore"]
    assert diff(tree(task(100)), two) == ["pid 101 (w) [0.0]: task new after restore"]
    gone = task(100, errors={"task": "ENOENT: No such file or directory"})
    assert diff(tree(task()), tree(gone)) == \
        ["pid 100 (w) [0]: task missing after restore: ENOENT: No such file or directory"]
    nofd = task(errors={"fd": "EACCES: Permission denied"}, fds={})
    assert diff(tree(task()), tree(nofd)) == \
        ["pid 100 (w) [0]: fd unreadable after restore: EACCES: Permission denied"]


def test_threads_and_signals():
    th = lambda tid, blk=0: ThreadSnap(tid, tid, "w", {"SigBlk": blk, "SigPnd": 0})
    b = tree(task(threads=[th(100), th(102)]))
    a = tree(task(threads=[th(100), th(102, 0x4000)], signals={"ShdPnd": 0, "SigIgn": 1, "SigCgt": 0}))
    assert diff(b, a) == ["pid 100 (w) [0]: thread 1 (tid 102) SigBlk 0x0 -> 0x4000",
                          "pid 100 (w) [0]: signals SigIgn 0x0 -> 0x1"]
    assert diff(b, tree(task(threads=[th(100)]))) == ["pid 100 (w) [0]: threads 2 -> 1"]


def test_canonical_ids_keep_pairing():
    def t(pos, fds):
        return task(pos=pos, fds={n: Fd(x, 0, 0) for n, x in fds.items()})
    # fds 3/4 ends of one pipe, the child shares end 3; then a different pipe
    b = [t("0", {3: "pipe:[77]", 4: "pipe:[77]", 5: "socket:[9]"}), t("0.0", {3: "pipe:[77]", 4: "pipe:[80]"})]
    a = [t("0", {3: "pipe:[500]", 4: "pipe:[500]", 5: "socket:[1]"}), t("0.0", {3: "pipe:[500]", 4: "pipe:[501]"})]
    canonicalise_ids(b), canonicalise_ids(a)
    assert [f.target for f in b[0].fds.values()] == ["pipe#1", "pipe#1", "socket#1"]
    assert [f.target for f in b[1].fds.values()] == ["pipe#1", "pipe#2"]
    assert diff(tree(*b), tree(*a)) == []
    # the same kinds, but fds 3 and 4 no longer one pipe: that is a difference
    c = [t("0", {3: "pipe:[1]", 4: "pipe:[2]", 5: "socket:[3]"}), t("0.0", {3: "pipe:[1]", 4: "pipe:[4]"})]
    canonicalise_ids(c)
    assert diff(tree(*b), tree(*c)) == ["pid 100 (w) [0]: fd 4 pipe#1 -> pipe#2",
                                        "pid 100 (w) [0.0]: fd 4 pipe#2 -> pipe#3"]


def test_parse_maps_canonicalises():
    text = """\
55d0a0000000-55d0a0001000 r--p 00000000 fe:00 12 /usr/bin/x
55d0a0001000-55d0a0003000 r-xp 00001000 fe:00 12 /usr/bin/x
55d0a0003000-55d0a0004000 rw-p 00000000 00:00 0 [heap]
55d0a0004000-55d0a0005000 rw-p 00000000 00:00 0 [heap]
7f0000000000-7f0000001000 rw-p 00000000 00:00 0
7f0000001000-7f0000002000 rw-p 00000000 00:00 0
7f0000002000-7f0000003000 r--p 00000000 00:00 0
7f0000003000-7f0000004000 rw-s 00000000 00:01 9 /dev/zero (deleted)
7f0000004000-7f0000005000 rw-p 00000000 fe:00 30 /tmp/a.cr.3.ghost (deleted)
7f0000005000-7f0000006000 r--p 00002000 fe:00 13 /usr/lib/y
7f0000006000-7f0000007000 r--p 00004000 fe:00 13 /usr/lib/y
7f0000010000-7f0000012000 r--p 00000000 00:00 0 [vvar]
7f0000012000-7f0000013000 r--p 00000000 00:00 0 [vvar_vclock]
7f0000013000-7f0000015000 r-xp 00000000 00:00 0 [vdso]
"""
    assert parse_maps(text) == [
        (0x55d0a0000000, 0x55d0a0001000, "r--p", 0, "/usr/bin/x"),
        (0x55d0a0001000, 0x55d0a0003000, "r-xp", 0x1000, "/usr/bin/x"),
        (0x55d0a0003000, 0x55d0a0005000, "rw-p", 0, "[heap]"),        # split VMAs merged
        (0x7f0000000000, 0x7f0000002000, "rw-p", 0, ""),              # merged
        (0x7f0000002000, 0x7f0000003000, "r--p", 0, ""),              # other perms: apart
        (0x7f0000003000, 0x7f0000004000, "rw-s", 0, "[shared-anon]"),
        (0x7f0000004000, 0x7f0000005000, "rw-p", 0, "/tmp/a (deleted)"),   # criu's ghost
        (0x7f0000005000, 0x7f0000006000, "r--p", 0x2000, "/usr/lib/y"),
        (0x7f0000006000, 0x7f0000007000, "r--p", 0x4000, "/usr/lib/y"),  # offsets not contiguous
        (0, 0x2000, "r-xp", 0, "[vdso]"),                               # size only, no vvar
    ]
    restored = text.replace("/dev/zero (deleted)", "/memfd:/dev/zero (deleted)") \
        .replace("7f0000010000-7f0000012000 r--p 00000000 00:00 0 [vvar]", "7f0000020000-7f0000021000 r--p 00000000 00:00 0 [vvar]") \
        .replace("7f0000013000-7f0000015000", "7f0000030000-7f0000032000")
    assert parse_maps(restored) == parse_maps(text)


MOUNTINFO = """\
22 1 254:0 / / rw,relatime shared:1 - ext4 /dev/vda rw
23 22 0:5 / /proc rw,nosuid shared:12 - proc proc rw
24 22 0:30 / /tmp rw master:1 - tmpfs tmpfs rw,size=64k
25 24 0:4 net:[4026531840] /tmp/ns rw - nsfs nsfs rw
"""


def test_parse_mountinfo_by_structure():
    got = parse_mountinfo(MOUNTINFO)
    assert got[2] == Mount("/tmp", "/", "/", "rw", "master:1", "tmpfs", "tmpfs", "rw,size=64k")
    assert got[3].root == "net" and got[3].parent == "/tmp"
    assert [m.propagation for m in got] == ["shared:1", "shared:2", "master:1", ""]
    # new ids, new peer groups, new devices: the same table
    renumbered = MOUNTINFO.replace("22 ", "122 ").replace("23 ", "123 ").replace("24 ", "124 ") \
        .replace("25 ", "125 ").replace(":1 ", ":7 ").replace(":12 ", ":19 ").replace("0:30", "0:77") \
        .replace("4026531840", "4026532000")
    assert parse_mountinfo(renumbered) == got
    b, a = tree(task(mntns="mntns#1")), tree(task(mntns="mntns#1"))
    b.mounts["mntns#1"] = got
    a.mounts["mntns#1"] = parse_mountinfo(renumbered.replace("rw,size=64k", "rw,size=128k")
                                          .replace(" shared:19", ""))
    assert diff(b, a) == ["pid 100 (w) [0]: mount /proc propagation shared:2 -> -",
                          "pid 100 (w) [0]: mount /tmp superoptions rw,size=64k -> rw,size=128k"]
    assert diff(b, a, ["mounts./proc", "mounts./tmp"]) == []


def test_unreadable_pid_does_not_raise():
    snap = snapshot_tree(2 ** 22 + 12345)
    assert len(snap.tasks) == 1 and "task" in snap.tasks[0].errors
    assert diff(snap, snap) == []
    assert snap.as_dict()["tasks"][0]["errors"]


# ------------------------------------------------------------ real trees

class Tree:
    def __init__(self, d: Path, pid: int):
        self.dir, self.pid = d, pid

    def act(self, what: str, timeout: float = 10) -> None:
        done = self.dir / "done"
        done.unlink(missing_ok=True)
        (self.dir / "action").write_text(what)
        os.kill(self.pid, signal.SIGUSR1)
        deadline = time.monotonic() + timeout
        while not done.exists():
            assert time.monotonic() < deadline, f"workload did not do {what}: " + self.output()
            time.sleep(0.005)
        assert done.read_text() == what

    def output(self) -> str:
        try:
            return (self.dir / "out").read_text()
        except OSError:
            return ""

    def tasks(self) -> list:
        return procs.descendants(self.pid) if procs.proc_state(self.pid) else []


def _wait_file(path: Path, timeout: float = 15) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.005)
    return path.read_text()


def _kill(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    left = procs.wait_gone(pids, 10, procs.Reaper())
    assert not left, f"tasks survived SIGKILL: {left}"


def _subreaper(on=None):
    """PR_GET/SET_CHILD_SUBREAPER. As a subreaper this process adopts the
    double-forked workload (and what criu restores) and reaps it at once;
    otherwise init would, and this machine's init reaps every ~2 s only,
    while criu restore needs the dumped pids free."""
    import ctypes
    if on is None:
        val = ctypes.c_int()
        procs._libc.prctl(37, ctypes.byref(val), 0, 0, 0)
        return bool(val.value)
    assert procs._libc.prctl(36, int(on), 0, 0, 0) == 0


@pytest.fixture
def workdir():
    d = Path(tempfile.mkdtemp(prefix="zdtm-snap-", dir="/var/tmp"))
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def start_tree(workdir):
    """Start snap_tree.py, double-forked (setsid, not our child) with its
    stdio on files, as criu wants it (no --shell-job). Kills what it started."""
    started = []
    was_subreaper = _subreaper()
    _subreaper(True)

    def start(prefix: str = "") -> Tree:
        subprocess.run(["sh", "-c", f'{prefix} setsid "$0" "$1" "$2" </dev/null >"$2/out" 2>&1 &',
                        sys.executable, str(WORKLOAD), str(workdir)], check=True, timeout=10)
        t = Tree(workdir, int(_wait_file(workdir / "ready")))
        started.append(t)
        deadline = time.monotonic() + 10
        while len(t.tasks()) < 2:       # the child exists before "ready"; be safe anyway
            assert time.monotonic() < deadline, t.output()
            time.sleep(0.005)
        return t

    try:
        yield start
    finally:
        for t in started:
            _kill(t.tasks())
        if not was_subreaper:
            _subreaper(False)
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _cwd_in(p, workdir)], "tasks left behind"


def _cwd_in(pid: str, d: Path) -> bool:
    try:
        return os.readlink(f"/proc/{pid}/cwd").startswith(str(d))
    except OSError:
        return False


def test_real_tree_twice_is_the_same(start_tree):
    t = start_tree()
    a = snapshot_tree(t.pid)
    b = snapshot_tree(t.pid)
    assert diff(a, b) == []
    assert [(x.pos, x.comm, len(x.threads)) for x in a.tasks] == [("0", a.tasks[0].comm, 2),
                                                                    ("0.0", a.tasks[0].comm, 1)]
    root, child = a.tasks
    assert root.rel == {"ppid": "outside", "pgid": "0", "sid": "0"}
    assert child.rel == {"ppid": "0", "pgid": "0", "sid": "0"}
    fds = {n: f.target for n, f in root.fds.items()}
    assert fds[3] == fds[4] == "pipe#1" and child.fds[3].target == "pipe#1"    # pairing kept
    assert fds[7] == "socket#1" and fds[8] == "socket#2"
    assert root.fds[5].target == str(t.dir / "data") and root.fds[5].pos == 100
    assert root.fds[6].target == str(t.dir / "gone") + " (deleted)"
    assert root.fds[9].info == ("eventfd-count: 3", "eventfd-semaphore: 0")
    assert root.creds["umask"] == "0027" and root.cwd == str(t.dir)
    assert root.threads[0].signals["SigBlk"] & (1 << (signal.SIGURG - 1))
    assert root.mntns == "host" and a.mounts == {}


SIGURG, SIGUSR2 = 1 << (signal.SIGURG - 1), 1 << (signal.SIGUSR2 - 1)


@pytest.mark.parametrize("action,expect", [
    # (tree position, item, text or None) for every difference expected
    ("newfd", [("0", "fd.11", "fd 11 /dev/zero flags 02000000 new after restore")]),
    ("umask", [("0", "creds.umask", "creds umask 0027 -> 0077")]),
    ("block", [("0", "signals.sigblk", f"main thread SigBlk {SIGURG:#x} -> {SIGURG | SIGUSR2:#x}")]),
    # fd 10 is mmap's dup of fd 5 and the child inherited both: one file
    # description, one offset, seen through four fds
    ("lseek", [("0", "fd.5.pos", "fd 5 pos 100 -> 1234"), ("0", "fd.10.pos", "fd 10 pos 100 -> 1234"),
               ("0.0", "fd.5.pos", "fd 5 pos 100 -> 1234"), ("0.0", "fd.10.pos", "fd 10 pos 100 -> 1234")]),
    ("rlimit", [("0", "rlimits.nofile", None)]),
    ("chdir", [("0", "cwd", " -> /")]),
    ("ignore", [("0", "signals.sigign", None)]),
    ("mmap", [("0", "maps.[shared-anon]", "r--s [shared-anon] new after restore")]),
])
def test_real_change_is_exactly_that_item(start_tree, action, expect):
    t = start_tree()
    t.act("noop")           # the handler's own first-run allocations happen now
    before = snapshot_tree(t.pid)
    t.act(action)
    found = differences(before, snapshot_tree(t.pid))
    assert [(d.who.rsplit("[", 1)[1][:-1], d.item) for d in found] == [e[:2] for e in expect], \
        diff(before, snapshot_tree(t.pid))
    for d, (_, _, text) in zip(found, expect):
        assert text is None or text in d.text, d.text
    assert found[0].who.startswith(f"pid {t.pid} (")
    assert diff(before, snapshot_tree(t.pid), ignore=[expect[0][1].split(".")[0]]) == []


def test_real_mounts_in_own_namespace(start_tree):
    t = start_tree("unshare -m --propagation private")
    before = snapshot_tree(t.pid)
    assert before.tasks[0].mntns == before.tasks[1].mntns == "mntns#1"
    assert any(m.mountpoint == "/" for m in before.mounts["mntns#1"])
    t.act("mount")
    lines = diff(before, snapshot_tree(t.pid))
    assert lines == [f"pid {t.pid} ({before.tasks[0].comm}) [0]: mount {t.dir}/mnt (tmpfs snap) new after restore"]
    assert diff(before, snapshot_tree(t.pid), ignore=[f"mounts.{t.dir}/mnt"]) == []


def test_real_task_gone_and_zombie(start_tree):
    t = start_tree()
    before = snapshot_tree(t.pid)
    child = before.tasks[1].pid
    os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while procs.proc_state(child) != "Z":       # the workload does not reap it
        assert time.monotonic() < deadline
        time.sleep(0.005)
    comm = before.tasks[1].comm
    assert diff(before, snapshot_tree(t.pid)) == [f"pid {child} ({comm}) [0.0]: state alive -> zombie"]


# ------------------------------------------------------------ real criu

def _criu(criu, *args, cwd=None) -> subprocess.CompletedProcess:
    return subprocess.run([str(criu), *map(str, args)], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=60, cwd=cwd)


def _log_errors(path: Path) -> str:
    try:
        return "\n".join(l for l in path.read_text(errors="replace").splitlines() if "Error" in l)[-3000:]
    except OSError:
        return ""


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_real_criu_round_trip_no_difference(start_tree, real_criu):
    """Dump and restore (twice) a tree with a pipe holding data, a file at an
    offset, a deleted file, a socketpair, an eventfd, shared and private
    mappings, a thread, a blocked signal, a umask and a child: /proc must
    show exactly the same thing afterwards."""
    t = start_tree()
    first = snapshot_tree(t.pid)
    pids = t.tasks()
    for i in (1, 2):
        before = snapshot_tree(t.pid)
        img = t.dir / f"img{i}"
        img.mkdir()
        res = _criu(real_criu, "dump", "-t", t.pid, "-D", img, "-o", "dump.log", "-v4")
        assert res.returncode == 0, res.stdout + _log_errors(img / "dump.log")
        assert not procs.wait_gone(pids, 10, procs.Reaper()), "dumped tasks still there"
        (t.dir / "restored.pid").unlink(missing_ok=True)
        res = _criu(real_criu, "restore", "-D", img, "-o", "restore.log", "-v4", "--restore-detached",
                    "--pidfile", t.dir / "restored.pid")
        assert res.returncode == 0, res.stdout + _log_errors(img / "restore.log")
        assert int((t.dir / "restored.pid").read_text()) == t.pid
        after = snapshot_tree(t.pid)
        assert diff(before, after) == [], f"round trip {i}"
        assert diff(first, after) == []
        assert len(after.tasks) == 2 and len(after.tasks[0].threads) == 2
    # and the restored workload still works: it answers a signal
    t.act("umask")
    assert [d.item for d in differences(first, snapshot_tree(t.pid))] == ["creds.umask"]


def test_epoll_registrations_compare_by_events_and_data():
    """The fd number a registration was made with is seen only in fdinfo
    and outlives that fd (criu re-registers the file under the fd it
    restored it at): registrations compare by events and data."""
    import select
    r, w = os.pipe()
    ep = select.epoll()
    dup = os.dup(r)
    ep.register(dup, select.EPOLLIN)
    os.close(dup)                       # the registration stays, its fd is gone
    ep.register(r, select.EPOLLOUT)
    try:
        from zdtm.snapshot import _read_fds
        t = TaskSnap(pid=os.getpid(), pos="0")
        _read_fds(os.getpid(), t)
        tfds = [x for x in t.fds[ep.fileno()].info if x.startswith("tfd ")]
        # "tfd events <mask> data <data>": EPOLLIN and EPOLLOUT (plus ERR|HUP), no fd number
        assert len(tfds) == 2 and all(x.split()[:2] == ["tfd", "events"] for x in tfds), tfds
        assert sorted(int(x.split()[2], 16) & 0x5 for x in tfds) == [0x1, 0x4], tfds
    finally:
        ep.close()
        os.close(r)
        os.close(w)
