#!/usr/bin/python3
"""File locks survive C/R (criu --file-locks).

Held by the test process, on files in the work dir:
* flock(LOCK_EX) on file 1; flock(LOCK_SH) on file 2;
* POSIX record locks (lockf/fcntl) on file 3: a write lock on bytes
  [0, 100) and a read lock on [200, 300);
* an OFD lock (F_OFD_SETLK) write lock on bytes [10, 20) of file 4.
Held by a forked helper: a POSIX write lock on [500, 600) of file 3.

After restore, a freshly forked checker process (new open files of its own)
must be refused every conflicting lock (EWOULDBLOCK/EAGAIN) and granted the
compatible ones (LOCK_SH on file 2, a read lock on [200, 300), a write lock
on the unlocked gap [100, 200)); F_GETLK must name the test as the owner of
[0, 100) and the helper as the owner of [500, 600); the test must see the
helper's lock too.  Finally the test releases its locks and the checker
gets them.
"""
import fcntl
import os
import struct

import zdtmtst as t

t.init()
check = t.check

F_OFD_GETLK = getattr(fcntl, 'F_OFD_GETLK', 36)
F_OFD_SETLK = getattr(fcntl, 'F_OFD_SETLK', 37)

cwd = os.getcwd()
paths = [os.path.join(cwd, 'lock.%d' % i) for i in range(1, 5)]
fds = []
for p in paths:
    fd = os.open(p, os.O_RDWR | os.O_CREAT, 0o644)
    os.write(fd, b'\0' * 4096)
    fds.append(fd)
f1, f2, f3, f4 = fds

# struct flock on x86_64 and the other 64-bit Linux ABIs: short type, short
# whence, off_t start, off_t len, pid_t pid (+ padding)
FLOCK = 'hhqqi4x'


def getlk(fd, typ, start, length, cmd=fcntl.F_GETLK):
    res = fcntl.fcntl(fd, cmd, struct.pack(FLOCK, typ, os.SEEK_SET, start, length, 0))
    return struct.unpack(FLOCK, res)


def setlk(fd, typ, start, length, cmd=fcntl.F_SETLK):
    fcntl.fcntl(fd, cmd, struct.pack(FLOCK, typ, os.SEEK_SET, start, length, 0))


fcntl.flock(f1, fcntl.LOCK_EX | fcntl.LOCK_NB)
fcntl.flock(f2, fcntl.LOCK_SH | fcntl.LOCK_NB)
fcntl.lockf(f3, fcntl.LOCK_EX | fcntl.LOCK_NB, 100, 0)
setlk(f3, fcntl.F_RDLCK, 200, 100)
setlk(f4, fcntl.F_WRLCK, 10, 10, F_OFD_SETLK)

go_r, go_w = os.pipe()
rd_r, rd_w = os.pipe()
helper = os.fork()
if helper == 0:
    code = 1
    try:
        os.close(go_w)
        os.close(rd_r)
        hfd = os.open(paths[2], os.O_RDWR)
        setlk(hfd, fcntl.F_WRLCK, 500, 100)
        os.close(rd_w)
        os.read(go_r, 1)
        code = 0
    finally:
        os._exit(code)
os.close(go_r)
os.close(rd_w)
os.read(rd_r, 1)
os.close(rd_r)

me = os.getpid()
lock_lines_before = None


def my_locks():
    """Lines of /proc/locks for our files' inodes, without the lock ids."""
    inos = {os.fstat(fd).st_ino for fd in fds}
    out = []
    with open('/proc/locks') as f:
        for line in f:
            parts = line.split()
            if parts[1] == '->':          # a blocked waiter: not ours
                continue
            dev_ino = parts[5].split(':')
            if int(dev_ino[2]) in inos:
                out.append(' '.join(parts[1:]))
    return sorted(out)


lock_lines_before = my_locks()
check(len(lock_lines_before) == 6, 'expected 6 locks in /proc/locks, got %r' % lock_lines_before)

t.daemon()
t.waitsig()

after = my_locks()
check(after == lock_lines_before, '/proc/locks for our files changed:\n  %s\n->\n  %s'
      % ('\n  '.join(lock_lines_before), '\n  '.join(after)))

