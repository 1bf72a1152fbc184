#!/usr/bin/python3
"""A forked process tree survives C/R.

Tree: test -> A (own process group) -> A1 (grandchild)
           -> B
           -> Z (exits with status 42 before readiness: a zombie across C/R)
Every task keeps a datagen buffer and records its pid/ppid/pgid/sid, then
waits until its parent closes the "go" pipe.  After restore each task checks
its own state and reports through its exit status (A also folds in A1's);
the test checks the statuses, the zombie's, and the tree seen in /proc.
"""
import os
import time

import zdtmtst as t

t.init()
check = t.check

BAD_PPID, BAD_PID, BAD_DATA, BAD_PGID, BAD_SID, BAD_GO, BAD_SUB, EXC = 1, 2, 3, 4, 5, 6, 7, 9


def task_body(go_r, expect_pgid, sub=None):
    """Runs in a forked task; never returns."""
    code = EXC
    try:
        me, parent = os.getpid(), os.getppid()
        sid = os.getsid(0)
        data, crc = t.datagen(65536)
        os.read(go_r, 1)                  # EOF when the parent closes its end
        code = 0
        if os.getppid() != parent:
            code = BAD_PPID
        elif os.getpid() != me:
            code = BAD_PID
        elif not t.datachk(data, crc):
            code = BAD_DATA
        elif os.getpgid(0) != expect_pgid:
            code = BAD_PGID
        elif os.getsid(0) != sid:
            code = BAD_SID
        if sub is not None:
            sub_pid, sub_go_w = sub
            os.close(sub_go_w)
            _, st = os.waitpid(sub_pid, 0)
            if code == 0 and not (os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0):
                code = BAD_SUB * 10 + (os.WEXITSTATUS(st) if os.WIFEXITED(st) else 0)
    finally:
        os._exit(code)


held = []      # the test's ends of earlier children's pipes


def spawn(new_pgroup=False, with_child=False):
    """Fork a task waiting on its own go pipe; returns (pid, go_w, ready_r)."""
    go_r, go_w = os.pipe()
    rd_r, rd_w = os.pipe()
    pid = os.fork()
    if pid == 0:
        try:
            for fd in held + [go_w, rd_r]:
                os.close(fd)
            if new_pgroup:
                os.setpgid(0, 0)
            sub = None
            if with_child:
                sgo_r, sgo_w = os.pipe()
                srd_r, srd_w = os.pipe()
                spid = os.fork()
                if spid == 0:
                    os.close(sgo_w)
                    os.close(srd_r)
                    os.close(rd_w)
                    os.close(go_r)
                    os.close(srd_w)         # ready
                    task_body(sgo_r, os.getpgid(0))
                os.close(sgo_r)
                os.close(srd_w)
                os.read(srd_r, 1)           # wait for the grandchild
                os.close(srd_r)
                sub = (spid, sgo_w)
            os.close(rd_w)                  # ready
            task_body(go_r, os.getpgid(0), sub)
        except BaseException:
            os._exit(EXC)
    os.close(go_r)
    os.close(rd_w)
    held.extend((go_w, rd_r))
    return pid, go_w, rd_r


a, a_go, a_rd = spawn(new_pgroup=True, with_child=True)
b, b_go, b_rd = spawn()
z = os.fork()
if z == 0:
    os._exit(42)
for rd in (a_rd, b_rd):
    check(os.read(rd, 1) == b'', 'a child failed to get ready')
    os.close(rd)
    held.remove(rd)
# Z must be a zombie before we declare readiness (by time, not by a count of
# yields: on a loaded machine 1000 yields passed before the child ran).
deadline = time.monotonic() + 10
while True:
    with open('/proc/%d/stat' % z) as f:
        if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
            break
    if time.monotonic() > deadline:
        t.err('the zombie-to-be did not exit within 10 s')
        break
    time.sleep(0.001)


def tree():
    out = {}
    for pid in (a, b, z):
        with open('/proc/%d/stat' % pid) as f:
            fields = f.read().rsplit(')', 1)[1].split()
        out[pid] = (fields[0] if fields[0] == 'Z' else 'live', int(fields[1]), int(fields[2]))
    with open('/proc/%d/task/%d/children' % (a, a)) as f:
        out['a-children'] = f.read().split()
    return out


before = tree()
check(os.getpgid(a) == a and os.getpgid(b) == os.getpgid(0), 'process groups not as set up')
if t.failed():
    raise SystemExit(1)

t.daemon()
t.waitsig()

after = tree()
check(after == before, 'process tree changed: %r -> %r' % (before, after))
os.close(a_go)
os.close(b_go)
for name, pid in (('A', a), ('B', b)):
    _, st = os.waitpid(pid, 0)
    check(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0, 'child %s (pid %d): %s' % (
        name, pid, 'exit code %d' % os.WEXITSTATUS(st) if os.WIFEXITED(st) else 'status %#x' % st))
_, st = os.waitpid(z, 0)
check(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 42, 'zombie: status %#x, want exit 42' % st)
try:
    os.waitpid(-1, os.WNOHANG)
    t.fail('unexpected extra children')
except ChildProcessError:
    pass
t.finish()
