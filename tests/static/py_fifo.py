#!/usr/bin/python3
"""Named pipes (FIFOs) with data in flight survive C/R.

Set up in the work dir:
* fifo A: opened O_RDONLY|O_NONBLOCK and O_WRONLY, data written and not read
  (more than one page, several writes), the pipe size raised with
  F_SETPIPE_SZ;
* fifo B: opened once O_RDWR only (a FIFO that is its own reader and
  writer), with data in it;
* fifo C: opened for reading and writing, then unlinked (a "ghost" FIFO
  only reachable through the open fds), with data in it;
* a forked helper holds its own O_RDONLY open of fifo A and waits; after
  restore it must read what the test writes into A (the helper and the test
  see the same pipe).

After restore: the FIFO paths are still FIFOs with their mode; fds point to
the same paths (C's shows "(deleted)"), with their access modes and flags;
every byte in flight is there (CRC), in order, and nothing more; the pipe
size of A is kept; the helper receives a message through A.
"""
import fcntl
import os
import stat

import zdtmtst as t

F_SETPIPE_SZ, F_GETPIPE_SZ = 1031, 1032

t.init()
check = t.check

cwd = os.getcwd()
pa, pb, pc = (os.path.join(cwd, n) for n in ('fifo.a', 'fifo.b', 'fifo.c'))
for p in (pa, pb, pc):
    os.mkfifo(p, 0o640)

# A: separate reader/writer
a_r = os.open(pa, os.O_RDONLY | os.O_NONBLOCK)
a_w = os.open(pa, os.O_WRONLY)
a_size = fcntl.fcntl(a_w, F_SETPIPE_SZ, 256 * 1024)
a_data, a_crc = t.datagen(150000)
for i in range(0, len(a_data), 40000):
    os.write(a_w, a_data[i:i + 40000])

# B: one O_RDWR open
b_rw = os.open(pb, os.O_RDWR)
b_data, b_crc = t.datagen(30000)
os.write(b_rw, b_data)

# C: ghost fifo
c_r = os.open(pc, os.O_RDWR)          # O_RDWR first so the O_WRONLY open does not block
c_w = os.open(pc, os.O_WRONLY)
os.close(c_r)
c_r = os.open(pc, os.O_RDONLY | os.O_NONBLOCK)
c_data, c_crc = t.datagen(4096)
os.write(c_w, c_data)
os.unlink(pc)

# helper: its own reader of A
go_r, go_w = os.pipe()
ready_r, ready_w = os.pipe()
helper = os.fork()
if helper == 0:
    code = 1
    try:
        os.close(go_w)
        os.close(ready_r)
        h_r = os.open(pa, os.O_RDONLY | os.O_NONBLOCK)
        os.close(ready_w)
        os.read(go_r, 1)                  # EOF: the test has written the message
        fcntl.fcntl(h_r, fcntl.F_SETFL, 0)
        code = 0 if os.read(h_r, 100) == b'for the helper' else 2
    finally:
        os._exit(code)
os.close(go_r)
os.close(ready_w)
os.read(ready_r, 1)
os.close(ready_r)


def fd_view(fd):
    return (os.readlink('/proc/self/fd/%d' % fd), fcntl.fcntl(fd, fcntl.F_GETFL) & (os.O_ACCMODE | os.O_NONBLOCK))


fds = {'a_r': a_r, 'a_w': a_w, 'b_rw': b_rw, 'c_r': c_r, 'c_w': c_w}
before = {k: fd_view(fd) for k, fd in fds.items()}

t.daemon()
t.waitsig()

after = {k: fd_view(fd) for k, fd in fds.items()}
check(before == after, 'fds (path, flags) changed: %r -> %r' % (before, after))
check(after['c_r'][0].endswith(' (deleted)'), 'ghost fifo fd: %r' % (after['c_r'][0],))
for p in (pa, pb):
    st = os.lstat(p)
    check(stat.S_ISFIFO(st.st_mode) and stat.S_IMODE(st.st_mode) == 0o640,
          '%s: mode %o' % (p, st.st_mode))
check(not os.path.exists(pc), 'the unlinked fifo is back at %s' % pc)
for fd in (a_r, c_r, b_rw):
    check(stat.S_ISFIFO(os.fstat(fd).st_mode), 'fd %d is no longer a FIFO' % fd)
check(os.fstat(a_r).st_ino == os.stat(pa).st_ino, 'fd of fifo A is not the inode at its path')
got = fcntl.fcntl(a_r, F_GETPIPE_SZ)
check(got == a_size, 'fifo A: pipe size %d, want %d' % (got, a_size))


def drain(fd, n):
    fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_NONBLOCK)
    out = b''
    while len(out) < n:
        try:
            chunk = os.read(fd, n - len(out))
        except BlockingIOError:
            break
        if not chunk:
            break
        out += chunk
    return out


for name, fd, data, crc in (('A', a_r, a_data, a_crc), ('B', b_rw, b_data, b_crc), ('C', c_r, c_data, c_crc)):
    got = drain(fd, len(data) + 1)
    check(len(got) == len(data) and t.datachk(got, crc),
          'fifo %s: %d bytes read, %d were in flight (or CRC mismatch)' % (name, len(got), len(data)))

# the ghost fifo still connects its two ends
os.write(c_w, b'ghost')
check(drain(c_r, 10) == b'ghost', 'ghost fifo: write end no longer feeds the read end')

# the helper shares fifo A; the test's own reader must not take the message
fcntl.fcntl(a_r, fcntl.F_SETFL, os.O_NONBLOCK)
os.close(a_r)
os.write(a_w, b'for the helper')
os.close(go_w)
_, st = os.waitpid(helper, 0)
check(os.WIFEXITED(st) and os.WEXITSTATUS(st) == 0,
      'helper did not get the message through fifo A (status %#x)' % st)
t.finish()
