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

from zdtm import procs, snapshot
from zdtm.snapshot import (O_TMPFILE_BIT, TMPFILE_LOST, WATCH_ON_DELETED_LOST, Fd, Mount, TaskSnap, ThreadSnap,
                           TreeSnapshot, canonicalise_ids, diff, differences, parse_maps, parse_mountinfo,
                           snapshot_tree, summarize_accepted)

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


def test_a_thread_caught_starting_is_not_compared_by_mask():
    """All blockable signals blocked: glibc's pthread_create window; its mask
    after the restore says nothing. A leader's, or a partial mask, still counts."""
    th = lambda tid, blk=0: ThreadSnap(tid, tid, "w", {"SigBlk": blk, "SigPnd": 0})
    starting = 0xfffffffffffbbeff          # all but SIGKILL, SIGTERM, SIGSTOP
    assert diff(tree(task(threads=[th(100), th(102, starting)])), tree(task(threads=[th(100), th(102)]))) == []
    assert diff(tree(task(threads=[th(100, starting), th(102)])), tree(task(threads=[th(100), th(102)]))) == \
        [f"pid 100 (w) [0]: main thread SigBlk {starting:#x} -> 0x0"]
    partial = starting & ~(1 << 9)
    assert diff(tree(task(threads=[th(100), th(102, partial)])), tree(task(threads=[th(100), th(102)]))) == \
        [f"pid 100 (w) [0]: thread 1 (tid 102) SigBlk {partial:#x} -> 0x0"]


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
    assert got[2] == Mount("/tmp", "/", "/", "rw", "master:/", "tmpfs", "tmpfs", "rw,size=64k")
    assert got[3].root == "net" and got[3].parent == "/tmp"
    assert [m.propagation for m in got] == ["shared:/", "shared:/proc", "master:/", ""]
    # new ids, new peer groups, new devices: the same table
    renumbered = MOUNTINFO.replace("22 ", "122 ").replace("23 ", "123 ").replace("24 ", "124 ") \
        .replace("25 ", "125 ").replace(":1 ", ":7 ").replace(":12 ", ":19 ").replace("0:30", "0:77") \
        .replace("4026531840", "4026532000")
    assert parse_mountinfo(renumbered) == got
    b, a = tree(task(mntns="mntns#1")), tree(task(mntns="mntns#1"))
    b.mounts["mntns#1"] = got
    a.mounts["mntns#1"] = parse_mountinfo(renumbered.replace("rw,size=64k", "rw,size=128k")
                                          .replace(" shared:19", ""))
    assert diff(b, a) == ["pid 100 (w) [0]: mount /proc propagation shared:/proc -> -",
                          "pid 100 (w) [0]: mount /tmp superoptions rw,size=64k -> rw,size=128k"]
    assert diff(b, a, ["mounts./proc", "mounts./tmp"]) == []


# Peer groups of upstream's mount_complex_sharing, as before the dump and as
# criu restored them: other numbers, the table in another order.
SHARING = """\
30 1 254:0 / / rw shared:1 - ext4 /dev/vda rw
31 30 0:40 / /t rw shared:2 master:9 - tmpfs t rw
32 30 0:40 / /t-bind rw shared:2 master:9 - tmpfs t rw
33 31 0:41 / /t/a rw shared:3 - tmpfs a rw
34 32 0:41 / /t-bind/a rw shared:3 - tmpfs a rw
35 30 0:42 / /s rw master:3 - tmpfs s rw
"""
SHARING_RESTORED = """\
60 1 254:0 / / rw shared:40 - ext4 /dev/vda rw
62 60 0:40 / /t-bind rw shared:44 master:7 - tmpfs t rw
61 60 0:40 / /t rw shared:44 master:7 - tmpfs t rw
65 60 0:42 / /s rw master:41 - tmpfs s rw
64 62 0:41 / /t-bind/a rw shared:41 - tmpfs a rw
63 61 0:41 / /t/a rw shared:41 - tmpfs a rw
"""


def _mount_tables(before: str, after: str) -> tuple:
    b, a = tree(task(mntns="mntns#1")), tree(task(mntns="mntns#1"))
    b.mounts["mntns#1"], a.mounts["mntns#1"] = parse_mountinfo(before), parse_mountinfo(after)
    return b, a


