#!/usr/bin/python3
"""inotify instances and their watches survive C/R (inotify via ctypes).

Runs as root (suid): criu dumps a watch through the file handle of the
watched inode, and opening it again (open_by_handle_at) needs
CAP_DAC_READ_SEARCH, which a criu dumping as the workload's owner
(--unprivileged) does not have ("Can't dump that handle").

Set up: instance 1 (IN_NONBLOCK) watches the work dir for create/delete/
moves and a file in it for modify/attrib/close_write; instance 2
(IN_CLOEXEC) watches a subdirectory and a file with IN_MASK_ADD-accumulated
masks.  (IN_ONESHOT is lost by criu 4.2.1: see py_inotify_oneshot, noauto.)  Events produced before the checkpoint are
read and checked, so the queues are empty at dump time (criu does not keep
queued inotify events).

After restore: /proc/self/fdinfo of both instances lists the same watches
(wd, inode, mask); the fd flags are kept; new file-system activity produces
exactly the expected events with the original watch descriptors and names,
and nothing on paths that are not watched.
"""
import ctypes
import fcntl
import os
import struct

import zdtmtst as t

t.init()
check = t.check

libc = ctypes.CDLL(None, use_errno=True)
IN_NONBLOCK, IN_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
IN_MODIFY, IN_ATTRIB, IN_CLOSE_WRITE = 0x2, 0x4, 0x8
IN_MOVED_FROM, IN_MOVED_TO, IN_CREATE, IN_DELETE = 0x40, 0x80, 0x100, 0x200
IN_MASK_ADD = 0x20000000


def inotify_init(flags):
    fd = libc.inotify_init1(flags)
    if fd < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return fd


def add_watch(fd, path, mask):
    wd = libc.inotify_add_watch(fd, os.fsencode(path), ctypes.c_uint32(mask))
    if wd < 0:
        e = ctypes.get_errno()
        raise OSError(e, 'inotify_add_watch %s: %s' % (path, os.strerror(e)))
    return wd


def read_events(fd):
    """All queued events as (wd, mask, name) tuples."""
    fl = fcntl.fcntl(fd, fcntl.F_GETFL)
    fcntl.fcntl(fd, fcntl.F_SETFL, fl | os.O_NONBLOCK)
    out = []
    try:
        while True:
            try:
                buf = os.read(fd, 65536)
            except BlockingIOError:
                break
            i = 0
            while i < len(buf):
                wd, mask, _cookie, ln = struct.unpack_from('iIII', buf, i)
                name = buf[i + 16:i + 16 + ln].rstrip(b'\0').decode()
                out.append((wd, mask, name))
                i += 16 + ln
    finally:
        fcntl.fcntl(fd, fcntl.F_SETFL, fl)
    return out


def watches(fd):
    """{wd: (ino, mask)} from /proc/self/fdinfo."""
    out = {}
    with open('/proc/self/fdinfo/%d' % fd) as f:
        for line in f:
            if line.startswith('inotify '):
                kv = dict(x.split(':', 1) for x in line.split()[1:])
                out[int(kv['wd'])] = (int(kv['ino'], 16), int(kv['mask'], 16))
    return out


# our own directory: the work dir itself sees the harness's pidfile come and go
cwd = os.path.join(os.getcwd(), 'ino')
os.mkdir(cwd)
sub = os.path.join(cwd, 'sub')
os.mkdir(sub)
file1 = os.path.join(cwd, 'watched.file')
file2 = os.path.join(sub, 'masked.file')
for p in (file1, file2):
    with open(p, 'w') as f:
        f.write('x')

ino1 = inotify_init(IN_NONBLOCK)
ino2 = inotify_init(IN_CLOEXEC)
wd_dir = add_watch(ino1, cwd, IN_CREATE | IN_DELETE | IN_MOVED_FROM | IN_MOVED_TO)
wd_file = add_watch(ino1, file1, IN_MODIFY | IN_ATTRIB | IN_CLOSE_WRITE)
wd_sub = add_watch(ino2, sub, IN_CREATE)
wd_f2 = add_watch(ino2, file2, IN_ATTRIB)
check(add_watch(ino2, file2, IN_MODIFY | IN_MASK_ADD) == wd_f2, 'IN_MASK_ADD gave a new wd')

# produce and consume some events before the checkpoint
with open(os.path.join(cwd, 'pre'), 'w'):
    pass
os.unlink(os.path.join(cwd, 'pre'))
got = read_events(ino1)
check(got == [(wd_dir, IN_CREATE, 'pre'), (wd_dir, IN_DELETE, 'pre')], 'pre-dump events: %r' % got)
check(read_events(ino2) == [], 'unexpected events on instance 2 before the checkpoint')

before = (watches(ino1), watches(ino2))
check(len(before[0]) == 2 and len(before[1]) == 2, 'fdinfo watches: %r' % (before,))
flags_before = [(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK, fcntl.fcntl(fd, fcntl.F_GETFD))
                for fd in (ino1, ino2)]

t.daemon()
t.waitsig()

after = (watches(ino1), watches(ino2))
check(after == before, 'watches (wd: (ino, mask)) changed: %r -> %r' % (before, after))
flags_after = [(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK, fcntl.fcntl(fd, fcntl.F_GETFD))
               for fd in (ino1, ino2)]
check(flags_after == flags_before, 'fd flags changed: %r -> %r' % (flags_before, flags_after))
check(read_events(ino1) == [] and read_events(ino2) == [], 'events appeared during C/R')

# activity after restore
new = os.path.join(cwd, 'new')
with open(new, 'w'):
    pass
os.rename(new, new + '2')
os.unlink(new + '2')
fd = os.open(file1, os.O_WRONLY)
os.write(fd, b'y')
os.close(fd)
os.chmod(file1, 0o600)
with open(os.path.join(sub, 'a'), 'w'):
    pass
with open(os.path.join(sub, 'b'), 'w'):
    pass
with open(file2, 'a') as f:
    f.write('z')
os.chmod(file2, 0o600)
open(os.path.join(cwd, 'late'), 'w').close()     # IN_CREATE; opens are not in the mask

got1 = [(wd, m, n) for wd, m, n in read_events(ino1)]
want1 = [(wd_dir, IN_CREATE, 'new'),
         (wd_dir, IN_MOVED_FROM, 'new'), (wd_dir, IN_MOVED_TO, 'new2'),
         (wd_dir, IN_DELETE, 'new2'),
         (wd_file, IN_MODIFY, ''), (wd_file, IN_CLOSE_WRITE, ''), (wd_file, IN_ATTRIB, ''),
         (wd_dir, IN_CREATE, 'late')]
check(got1 == want1, 'instance 1 events after restore:\n  got  %r\n  want %r' % (got1, want1))
got2 = read_events(ino2)
want2 = [(wd_sub, IN_CREATE, 'a'), (wd_sub, IN_CREATE, 'b'),
         (wd_f2, IN_MODIFY, ''), (wd_f2, IN_ATTRIB, '')]
check(got2 == want2, 'instance 2 events after restore:\n  got  %r\n  want %r' % (got2, want2))
t.finish()