# as seen from the test itself: the helper's lock
typ, _, start, length, pid = getlk(f3, fcntl.F_WRLCK, 500, 100)
check(typ == fcntl.F_WRLCK and pid == helper and (start, length) == (500, 100),
      'test: F_GETLK on [500,600) gives type %d pid %d range %d+%d, want the helper %d'
      % (typ, pid, start, length, helper))

EAGAIN_LIKE = (BlockingIOError, PermissionError)


def checker():
    """Runs in a fresh child with its own open files; returns a list of problems."""
    bad = []
    c = [os.open(p, os.O_RDWR) for p in paths]

    def refused(what, fn):
        try:
            fn()
            bad.append('%s was granted' % what)
        except EAGAIN_LIKE:
            pass

    def granted(what, fn):
        try:
            fn()
        except OSError as e:
            bad.append('%s was refused: %s' % (what, e))

    refused('flock(LOCK_SH) on file 1', lambda: fcntl.flock(c[0], fcntl.LOCK_SH | fcntl.LOCK_NB))
    refused('flock(LOCK_EX) on file 2', lambda: fcntl.flock(c[1], fcntl.LOCK_EX | fcntl.LOCK_NB))
    granted('flock(LOCK_SH) on file 2', lambda: fcntl.flock(c[1], fcntl.LOCK_SH | fcntl.LOCK_NB))
    refused('read lock [50,60) of file 3', lambda: setlk(c[2], fcntl.F_RDLCK, 50, 10))
    refused('write lock [250,260) of file 3', lambda: setlk(c[2], fcntl.F_WRLCK, 250, 10))
    granted('read lock [200,300) of file 3', lambda: setlk(c[2], fcntl.F_RDLCK, 200, 100))
    granted('write lock [100,200) of file 3', lambda: setlk(c[2], fcntl.F_WRLCK, 100, 100))
    refused('write lock [550,551) of file 3', lambda: setlk(c[2], fcntl.F_WRLCK, 550, 1))
    refused('OFD read lock [15,16) of file 4', lambda: setlk(c[3], fcntl.F_RDLCK, 15, 1, F_OFD_SETLK))
    granted('OFD write lock [20,30) of file 4', lambda: setlk(c[3], fcntl.F_WRLCK, 20, 10, F_OFD_SETLK))
    typ, _, start, length, pid = getlk(c[2], fcntl.F_RDLCK, 0, 100)
    if typ != fcntl.F_WRLCK or pid != me or (start, length) != (0, 100):
        bad.append('F_GETLK [0,100) of file 3: type %d pid %d range %d+%d, want a write lock of %d'
                   % (typ, pid, start, length, me))
    typ, _, start, length, pid = getlk(c[3], fcntl.F_WRLCK, 0, 0, F_OFD_GETLK)
    if typ != fcntl.F_WRLCK or pid != -1 or (start, length) != (10, 10):
        bad.append('F_OFD_GETLK of file 4: type %d pid %d range %d+%d, want an OFD write lock on 10+10'
                   % (typ, pid, start, length))
    return bad


def run_checker(fn):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        try:
            problems = fn()
        except BaseException as e:
            problems = ['checker crashed: %r' % e]
        os.write(w, '\n'.join(problems).encode())
        os._exit(0)
    os.close(w)
    out = b''
    while True:
        chunk = os.read(r, 65536)
        if not chunk:
            break
        out += chunk
    os.close(r)
    os.waitpid(pid, 0)
    return [x for x in out.decode().split('\n') if x]


for problem in run_checker(checker):
    t.fail('after restore: ' + problem)

# release everything; a new checker then gets all the locks
os.close(go_w)
os.waitpid(helper, 0)
for fd in fds:
    os.close(fd)


def checker_free():
    bad = []
    c = [os.open(p, os.O_RDWR) for p in paths]
    try:
        fcntl.flock(c[0], fcntl.LOCK_EX | fcntl.LOCK_NB)
        fcntl.flock(c[1], fcntl.LOCK_EX | fcntl.LOCK_NB)
        setlk(c[2], fcntl.F_WRLCK, 0, 0)
        setlk(c[3], fcntl.F_WRLCK, 0, 0, F_OFD_SETLK)
    except OSError as e:
        bad.append('a lock is still held after release: %s' % e)
    return bad


for problem in run_checker(checker_free):
    t.fail(problem)
t.finish()
