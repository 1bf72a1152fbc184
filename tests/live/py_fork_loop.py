#!/usr/bin/python3
"""Children keep being forked, report back and get reaped while the tree is
checkpointed and restored.

The test keeps up to MAX_INFLIGHT children alive.  Child number n:
* checks a buffer it inherited (CRC taken by the parent before any fork);
* writes one fixed-size report (n, its pid, a digest of its work) to a
  pipe shared by all children - one write(2) of less than PIPE_BUF bytes,
  so reports never interleave - unless it is one of the "silent" ones;
* ends with exit code n % 100 (statuses >= 128 are not restored correctly by
  criu 4.2.1, see static/py_zombie_status), or every 9th child kills itself
  with SIGKILL after a short sleep.  (The parent does not kill children
  itself: a task killed by another restored task in the instant between
  their detaches makes criu 4.2.1's restore fail, see live/kill_on_resume,
  noauto.)
The parent reads reports as they come and reaps children with
waitpid(WNOHANG), matching statuses by pid.  The dump finds children in
every stage: just forked, working, reported, exited but not reaped.

After SIGTERM: no more forks, wait for every child, read every report.
Checks: every child forked was reaped exactly once with the status it had
to end with; every child that had to report did so exactly once with the
right digest and its own pid; no report from a child that should be
silent; no child left (ECHILD); the parent's buffer is intact; the loop
did go round.
"""
import os
import signal
import struct
import time
import zlib

import zdtmtst as t

t.init()
check = t.check

MAX_INFLIGHT = 6
REPORT = struct.Struct('=IiI')          # n, pid, digest


def digest(n):
    return zlib.crc32(b'%d' % n * 50)


def expected(n):
    """('exit', code) or ('signal', signo)."""
    if n % 9 == 4:
        return ('signal', signal.SIGKILL)
    return ('exit', n % 100)


def silent(n):
    return n % 13 == 7


buf, buf_crc = t.datagen(200000)
rep_r, rep_w = os.pipe()
os.set_blocking(rep_r, False)

inflight = {}        # pid -> n
forked = 0
reaped = {}          # n -> (pid, status)
reports = {}         # n -> (pid, digest)
problems = []


def child(n):
    code = 200
    try:
        if not t.datachk(buf, buf_crc):
            os._exit(201)
        if not silent(n):
            os.write(rep_w, REPORT.pack(n, os.getpid(), digest(n)))
        kind, val = expected(n)
        if kind == 'signal':
            time.sleep(0.002)
            os.kill(os.getpid(), val)
        code = val
    finally:
        os._exit(code)


def read_reports():
    while True:
        try:
            data = os.read(rep_r, REPORT.size * 64)
        except BlockingIOError:
            return
        if len(data) % REPORT.size:
            problems.append('a torn report (%d bytes)' % len(data))
        for i in range(0, len(data) - len(data) % REPORT.size, REPORT.size):
            n, pid, dg = REPORT.unpack_from(data, i)
            if n in reports:
                problems.append('child #%d reported twice' % n)
            reports[n] = (pid, dg)


def reap(block):
    while inflight:
        try:
            pid, st = os.waitpid(-1, 0 if block else os.WNOHANG)
        except ChildProcessError:
            problems.append('ECHILD with %d children in flight' % len(inflight))
            inflight.clear()
            return
        if pid == 0:
            return
        n = inflight.pop(pid, None)
        if n is None:
            problems.append('reaped pid %d, not one of ours' % pid)
            continue
        reaped[n] = (pid, st)
        if block:
            return


ready = False
while True:
    while len(inflight) < MAX_INFLIGHT:
        pid = os.fork()
        if pid == 0:
            child(forked)
        inflight[pid] = forked
        forked += 1
    read_reports()
    reap(block=False)
    if not ready and forked >= 40:
        t.daemon()
        ready = True
    if ready and not t.go():
        break
    if len(inflight) == MAX_INFLIGHT:
        reap(block=True)

# finish: everything still in flight
while inflight:
    read_reports()
    reap(block=True)
read_reports()
try:
    os.waitpid(-1, os.WNOHANG)
    problems.append('children left after reaping everything')
except ChildProcessError:
    pass
t.waitsig()

t.msg('%d children forked, %d reaped, %d reports' % (forked, len(reaped), len(reports)))
for p in problems[:10]:
    t.fail(p)
check(forked > 40, 'the loop did not go round (%d children)' % forked)
check(len(reaped) == forked, 'forked %d children, reaped %d' % (forked, len(reaped)))
bad = 0
for n in range(forked):
    if n not in reaped:
        continue
    pid, st = reaped[n]
    kind, val = expected(n)
    ok = (os.WIFEXITED(st) and os.WEXITSTATUS(st) == val) if kind == 'exit' else \
         (os.WIFSIGNALED(st) and os.WTERMSIG(st) == val)
    if not ok and bad < 5:
        t.fail('child #%d (pid %d): status %#x, want %s %d' % (n, pid, st, kind, val))
    bad += not ok
    if silent(n):
        check(n not in reports, 'silent child #%d reported' % n)
    elif n not in reports:
        if bad < 5:
            t.fail('child #%d (pid %d) never reported' % (n, pid))
        bad += 1
    else:
        rpid, dg = reports[n]
        if (rpid, dg) != (pid, digest(n)):
            if bad < 5:
                t.fail('child #%d: report (pid %d, digest %#x), want (%d, %#x)' % (n, rpid, dg, pid, digest(n)))
            bad += 1
check(bad == 0, '%d children with a wrong status or report' % bad)
check(t.datachk(buf, buf_crc), "the parent's buffer is corrupted")
t.finish()
