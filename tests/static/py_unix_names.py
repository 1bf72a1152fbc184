#!/usr/bin/python3
"""Named AF_UNIX sockets survive C/R: path and abstract names, autobind,
datagram queues addressed by name.

Set up (paths in a subdirectory of the work dir, abstract names derived
from the pid so parallel runs do not clash):
* a SOCK_STREAM listener bound to a path, one connection accepted with data
  queued both ways;
* a SOCK_SEQPACKET listener bound to an abstract name;
* a SOCK_DGRAM "server" bound to a path, receiving from two clients: one
  connect()ed to it, one sending with sendto() from an autobound (abstract,
  kernel-chosen) name; datagrams from both are queued in the server;
* a SOCK_DGRAM socket bound to an abstract name and connected to the
  path-bound server (names at both ends).

After restore: getsockname()/getpeername() of the listeners and datagram
sockets are unchanged (including the autobound name); the path is still a
socket inode; the queued datagrams are there in order with their boundaries;
new clients can connect to both listeners (path and abstract) and talk; the
server's replies reach the clients by their (restored) names.

Not checked here (criu limitations, see py_unix_peer_names, noauto): the
names of an accepted stream connection (both ends come back as an unnamed
socketpair) and the sender address of queued datagrams (criu re-sends them
from one socket).
"""
import os
import socket
import stat

import zdtmtst as t

t.init()
check = t.check

AF, ST, DG, SP = socket.AF_UNIX, socket.SOCK_STREAM, socket.SOCK_DGRAM, socket.SOCK_SEQPACKET

sdir = os.path.join(os.getcwd(), 'un')
os.mkdir(sdir, 0o755)
if len(os.fsencode(sdir)) > 90:
    t.skip('work directory path too long for AF_UNIX names: %s' % sdir)
stream_path = os.path.join(sdir, 'stream.sock')
dgram_path = os.path.join(sdir, 'dgram.sock')
tag = 'zdtm-py-unix-names-%d' % os.getpid()
seq_abstract = '\0' + tag + '-seq'
dg_abstract = '\0' + tag + '-dg'


def name(s):
    n = s.getsockname()
    return n.encode() if isinstance(n, str) else n


def peer(s):
    try:
        n = s.getpeername()
    except OSError:
        return None
    return n.encode() if isinstance(n, str) else n


def recv_exact(s, n):
    s.settimeout(5)
    out = b''
    while len(out) < n:
        chunk = s.recv(n - len(out))
        if not chunk:
            break
        out += chunk
    return out


# stream listener on a path, one connection with queued data
st_srv = socket.socket(AF, ST)
st_srv.bind(stream_path)
st_srv.listen(4)
st_cli = socket.socket(AF, ST)
st_cli.connect(stream_path)
st_acc, _ = st_srv.accept()
c2s, c2s_crc = t.datagen(10000)
s2c, s2c_crc = t.datagen(777)
st_cli.sendall(c2s)
st_acc.sendall(s2c)

# seqpacket listener on an abstract name
sp_srv = socket.socket(AF, SP)
sp_srv.bind(seq_abstract)
sp_srv.listen(4)

# datagram server on a path; a connected client and an autobound one
dg_srv = socket.socket(AF, DG)
dg_srv.bind(dgram_path)
dg_conn = socket.socket(AF, DG)
dg_conn.connect(dgram_path)
dg_auto = socket.socket(AF, DG)
dg_auto.bind('')                           # autobind: "\0xxxxx"
dg_named = socket.socket(AF, DG)
dg_named.bind(dg_abstract)
dg_named.connect(dgram_path)
queued = []                                # (data, sender name or None)
for i in range(6):
    data = t.datagen(100 + 1000 * i)[0]
    if i % 3 == 0:
        dg_conn.send(data)
        queued.append((data, None))
    elif i % 3 == 1:
        dg_auto.sendto(data, dgram_path)
        queued.append((data, name(dg_auto)))
    else:
        dg_named.send(data)
        queued.append((data, name(dg_named)))

socks = {'st_srv': st_srv, 'sp_srv': sp_srv,
         'dg_srv': dg_srv, 'dg_conn': dg_conn, 'dg_auto': dg_auto, 'dg_named': dg_named}
before = {k: (name(s), peer(s)) for k, s in socks.items()}
check(before['dg_auto'][0].startswith(b'\0') and len(before['dg_auto'][0]) == 6,
      'autobind gave %r' % (before['dg_auto'][0],))
if t.failed():
    raise SystemExit(1)

t.daemon()
t.waitsig()

after = {k: (name(s), peer(s)) for k, s in socks.items()}
for k in before:
    check(before[k] == after[k], '%s: (name, peer) %r -> %r' % (k, before[k], after[k]))
for p in (stream_path, dgram_path):
    try:
        check(stat.S_ISSOCK(os.lstat(p).st_mode), '%s is no longer a socket inode' % p)
    except OSError as e:
        t.fail('%s is gone' % p, e)

# queued stream data
got = recv_exact(st_acc, len(c2s))
check(len(got) == len(c2s) and t.datachk(got, c2s_crc), 'stream c->s: %d bytes, CRC mismatch or short' % len(got))
got = recv_exact(st_cli, len(s2c))
check(len(got) == len(s2c) and t.datachk(got, s2c_crc), 'stream s->c: %d bytes, CRC mismatch or short' % len(got))

# queued datagrams, in order, with senders
dg_srv.setblocking(False)
for i, (data, sender) in enumerate(queued):
    try:
        got = dg_srv.recv(65536)
    except BlockingIOError:
        t.fail('datagram %d of %d lost' % (i, len(queued)))
        break
    check(got == data, 'datagram %d: %d bytes, want %d (or content differs)' % (i, len(got), len(data)))
else:
    try:
        dg_srv.recv(65536)
        t.fail('extra datagram in the queue')
    except BlockingIOError:
        pass

# replies by name reach the clients
dg_srv.settimeout(5)
for s in (dg_auto, dg_named):
    s.settimeout(5)
    try:
        dg_srv.sendto(b'reply', name(s))
        check(s.recv(100) == b'reply', 'reply to %r differs' % (name(s),))
    except OSError as e:
        t.fail('reply to %r' % (name(s),), e)

# new clients for both listeners
for path, typ, srv in ((stream_path, ST, st_srv), (seq_abstract, SP, sp_srv)):
    cl = socket.socket(AF, typ)
    cl.settimeout(5)
    srv.settimeout(5)
    try:
        cl.connect(path)
        acc, _ = srv.accept()
        cl.sendall(b'hello after restore')
        check(recv_exact(acc, 19) == b'hello after restore', 'new %r client: data differs' % path)
        acc.sendall(b'ok')
        check(recv_exact(cl, 2) == b'ok', 'new %r client: reply differs' % path)
    except OSError as e:
        t.fail('new client for %r' % path, e)
    cl.close()

# the bound abstract name is still taken (the socket owns it)
dup = socket.socket(AF, DG)
try:
    dup.bind(dg_abstract)
    t.fail('abstract name %r was free after restore' % dg_abstract)
except OSError:
    pass

t.finish()
