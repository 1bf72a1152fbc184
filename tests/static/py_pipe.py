#!/usr/bin/python3
"""A pipe with data in flight and socketpairs with data queued both ways.

Checks after restore: every byte still queued (CRC), in order, nothing more;
SOCK_DGRAM/SOCK_SEQPACKET message boundaries; O_NONBLOCK on one pipe end;
the pipe's buffer size (F_SETPIPE_SZ); shutdown(SHUT_WR) state of a stream end.
"""
import fcntl
import os
import socket

import zdtmtst as t

F_SETPIPE_SZ = 1031
F_GETPIPE_SZ = 1032

t.init()

check = t.check


def read_all_nonblock(fd, limit):
    out = b''
    while len(out) < limit:
        try:
            chunk = os.read(fd, limit - len(out))
        except BlockingIOError:
            break
        if not chunk:
            break
        out += chunk
    return out


# A pipe with a larger buffer, non-blocking read end, 3 writes in flight.
prfd, pwfd = os.pipe()
fcntl.fcntl(prfd, fcntl.F_SETFL, fcntl.fcntl(prfd, fcntl.F_GETFL) | os.O_NONBLOCK)
pipe_sz = fcntl.fcntl(pwfd, F_SETPIPE_SZ, 128 * 1024)
pipe_data, pipe_crc = t.datagen(100000)
n = 0
for part in (pipe_data[:1], pipe_data[1:4097], pipe_data[4097:]):
    n += os.write(pwfd, part)
if n != len(pipe_data):
    t.err('short pipe write: %d of %d' % (n, len(pipe_data)))
    raise SystemExit(1)

# Stream socketpair: queued data both ways, b's write side shut down.
sa, sb = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
a2b, a2b_crc = t.datagen(50000)
b2a, b2a_crc = t.datagen(20000)
sa.sendall(a2b)
sb.sendall(b2a)
sb.shutdown(socket.SHUT_WR)

# Datagram and seqpacket socketpairs: message boundaries must survive.
dgram = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
seqp = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
msgs = [t.datagen(n)[0] for n in (1, 100, 3000, 7)]
for m in msgs:
    dgram[0].send(m)
    seqp[1].send(m)

t.daemon()
t.waitsig()

# ---- pipe
flags = fcntl.fcntl(prfd, fcntl.F_GETFL)
check(flags & os.O_NONBLOCK, 'pipe read end lost O_NONBLOCK (flags %#o)' % flags)
check(not fcntl.fcntl(pwfd, fcntl.F_GETFL) & os.O_NONBLOCK,
      'pipe write end gained O_NONBLOCK')
got_sz = fcntl.fcntl(prfd, F_GETPIPE_SZ)
check(got_sz == pipe_sz, 'pipe size %d, was %d' % (got_sz, pipe_sz))
got = read_all_nonblock(prfd, len(pipe_data) + 1)
check(len(got) == len(pipe_data), 'pipe: read %d bytes, %d were in flight' % (len(got), len(pipe_data)))
check(t.datachk(got, pipe_crc), 'pipe: data differs (CRC)')
try:
    os.read(prfd, 1)
    t.fail('pipe: data beyond what was written')
except BlockingIOError:
    pass

# ---- stream socketpair
sa.setblocking(False)
sb.setblocking(False)


def recv_all(s, limit):
    out = b''
    while len(out) < limit:
        try:
            chunk = s.recv(limit - len(out))
        except BlockingIOError:
            break
        if not chunk:
            break
        out += chunk
    return out


got = recv_all(sb, len(a2b) + 1)
check(len(got) == len(a2b) and t.datachk(got, a2b_crc),
      'stream a->b: got %d bytes (want %d), crc ok: %s' % (len(got), len(a2b), t.datachk(got, a2b_crc)))
got = recv_all(sa, len(b2a) + 1)
check(len(got) == len(b2a) and t.datachk(got, b2a_crc),
      'stream b->a: got %d bytes (want %d)' % (len(got), len(b2a)))
try:
    eof = sa.recv(1)
    check(eof == b'', 'stream b->a: data after the queued bytes')
except BlockingIOError:
    t.fail('stream: the peer shutdown(SHUT_WR) was lost (no EOF on a)')
try:
    sb.send(b'x')
    t.fail('stream: send after shutdown(SHUT_WR) succeeded')
except BrokenPipeError:
    pass
except OSError as e:
    t.fail('stream: send after shutdown: unexpected %r' % e)

# ---- message boundaries
for name, rx in (('dgram', dgram[1]), ('seqpacket', seqp[0])):
    rx.setblocking(False)
    for i, m in enumerate(msgs):
        try:
            got = rx.recv(65536)
        except BlockingIOError:
            t.fail('%s: message %d missing' % (name, i))
            break
        check(got == m, '%s: message %d: %d bytes, want %d (or content differs)'
              % (name, i, len(got), len(m)))
    else:
        try:
            rx.recv(65536)
            t.fail('%s: extra message' % name)
        except BlockingIOError:
            pass

t.finish()
