#!/usr/bin/python3
"""Addresses an AF_UNIX peer sees: accepted connections, datagram senders.

NOAUTO: criu 4.2.1 does not preserve these (found while writing
py_unix_names, which checks everything else about named UNIX sockets):
* an accepted SOCK_STREAM connection comes back as an unnamed pair:
  getsockname() of the accepted end (the listener's path before) and
  getpeername() of the connecting end become '' - criu restores a connected
  pair as a socketpair and only binds standalone sockets;
* datagrams queued in a bound, unconnected SOCK_DGRAM socket lose their
  sender address: criu re-sends the whole queue from one helper socket, so
  recvfrom() returns no (or a wrong) address and a server cannot reply.

Set up: a path-bound stream listener with one accepted connection; a
path-bound datagram server with datagrams queued from an autobound
(abstract) client and from a client bound to an abstract name.
After restore: the names above, and the sender of each queued datagram.
"""
import os
import socket

import zdtmtst as t

t.init()
check = t.check

sdir = os.path.join(os.getcwd(), 'un')
os.mkdir(sdir, 0o755)
if len(os.fsencode(sdir)) > 90:
    t.skip('work directory path too long for AF_UNIX names: %s' % sdir)
stream_path = os.path.join(sdir, 's.sock')
dgram_path = os.path.join(sdir, 'd.sock')


def b(n):
    return n.encode() if isinstance(n, str) else n


srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(stream_path)
srv.listen(1)
cli = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
cli.connect(stream_path)
acc, _ = srv.accept()

dsrv = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
dsrv.bind(dgram_path)
auto = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
auto.bind('')
named = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
named.bind('\0zdtm-py-unix-peer-names-%d' % os.getpid())
senders = []
for i in range(4):
    s = auto if i % 2 else named
    s.sendto(b'datagram %d' % i, dgram_path)
    senders.append(b(s.getsockname()))

before = (b(acc.getsockname()), b(cli.getpeername()))

t.daemon()
t.waitsig()

after = (b(acc.getsockname()), b(cli.getpeername()))
check(after == before, 'accepted connection: (accepted name, client peer) %r -> %r' % (before, after))
dsrv.setblocking(False)
for i, want in enumerate(senders):
    try:
        data, src = dsrv.recvfrom(100)
    except BlockingIOError:
        t.fail('datagram %d lost' % i)
        break
    check(data == b'datagram %d' % i, 'datagram %d: %r' % (i, data))
    check(b(src) == want, 'datagram %d: sender %r, want %r' % (i, b(src), want))
t.finish()
