#!/usr/bin/python3
"""File descriptors in flight (SCM_RIGHTS) survive C/R.

Queued in a SOCK_DGRAM socketpair and in a SOCK_STREAM socketpair, not yet
received at checkpoint time; the sender has closed its own copies, so the
queued messages hold the only references:
1. the read end of a pipe with data in it, plus the write end;
2. a file in the work dir opened O_RDWR at an offset, and an unlinked
   temporary file with contents;
3. a message with data only (no fds), between two with fds;
4. one end of another socketpair with a datagram queued in it (an fd in
   flight carrying its own queue), the other end stays with the test;
5. on the stream pair: a memfd with contents, and the file of message 2
   again (two references to one open file must stay one: shared offset).

After restore each message is received with its data and fd count, and
each fd is checked: file type and access mode, offsets, contents (pipe
data, file contents, memfd), that the two copies of the file share their
offset (a read through one moves the other), that the socket end still
talks to its peer and has its queued datagram.
"""
import array
import fcntl
import os
import socket
import stat

import zdtmtst as t

t.init()
check = t.check


def send_fds(sock, data, fds):
    anc = [(socket.SOL_SOCKET, socket.SCM_RIGHTS, array.array('i', fds))] if fds else []
    sock.sendmsg([data], anc)


def recv_fds(sock, maxfds=8):
    sock.settimeout(5)
    data, anc, flags, _ = sock.recvmsg(65536, socket.CMSG_SPACE(maxfds * 4))
    fds = []
    for level, typ, payload in anc:
        if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
            a = array.array('i')
            a.frombytes(payload[:len(payload) - len(payload) % 4])
            fds.extend(a)
    return data, fds, flags


dg_tx, dg_rx = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
st_tx, st_rx = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

# 1. a pipe with data
pr, pw = os.pipe()
pipe_data, pipe_crc = t.datagen(5000)
os.write(pw, pipe_data)