def test_peer_groups_compare_by_sharing_not_numbers_or_table_order():
    b, a = _mount_tables(SHARING, SHARING_RESTORED)
    assert diff(b, a) == []
    assert [m.propagation for m in b.mounts["mntns#1"]] == \
        ["shared:/", "shared:/t master:outside#1", "shared:/t master:outside#1", "shared:/t-bind/a",
         "shared:/t-bind/a", "master:/t-bind/a"]
    # /s now receives from /t's group rather than from /t/a's: that line only
    b, a = _mount_tables(SHARING, SHARING_RESTORED.replace("master:41", "master:44"))
    assert diff(b, a) == ["pid 100 (w) [0]: mount /s propagation master:/t-bind/a -> master:/t"]
    # /t/a no longer shares with /t-bind/a
    b, a = _mount_tables(SHARING, SHARING_RESTORED.replace("/t/a rw shared:41", "/t/a rw shared:50"))
    assert diff(b, a) == ["pid 100 (w) [0]: mount /t/a propagation shared:/t-bind/a -> shared:/t/a"]
    # mounts stacked on one point are told apart
    stacked = SHARING + "36 35 0:43 / /s rw shared:5 - tmpfs s2 rw\n"
    assert parse_mountinfo(stacked)[-1].propagation == "shared:/s#2"


def test_criu_temporary_names_of_deleted_files():
    text = "7f0000000000-7f0000001000 r--p 00000000 fe:00 30 /w/f.test.cr_link (deleted)\n" \
           "7f0000001000-7f0000002000 r--p 00000000 fe:00 31 /w/g.cr.1f.ghost (deleted)\n" \
           "7f0000002000-7f0000003000 r--p 00000000 fe:00 32 /w/h.cr_link\n"
    assert [m[4] for m in parse_maps(text)] == ["/w/f.test (deleted)", "/w/g (deleted)", "/w/h.cr_link"]


def test_anonymous_hugetlb_memory_restored_from_memfd():
    """upstream's maps09/maps10: criu restores shared anonymous hugetlb
    memory from a hugetlb memfd; private stays as it was."""
    text = "7f0000000000-7f0000400000 rw-s 00000000 00:10 5 /anon_hugepage (deleted)\n" \
           "7f0000400000-7f0000800000 rw-p 00000000 00:10 6 /anon_hugepage (deleted)\n"
    restored = text.replace("rw-s 00000000 00:10 5 /anon", "rw-s 00000000 00:01 77 /memfd:/anon")
    assert parse_maps(restored) == parse_maps(text) == [
        (0x7f0000000000, 0x7f0000400000, "rw-s", 0, "[anon-hugetlb]"),
        (0x7f0000400000, 0x7f0000800000, "rw-p", 0, "[anon-hugetlb]")]
    assert parse_maps(text.replace("/anon_hugepage", "/dev/zero")) != parse_maps(text)


def test_deleted_file_matches_any_of_its_former_names():
    """upstream's unlink_mmap01: one file mapped through two hard links, both
    unlinked; criu restores both mappings from the file under one name."""
    x, lnk, other = "/w/x (deleted)", "/w/x.lnk (deleted)", "/w/y (deleted)"
    maps = lambda n1, n2: [(0x1000, 0x2000, "r--p", 0, n1), (0x2000, 0x3000, "r--p", 0, n2)]
    b = tree(task(maps=maps(lnk, x), fds={4: Fd(x, 0o2, 0)}))
    b.deleted = {"254:0:30": [x, lnk], "254:0:31": [other]}
    assert diff(b, tree(task(maps=maps(lnk, lnk), fds={4: Fd(lnk, 0o2, 0)}))) == []
    assert diff(b, tree(task(maps=maps(lnk, other), fds={4: Fd(x, 0o2, 0)}))) == \
        ["pid 100 (w) [0]: mapping 2000-3000 r--p /w/x (deleted): file /w/x (deleted) -> /w/y (deleted)"]
    # a name two deleted files bore says nothing about which one it is
    b.deleted["254:0:31"] = [other, lnk]
    assert b.deleted_aliases() == {}
    b.deleted["254:0:30"] = [x, lnk, "/w/x2 (deleted)"]
    assert b.deleted_aliases() == {x: x, "/w/x2 (deleted)": x}


