#!/usr/bin/python3
"""File descriptors in flight (SCM_RIGHTS) sent by ANOTHER process.

NOAUTO: criu 4.2.1 restores the wrong files into such messages.  When the
sending socket belongs to a different process of the tree than the
receiving one and the sender has closed its copies (the queued message
holds the only reference), the received descriptor after restore is
usually not the file that was sent: seen (varying from run to run) a
socket of the tree or the pipe's write end instead of its read end, the
pipe's data missing, and in the SOCK_STREAM pair the messages themselves
lost or the fd attached to the wrong one.  The same messages sent within
one process are restored correctly (static/py_scm_rights).  Found with
live/unix_stream, whose server passed pipes to the test this way (it no
longer does).  Without C/R this workload passes.

Set up: for each of SOCK_SEQPACKET, SOCK_DGRAM and SOCK_STREAM, a
socketpair whose sending end lives in a forked helper; the helper queues
"m0", then "m1" with the read end of a pipe holding 256 bytes (write end
closed), then "m2", closes its fds and waits.  After restore the test
receives the messages and checks that exactly "m1" carries an fd and that
it is a pipe read end with the 256 bytes, then EOF.
"""
import array
import fcntl
import os
import signal
import socket
import stat

import zdtmtst as t

t.init()
check = t.check

TYPES = {'seqpacket': socket.SOCK_SEQPACKET, 'dgram': socket.SOCK_DGRAM, 'stream': socket.SOCK_STREAM}
pairs = {k: socket.socketpair(socket.AF_UNIX, v) for k, v in TYPES.items()}
rd_r, rd_w = os.pipe()
helper = os.fork()
if helper == 0:
    try:
        os.close(rd_r)
        for a, b in pairs.values():
            b.close()
            a.send(b'm0')
            r, w = os.pipe()
            os.write(w, b'x' * 256)
            os.close(w)
            a.sendmsg([b'm1'], [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', [r]))])
            os.close(r)
            a.send(b'm2')
        os.close(rd_w)
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})
        signal.sigwait({signal.SIGUSR1})
    finally:
        os._exit(0)
for a, b in pairs.values():
    a.close()
os.close(rd_w)
os.read(rd_r, 1)

t.daemon()
t.waitsig()

for name, (a, b) in pairs.items():
    b.setblocking(False)
    msgs = []
    fd = None
    while True:
        try:
            data, anc, _, _ = b.recvmsg(2, socket.CMSG_SPACE(4))
        except BlockingIOError:
            break
        if anc:
            fds = array.array('i')
            fds.frombytes(anc[0][2])
            if fd is not None or data != b'm1':
                t.fail('%s: an fd arrived with %r' % (name, data))
            fd = fds[0]
        msgs.append(data)
    check(b''.join(msgs) == b'm0m1m2', '%s: messages %r' % (name, msgs))
    if fd is None:
        t.fail('%s: no fd arrived' % name)
        continue
    link = os.readlink('/proc/self/fd/%d' % fd)
    mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    check(stat.S_ISFIFO(os.fstat(fd).st_mode) and mode == os.O_RDONLY,
          '%s: the fd that arrived is %s, %s; it was the read end of a pipe'
          % (name, link, {os.O_RDONLY: 'O_RDONLY', os.O_WRONLY: 'O_WRONLY', os.O_RDWR: 'O_RDWR'}[mode]))
    fcntl.fcntl(fd, fcntl.F_SETFL, os.O_NONBLOCK)
    try:
        got = os.read(fd, 1000)
        check(got == b'x' * 256, '%s: the pipe held %d bytes, want 256' % (name, len(got)))
        check(os.read(fd, 1000) == b'', '%s: no EOF after the pipe data' % name)
    except OSError as e:
        t.fail('%s: reading the passed pipe' % name, e)
os.kill(helper, signal.SIGUSR1)
os.waitpid(helper, 0)
t.finish()
