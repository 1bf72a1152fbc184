#!/usr/bin/python3
"""TCP sockets on loopback survive C/R (criu --tcp-established).

Runs as root (suid): dumping an established connection needs TCP_REPAIR
(CAP_NET_ADMIN) and criu locks the connection with iptables; a criu dumping
as the workload's owner (--unprivileged) can do neither ("iptables ...
Permission denied", "Failed to lock TCP connection").

Set up on 127.0.0.1 (an ephemeral port):
* a listening socket (backlog 8, SO_REUSEADDR);
* an established connection client <-> accepted socket with data in flight
  both ways; the client side sends until its send buffer is full too (so part
  of the stream sits in the client's write queue, part in the server's
  receive queue), the server side sends a small block; per-socket options:
  TCP_NODELAY, SO_KEEPALIVE + TCP_KEEPIDLE/TCP_KEEPINTVL/TCP_KEEPCNT, a
  non-default SO_SNDBUF/SO_RCVBUF, O_NONBLOCK on the client;
* a second connection whose client did shutdown(SHUT_WR) (FIN already seen by
  the server: CLOSE_WAIT / FIN_WAIT2) with data queued before the FIN.

After restore: local/peer addresses, options and flags; every byte of both
streams in order (CRC over the whole stream) and nothing more; EOF after the
half-closed stream's data while the other direction still works; a new
connection to the listening socket (same port) is accepted and carries data.
"""
import fcntl
import os
import socket
import struct

import zdtmtst as t

t.init()
check = t.check

HOST = '127.0.0.1'


def sock_opts(s):
    return {
        'nodelay': s.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) != 0,
        'keepalive': s.getsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE) != 0,
        'keepidle': s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE),
        'keepintvl': s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL),
        'keepcnt': s.getsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT),
        'sndbuf': s.getsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF),
        'rcvbuf': s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF),
        'nonblock': bool(fcntl.fcntl(s.fileno(), fcntl.F_GETFL) & os.O_NONBLOCK),
        'name': s.getsockname(),
        'peer': s.getpeername(),
    }


srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind((HOST, 0))
srv.listen(8)
port = srv.getsockname()[1]

# --- connection 1: bulk data both ways, send queue filled
cli = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
cli.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 64 * 1024)
cli.connect((HOST, port))
acc, _ = srv.accept()
acc.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 48 * 1024)
for s, idle in ((cli, 600), (acc, 700)):
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, 33)
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, 7)
cli.setblocking(False)

stream, _ = t.datagen(4 * 1024 * 1024)     # far more than both buffers hold
sent = 0
while sent < len(stream):
    try:
        n = cli.send(stream[sent:sent + 65536])
    except BlockingIOError:
        break
    sent += n
if sent >= len(stream):
    t.err('the peer took %d bytes without blocking: cannot fill the send queue' % sent)
    raise SystemExit(1)
t.msg('client->server: %d bytes in flight' % sent)
c2s = stream[:sent]
s2c, s2c_crc = t.datagen(20000)
acc.sendall(s2c)

# --- connection 2: half-closed by the client after some data
cli2 = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
cli2.connect((HOST, port))
acc2, _ = srv.accept()
half, half_crc = t.datagen(3000)
cli2.sendall(half)
cli2.shutdown(socket.SHUT_WR)

before = {'cli': sock_opts(cli), 'acc': sock_opts(acc)}
before2 = {'cli2': (cli2.getsockname(), cli2.getpeername()),
           'acc2': (acc2.getsockname(), acc2.getpeername())}
srv_name = srv.getsockname()

t.daemon()
t.waitsig()

after = {'cli': sock_opts(cli), 'acc': sock_opts(acc)}
check(after == before, 'socket options/addresses changed: %r -> %r' % (before, after))
after2 = {'cli2': (cli2.getsockname(), cli2.getpeername()),
          'acc2': (acc2.getsockname(), acc2.getpeername())}
check(after2 == before2, 'half-closed connection addresses: %r -> %r' % (before2, after2))
check(srv.getsockname() == srv_name, 'listening socket name %r -> %r' % (srv_name, srv.getsockname()))
check(srv.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR), 'listener lost SO_REUSEADDR')
check(srv.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN), 'listener no longer listening')


def recv_exact(s, n, timeout=5):
    s.settimeout(timeout)
    out = bytearray()
    while len(out) < n:
        try:
            chunk = s.recv(min(n - len(out), 1 << 20))
        except socket.timeout:
            break
        if not chunk:
            break
        out += chunk
    return bytes(out)


def expect_nothing(s, what):
    s.setblocking(False)
    try:
        x = s.recv(1)
        t.fail('%s: unexpected %s' % (what, 'EOF' if x == b'' else 'extra data'))
    except BlockingIOError:
        pass


# connection 1: the client's write queue drains to the server now
got = recv_exact(acc, len(c2s))
check(len(got) == len(c2s), 'client->server: got %d bytes of %d' % (len(got), len(c2s)))
if len(got) == len(c2s):
    if got != c2s:
        bad = next(i for i in range(len(got)) if got[i] != c2s[i])
        t.fail('client->server: stream differs from byte %d on' % bad)
expect_nothing(acc, 'client->server after the stream')
cli.setblocking(True)
got = recv_exact(cli, len(s2c))
check(len(got) == len(s2c) and t.datachk(got, s2c_crc),
      'server->client: got %d bytes of %d (or CRC mismatch)' % (len(got), len(s2c)))
expect_nothing(cli, 'server->client after the block')
# still connected, both ways
cli.sendall(b'ping')
check(recv_exact(acc, 4) == b'ping', 'connection 1: ping lost after restore')
acc.sendall(b'pong')
check(recv_exact(cli, 4) == b'pong', 'connection 1: pong lost after restore')

# connection 2: data, then EOF; the other direction still open
got = recv_exact(acc2, len(half) + 1)
check(len(got) == len(half) and t.datachk(got, half_crc),
      'half-closed: got %d bytes before EOF, want %d' % (len(got), len(half)))
acc2.settimeout(5)
try:
    check(acc2.recv(1) == b'', 'half-closed: no EOF after the data (FIN lost)')
except socket.timeout:
    t.fail('half-closed: no EOF after the data (FIN lost)')
try:
    acc2.sendall(b'still open')
    check(recv_exact(cli2, 10) == b'still open', 'half-closed: reverse direction lost data')
except OSError as e:
    t.fail('half-closed: reverse direction broken', e)
try:
    cli2.send(b'x')
    t.fail('half-closed: send after SHUT_WR succeeded')
except BrokenPipeError:
    pass

# the listener still accepts on the same port
new = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
new.settimeout(5)
try:
    new.connect((HOST, port))
    srv.settimeout(5)
    acc3, _ = srv.accept()
    new.sendall(struct.pack('!I', 0xC0FFEE))
    check(recv_exact(acc3, 4) == struct.pack('!I', 0xC0FFEE), 'new connection: data lost')
except OSError as e:
    t.fail('new connection to port %d after restore' % port, e)

t.finish()