def test_real_deleted_file_names_grouped_by_inode(tmp_path):
    import mmap
    f, lnk = tmp_path / "x", tmp_path / "x.lnk"
    f.write_bytes(b"a" * 4096)
    os.link(f, lnk)
    fd1, fd2 = os.open(f, os.O_RDONLY), os.open(lnk, os.O_RDONLY)
    m = mmap.mmap(fd2, 4096, prot=mmap.PROT_READ)
    f.unlink(), lnk.unlink()
    try:
        snap = snapshot_tree(os.getpid())
    finally:
        m.close(), os.close(fd1), os.close(fd2)
    names = [v for v in snap.deleted.values() if f"{f} (deleted)" in v]
    assert names == [[f"{f} (deleted)", f"{lnk} (deleted)"]], snap.deleted
    assert snap.deleted_aliases()[f"{lnk} (deleted)"] == f"{f} (deleted)"


def test_pending_stop_signal_of_a_stopped_task_is_dropped():
    proc = subprocess.Popen(["sleep", "60"])
    try:
        os.kill(proc.pid, signal.SIGSTOP)
        os.waitid(os.P_PID, proc.pid, os.WSTOPPED | os.WNOWAIT)
        os.kill(proc.pid, signal.SIGSTOP)           # pending: the task is stopped already
        os.kill(proc.pid, signal.SIGUSR1)           # pending too, and it stays
        status = Path(f"/proc/{proc.pid}/status").read_text()
        assert "ShdPnd:\t0000000000040200" in status, status
        t = snapshot_tree(proc.pid).tasks[0]
        assert t.state == "stopped" and t.signals["ShdPnd"] == 1 << (signal.SIGUSR1 - 1)
    finally:
        proc.kill()
        proc.wait()


def test_eventfd_counts_of_a_tree_with_posix_timers_not_compared():
    """upstream's pthread_timers: a SIGEV_THREAD timer counts an eventfd up
    every 10ms, before the dump and after the restore alike."""
    efd = lambda n: {4: Fd("anon_inode:[eventfd]", 0o2, 0, (f"eventfd-count: {n}", "eventfd-semaphore: 0"))}
    b, a = tree(task(fds=efd(0))), tree(task(fds=efd(27)))
    assert diff(b, a) == ["pid 100 (w) [0]: fd 4 eventfd-count: 0; eventfd-semaphore: 0 -> "
                          "eventfd-count: 27; eventfd-semaphore: 0"]
    b.tasks[0].posix_timers = 1
    assert diff(b, a) == []


def test_threads_of_a_task_with_sigev_thread_timers_compared_where_on_both_sides():
    """pthread_timers again: each expiry runs in a thread of its own."""
    th = lambda tid, blk=0: ThreadSnap(tid, tid, "w", {"SigBlk": blk, "SigPnd": 0})
    b, a = tree(task(threads=[th(100), th(101), th(130)])), tree(task(threads=[th(100), th(101), th(131)]))
    assert diff(b, a) == ["pid 100 (w) [0]: thread 2 (tid 131) tid 130 -> 131"]
    b.tasks[0].thread_timers = 1
    assert diff(b, a) == []
    a.tasks[0].threads[1].signals["SigBlk"] = 4         # a thread on both sides still compares
    assert diff(b, a) == ["pid 100 (w) [0]: thread 1 (tid 101) SigBlk 0x0 -> 0x4"]
    # and their stacks come and go: its anonymous private memory is not compared, files are
    a.tasks[0].threads[1].signals["SigBlk"] = 0
    a.tasks[0].maps = [(0x1000, 0x3000, "rw-p", 0, "/tmp/x"), (0x7000, 0x8000, "---p", 0, "")]
    assert diff(b, a) == []
    a.tasks[0].maps[0] = (0x1000, 0x3000, "r--p", 0, "/tmp/x")
    assert diff(b, a) == ["pid 100 (w) [0]: mapping 1000-3000 rw-p /tmp/x: perms rw-p -> r--p"]


def test_real_posix_timers_counted():
    import ctypes

    class SigEvent(ctypes.Structure):
        _fields_ = [("value", ctypes.c_void_p), ("signo", ctypes.c_int), ("notify", ctypes.c_int),
                    ("function", ctypes.c_void_p), ("attribute", ctypes.c_void_p), ("pad", ctypes.c_char * 32)]

    libc = ctypes.CDLL(None, use_errno=True)
    notify = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(lambda value: None)
    timers = [ctypes.c_void_p(), ctypes.c_void_p()]
    by_thread = SigEvent(notify=2, function=ctypes.cast(notify, ctypes.c_void_p))      # SIGEV_THREAD
    assert libc.timer_create(1, None, ctypes.byref(timers[0])) == 0, ctypes.get_errno()    # CLOCK_MONOTONIC
    assert libc.timer_create(1, ctypes.byref(by_thread), ctypes.byref(timers[1])) == 0, ctypes.get_errno()
    try:
        t = snapshot_tree(os.getpid()).tasks[0]
    finally:
        for timer in timers:
            libc.timer_delete(timer)
    assert (t.posix_timers, t.thread_timers) == (2, 1)
    t = snapshot_tree(os.getpid()).tasks[0]
    assert (t.posix_timers, t.thread_timers) == (0, 0)


