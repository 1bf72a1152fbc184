#!/usr/bin/python3
"""UDP sockets on loopback survive C/R: bindings, connections, options.

Set up (127.0.0.1 and ::1 when IPv6 loopback exists, ephemeral ports):
* A: bound, unconnected, SO_REUSEADDR, SO_BROADCAST, SO_RCVBUF set, IP_TOS;
* B: bound and connect()ed to A (so A can reach it, and only A);
* C: bound to an explicit loopback address and connected to B - B must
  ignore C's datagrams since B is connected to A;
* D: an IPv6 socket bound to [::1], IPV6_V6ONLY set (if ::1 is available);
* E: a socket that was never bound (no port yet).
Datagrams are exchanged before the checkpoint and fully drained (criu does
not dump UDP receive queues; queued datagrams are dropped by design).

After restore: every name and peer is the same; the options (SO_REUSEADDR,
SO_BROADCAST, SO_RCVBUF, IP_TOS, IPV6_V6ONLY) are kept; A->B and B->A
datagrams of several sizes arrive with their boundaries, from the right
source address; B does not see what C sends (B's connection filter was
restored); the unbound socket is still unbound and can be used.
"""
import socket

import zdtmtst as t

t.init()
check = t.check

LO = '127.0.0.1'


def udp(family=socket.AF_INET):
    return socket.socket(family, socket.SOCK_DGRAM)


def opts(s):
    return (s.getsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR) != 0,
            s.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST) != 0,
            s.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF))


def peer(s):
    try:
        return s.getpeername()
    except OSError:
        return None


def drain(s):
    s.setblocking(False)
    n = 0
    while True:
        try:
            s.recv(65536)
            n += 1
        except BlockingIOError:
            return n


a = udp()
a.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
a.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, 1)
a.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 200000)
a.setsockopt(socket.IPPROTO_IP, socket.IP_TOS, 0x10)
a.bind((LO, 0))
b = udp()
b.bind((LO, 0))
b.connect(a.getsockname())
c = udp()
c.bind((LO, 0))
c.connect(b.getsockname())
e = udp()

d = None
try:
    d = udp(socket.AF_INET6)
    d.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 1)
    d.bind(('::1', 0))
except OSError as ex:
    t.msg('no IPv6 loopback (%s): the IPv6 part is skipped' % ex)
    if d is not None:
        d.close()
    d = None

# some traffic before the checkpoint, fully drained
a.sendto(b'hello b', b.getsockname())
b.send(b'hello a')
b.settimeout(5)
a.settimeout(5)
check(b.recv(100) == b'hello b', 'pre-dump A->B exchange failed')
check(a.recvfrom(100) == (b'hello a', b.getsockname()), 'pre-dump B->A exchange failed')
c.send(b'must be filtered')       # dropped by the kernel: B is connected to A
check(drain(b) == 0, 'B received a datagram from C before the checkpoint')

socks = {'a': a, 'b': b, 'c': c, 'e': e}
if d is not None:
    socks['d'] = d
before = {k: (s.getsockname(), peer(s), opts(s)) for k, s in socks.items()}
tos = a.getsockopt(socket.IPPROTO_IP, socket.IP_TOS)
v6only = d.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) if d else None

t.daemon()
t.waitsig()

after = {k: (s.getsockname(), peer(s), opts(s)) for k, s in socks.items()}
for k in before:
    check(before[k] == after[k], 'socket %s: (name, peer, options) %r -> %r' % (k, before[k], after[k]))
check(a.getsockopt(socket.IPPROTO_IP, socket.IP_TOS) == tos,
      'A: IP_TOS %#x, want %#x' % (a.getsockopt(socket.IPPROTO_IP, socket.IP_TOS), tos))
if d is not None:
    check(d.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY) == v6only, 'D lost IPV6_V6ONLY')

for s in (a, b, c, e):
    s.settimeout(5)
sizes = (1, 1000, 8000, 65000)
msgs = [t.datagen(n)[0] for n in sizes]
try:
    for m in msgs:
        a.sendto(m, b.getsockname())
    for i, m in enumerate(msgs):
        got = b.recv(70000)
        check(got == m, 'A->B datagram %d: %d bytes (want %d) or content differs' % (i, len(got), len(m)))
    for m in msgs:
        b.send(m)
    for i, m in enumerate(msgs):
        got, src = a.recvfrom(70000)
        check(got == m and src == b.getsockname(),
              'B->A datagram %d: %d bytes from %r (want %d from %r)' % (i, len(got), src, len(m), b.getsockname()))
except socket.timeout:
    t.fail('a datagram was lost after restore')

# B is connected to A: C's datagram must be filtered out
c.send(b'filtered?')
a.sendto(b'marker', b.getsockname())
try:
    got = b.recv(100)
    check(got == b'marker', 'B received %r from C: its connection to A was lost' % got)
except socket.timeout:
    t.fail('B: marker from A lost')

# C is connected to B: send() without an address still works; B still bound
c.close()

# the never-bound socket is still unbound (port 0), and works (autobind)
check(e.getsockname() == ('0.0.0.0', 0), 'E got bound: %r' % (e.getsockname(),))
e.sendto(b'from e', a.getsockname())
try:
    got, src = a.recvfrom(100)
    check(got == b'from e' and src[1] == e.getsockname()[1] and e.getsockname()[1] != 0,
          'E->A: %r from %r (E is %r)' % (got, src, e.getsockname()))
except socket.timeout:
    t.fail('E->A datagram lost')

if d is not None:
    d.settimeout(5)
    d.sendto(b'v6', d.getsockname())
    try:
        check(d.recv(10) == b'v6', 'IPv6 self-datagram differs')
    except socket.timeout:
        t.fail('IPv6 socket: datagram to itself lost')
    try:
        d.sendto(b'x', ('127.0.0.1', 9))
        t.fail('IPv6-only socket sent to an IPv4 address (IPV6_V6ONLY lost)')
    except OSError:
        pass

t.finish()
