#!/usr/bin/python3
"""Less common file descriptors and timers survive C/R.

* a memfd with contents, an offset and seals (F_SEAL_SHRINK|F_SEAL_GROW);
* an eventfd with a counter (os.eventfd, Python >= 3.10);
* an epoll set watching a pipe (with data), the eventfd and an empty pipe:
  after restore exactly the first two are reported ready;
* a named listening UNIX socket (absolute path in the work dir), a connection
  accepted from it with data queued both ways, and one more connection still
  waiting in the backlog (accepted only after restore; criu refuses to dump
  one with data already sent on it);
* ITIMER_REAL armed far in the future: still armed after restore and not
  reset (remaining time below the original value).
"""
import fcntl
import os
import select
import signal
import socket

import zdtmtst as t

t.init()
check = t.check

# memfd
mfd = os.memfd_create('zdtm-py-fds', os.MFD_ALLOW_SEALING | os.MFD_CLOEXEC)
mdata, mcrc = t.datagen(100000)
os.write(mfd, mdata)
os.lseek(mfd, 4321, os.SEEK_SET)
seals = fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW
fcntl.fcntl(mfd, fcntl.F_ADD_SEALS, seals)

# eventfd
efd = None
if hasattr(os, 'eventfd'):
    efd = os.eventfd(0, os.EFD_NONBLOCK)
    os.eventfd_write(efd, 41)
    os.eventfd_write(efd, 1)

# epoll
busy_r, busy_w = os.pipe()
idle_r, idle_w = os.pipe()
os.write(busy_w, b'ready')
ep = select.epoll()
ep.register(busy_r, select.EPOLLIN)
ep.register(idle_r, select.EPOLLIN)
if efd is not None:
    ep.register(efd, select.EPOLLIN)

# UNIX sockets
path = os.path.join(os.getcwd(), 'py_fds.sock')
if len(os.fsencode(path)) > 100:         # sun_path is 108 bytes
    path = '\0zdtm-py-fds-%d' % os.getpid()
    t.msg('work dir path too long for a UNIX socket: using an abstract name')
elif os.path.exists(path):
    os.unlink(path)
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(8)
cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cli.connect(path)
acc, _ = srv.accept()
c2s, c2s_crc = t.datagen(30000)
s2c, s2c_crc = t.datagen(1000)
cli.sendall(c2s)
acc.sendall(s2c)
pending = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
pending.connect(path)                    # stays in the backlog across C/R
# (no data on it: criu refuses "Non-empty write queue on an in-flight socket")

# itimer
signal.signal(signal.SIGALRM, lambda s, f: None)
ITIMER_VALUE = 1000.0
signal.setitimer(signal.ITIMER_REAL, ITIMER_VALUE, 500.0)

t.daemon()
t.waitsig()

# memfd
check(os.readlink('/proc/self/fd/%d' % mfd) == '/memfd:zdtm-py-fds (deleted)',
      'memfd name: %r' % os.readlink('/proc/self/fd/%d' % mfd))
check(os.lseek(mfd, 0, os.SEEK_CUR) == 4321, 'memfd offset %d' % os.lseek(mfd, 0, os.SEEK_CUR))
got_seals = fcntl.fcntl(mfd, fcntl.F_GET_SEALS)
check(got_seals == seals, 'memfd seals %#x, want %#x' % (got_seals, seals))
got = os.pread(mfd, len(mdata) + 1, 0)
check(len(got) == len(mdata) and t.datachk(got, mcrc), 'memfd contents differ (%d bytes)' % len(got))
try:
    os.ftruncate(mfd, 10)
    t.fail('memfd: F_SEAL_SHRINK not enforced')
except PermissionError:
    pass
check(fcntl.fcntl(mfd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, 'memfd lost FD_CLOEXEC')

# epoll
events = dict(ep.poll(0))
want = {busy_r: select.EPOLLIN}
if efd is not None:
    want[efd] = select.EPOLLIN
check(events == want, 'epoll reports %r, want %r' % (events, want))

# eventfd
if efd is not None:
    check(os.eventfd_read(efd) == 42, 'eventfd counter lost')
    check(fcntl.fcntl(efd, fcntl.F_GETFL) & os.O_NONBLOCK, 'eventfd lost O_NONBLOCK')
else:
    t.msg('no os.eventfd in this Python: eventfd part skipped')

# sockets
def recv_exact(s, n):
    s.settimeout(5)
    out = b''
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


got = recv_exact(acc, len(c2s))
check(len(got) == len(c2s) and t.datachk(got, c2s_crc), 'client->server data differs (%d bytes)' % len(got))
got = recv_exact(cli, len(s2c))
check(len(got) == len(s2c) and t.datachk(got, s2c_crc), 'server->client data differs (%d bytes)' % len(got))
name = srv.getsockname()
if isinstance(name, bytes):
    name = name.decode()
check(name == path, 'listening socket name %r, want %r' % (name, path))
srv.settimeout(5)
try:
    acc2, _ = srv.accept()
    pending.sendall(b'in the backlog')
    check(recv_exact(acc2, 14) == b'in the backlog', 'backlog connection data differs')
    acc2.sendall(b'ok')
    check(recv_exact(pending, 2) == b'ok', 'backlog connection: reply lost')
except socket.timeout:
    t.fail('the connection in the backlog was lost')
new = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    new.connect(path)
    acc3, _ = srv.accept()
    new.sendall(b'x')
    check(recv_exact(acc3, 1) == b'x', 'new connection after restore: no data')
except OSError as e:
    t.fail('connecting to the restored listening socket', e)

# itimer
value, interval = signal.getitimer(signal.ITIMER_REAL)
check(0 < value < ITIMER_VALUE and interval == 500.0,
      'ITIMER_REAL: %r remaining, interval %r (want < %r, 500.0)' % (value, interval, ITIMER_VALUE))
signal.setitimer(signal.ITIMER_REAL, 0)
t.finish()