def test_tmpfile_flag_lost_is_a_known_deviation(tmp_path):
    fd = os.open(tmp_path, os.O_TMPFILE | os.O_RDWR)
    try:
        flags = snapshot_tree(os.getpid()).tasks[0].fds[fd].flags
    finally:
        os.close(fd)
    assert flags & O_TMPFILE_BIT          # /proc shows it; criu restores the file without it
    name = "/w/#12 (deleted)"
    b, a = tree(task(fds={5: Fd(name, flags, 0)})), tree(task(fds={5: Fd(name, flags & ~O_TMPFILE_BIT, 0)}))
    found = differences(b, a)
    assert [(d.item, d.accepted) for d in found] == [("fd.5.flags", TMPFILE_LOST)]
    assert summarize_accepted(found) == [f"outside check: {TMPFILE_LOST} (seen: {found[0]})"]
    a.tasks[0].fds[5].flags |= os.O_APPEND            # and another flag lost or gained: a real one
    assert [d.accepted for d in differences(b, a)] == [""]


def test_inotify_watch_on_deleted_file_lost_is_a_known_deviation():
    """upstream's inotify00: criu restores the watch through a ghost file and
    the watch goes with it."""
    watches = ("inotify wd 2 mask 708", "inotify wd 1 mask 708")
    b = tree(task(fds={4: Fd("anon_inode:inotify", 0o4000, 0, watches, {1: "254:0:10", 2: "254:0:11"}),
                       5: Fd("/w/d/removed (deleted)", 0o2, 0)}))
    b.deleted = {"254:0:11": ["/w/d/removed (deleted)"]}
    after = lambda info: tree(task(fds={4: Fd("anon_inode:inotify", 0o4000, 0, info, {}),
                                        5: Fd("/w/d/removed (deleted)", 0o2, 0)}))
    found = differences(b, after(watches[1:]))
    assert [(d.item, d.accepted) for d in found] == [("fd.4.info", WATCH_ON_DELETED_LOST)]
    # the watch on the directory lost, or the watch changed: real ones
    assert [d.accepted for d in differences(b, after(watches[:1]))] == [""]
    assert [d.accepted for d in differences(b, after(("inotify wd 2 mask 2", watches[1])))] == [""]


def test_real_inotify_watch_knows_its_file(tmp_path):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    f = tmp_path / "watched"
    f.write_text("x")
    ifd = libc.inotify_init1(os.O_CLOEXEC)
    held = os.open(f, os.O_RDONLY)
    try:
        wd = libc.inotify_add_watch(ifd, str(f).encode(), 0x2)      # IN_MODIFY
        f.unlink()
        snap = snapshot_tree(os.getpid())
    finally:
        os.close(held), os.close(ifd)
    key = snap.tasks[0].fds[ifd].watched[wd]
    assert snap.deleted[key] == [f"{f} (deleted)"]


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



def test_real_task_dying_while_read_is_a_zombie_not_unreadable(start_tree, monkeypatch):
    """A live workload's child can exit between our read of its stat and of
    its files: it must be recorded as the zombie it became (which the dump
    sees too), not as "cwd/mounts unreadable" (a CI flake in live/fork_loop)."""
    t = start_tree()
    child = snapshot_tree(t.pid).tasks[1].pid
    os.kill(child, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while procs.proc_state(child) != "Z":
        assert time.monotonic() < deadline
        time.sleep(0.005)
    real_read, faked = snapshot._read, []

    def read_as_if_alive(path):          # the first look still saw it running
        text = real_read(path)
        if path == f"/proc/{child}/stat" and not faked:
            faked.append(path)
            i = text.rindex(")") + 2
            text = text[:i] + "S" + text[i + 1:]
        return text
    monkeypatch.setattr(snapshot, "_read", read_as_if_alive)
    snap = snapshot_tree(t.pid)
    assert faked and snap.tasks[1].state == "zombie" and snap.tasks[1].errors == {}


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