# 2. a file at an offset, an unlinked file
fpath = os.path.join(os.getcwd(), 'scm.file')
file_data, file_crc = t.datagen(20000)
ffd = os.open(fpath, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
os.write(ffd, file_data)
os.lseek(ffd, 1234, os.SEEK_SET)
upath = os.path.join(os.getcwd(), 'scm.unlinked')
ufd = os.open(upath, os.O_RDONLY | os.O_CREAT | os.O_EXCL, 0o600)
with open(upath, 'wb') as f:
    udata, ucrc = t.datagen(3000)
    f.write(udata)
os.unlink(upath)

# 4. a socketpair end with a queued datagram
inner_a, inner_b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
inner_a.send(b'queued in the passed socket')

# 5. a memfd
mfd = os.memfd_create('zdtm-scm')
mdata, mcrc = t.datagen(9000)
os.write(mfd, mdata)
os.lseek(mfd, 17, os.SEEK_SET)

send_fds(dg_tx, b'msg1: pipe', [pr, pw])
send_fds(dg_tx, b'msg2: files', [ffd, ufd])
send_fds(dg_tx, b'msg3: no fds', [])
send_fds(dg_tx, b'msg4: socket', [inner_b.fileno()])
send_fds(st_tx, b'S5', [mfd, ffd])
st_tx.sendall(b'trailing stream bytes')

file_ino = os.fstat(ffd).st_ino
for fd in (pw, ffd, ufd, mfd):
    os.close(fd)
inner_b.close()
os.close(pr)

t.daemon()
t.waitsig()


def acc_mode(fd):
    return fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE


# msg1
data, fds, flags = recv_fds(dg_rx)
check(data == b'msg1: pipe' and len(fds) == 2 and not flags & socket.MSG_CTRUNC,
      'msg1: %r with %d fds (flags %#x)' % (data, len(fds), flags))
if len(fds) == 2:
    r, w = fds
    check(stat.S_ISFIFO(os.fstat(r).st_mode) and os.fstat(r).st_ino == os.fstat(w).st_ino,
          'msg1: not the two ends of one pipe')
    check(acc_mode(r) == os.O_RDONLY and acc_mode(w) == os.O_WRONLY, 'msg1: pipe end modes changed')
    got = os.read(r, len(pipe_data) + 1)
    check(len(got) == len(pipe_data) and t.datachk(got, pipe_crc), 'msg1: pipe data differs')
    os.write(w, b'z')
    check(os.read(r, 10) == b'z', 'msg1: the write end no longer feeds the read end')

# msg2
data, fds, flags = recv_fds(dg_rx)
check(data == b'msg2: files' and len(fds) == 2, 'msg2: %r with %d fds' % (data, len(fds)))
if len(fds) == 2:
    f, u = fds
    file_fd = f
    check(os.fstat(f).st_ino == file_ino, 'msg2: file inode changed')
    check(acc_mode(f) == os.O_RDWR, 'msg2: file access mode changed')
    check(os.lseek(f, 0, os.SEEK_CUR) == 1234, 'msg2: file offset %d, want 1234' % os.lseek(f, 0, os.SEEK_CUR))
    got = os.pread(f, len(file_data) + 1, 0)
    check(t.datachk(got, file_crc) and len(got) == len(file_data), 'msg2: file contents differ')
    st = os.fstat(u)
    check(st.st_nlink == 0, 'msg2: unlinked file has %d links' % st.st_nlink)
    got = os.pread(u, len(udata) + 1, 0)
    check(len(got) == len(udata) and t.datachk(got, ucrc), 'msg2: unlinked file contents differ')

# msg3
data, fds, flags = recv_fds(dg_rx)
check(data == b'msg3: no fds' and fds == [], 'msg3: %r with fds %r' % (data, fds))

# msg4
data, fds, flags = recv_fds(dg_rx)
check(data == b'msg4: socket' and len(fds) == 1, 'msg4: %r with %d fds' % (data, len(fds)))
if len(fds) == 1:
    s = socket.socket(fileno=fds[0])
    s.settimeout(5)
    check((s.family, s.type) == (socket.AF_UNIX, socket.SOCK_DGRAM), 'msg4: not a unix dgram socket')
    try:
        check(s.recv(100) == b'queued in the passed socket', 'msg4: queued datagram differs')
        s.send(b'back')
        inner_a.settimeout(5)
        check(inner_a.recv(10) == b'back', 'msg4: passed socket no longer connected to its peer')
    except OSError as e:
        t.fail('msg4: passed socket', e)

dg_rx.setblocking(False)
try:
    dg_rx.recv(100)
    t.fail('extra datagram after msg4')
except BlockingIOError:
    pass

# stream: S5 with memfd + pipe read end again, then plain bytes
data, fds, flags = recv_fds(st_rx)
check(data == b'S5' and len(fds) == 2, 'stream msg: %r with %d fds' % (data, len(fds)))
if len(fds) == 2:
    m, f2 = fds
    check(os.readlink('/proc/self/fd/%d' % m).startswith('/memfd:zdtm-scm'),
          'stream msg: memfd is %r' % os.readlink('/proc/self/fd/%d' % m))
    check(os.lseek(m, 0, os.SEEK_CUR) == 17, 'memfd offset changed')
    got = os.pread(m, len(mdata) + 1, 0)
    check(len(got) == len(mdata) and t.datachk(got, mcrc), 'memfd contents differ')
    check(os.fstat(f2).st_ino == file_ino, 'stream msg: second file fd is another file')
    # both copies are one open file: reading through one moves the other's offset
    off = os.lseek(f2, 0, os.SEEK_CUR)
    check(off == 1234, 'stream msg: file offset %d, want 1234' % off)
    got = os.read(f2, 100)
    check(got == file_data[1234:1334], 'stream msg: file data at the offset differs')
    off = os.lseek(file_fd, 0, os.SEEK_CUR)
    check(off == 1334, 'the two copies of the file no longer share the offset (%d, want 1334)' % off)
got = b''
st_rx.settimeout(5)
while len(got) < 21:
    chunk = st_rx.recv(100)
    if not chunk:
        break
    got += chunk
check(got == b'trailing stream bytes', 'stream tail: %r' % got)

t.finish()
