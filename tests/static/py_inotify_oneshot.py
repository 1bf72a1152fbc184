#!/usr/bin/python3
"""inotify watch flags beyond the event mask: IN_ONESHOT, IN_EXCL_UNLINK.

NOAUTO: criu 4.2.1 restores a watch with `mask & IN_ALL_EVENTS`
(criu/fsnotify.c, restore_one_inotify: "filter event mask"), so these flags
are lost although /proc/PID/fdinfo reports them and the dump image keeps
them: after restore a one-shot watch fires again and again instead of once
and then being removed (IN_IGNORED).

Runs as root (suid) for the same reason as py_inotify (criu needs
open_by_handle_at to dump a watch).

Set up: a one-shot IN_CREATE watch on a directory and an IN_EXCL_UNLINK
watch on another.  After restore: the fdinfo masks still carry the flags,
and two creations give one event followed by IN_IGNORED.
"""
import ctypes
import os
import struct

import zdtmtst as t

t.init()
check = t.check

libc = ctypes.CDLL(None, use_errno=True)
IN_CREATE, IN_IGNORED = 0x100, 0x8000
IN_ONESHOT, IN_EXCL_UNLINK = 0x80000000, 0x04000000


def ok(r):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def masks(fd):
    out = {}
    with open('/proc/self/fdinfo/%d' % fd) as f:
        for line in f:
            if line.startswith('inotify '):
                kv = dict(x.split(':', 1) for x in line.split()[1:])
                out[int(kv['wd'])] = int(kv['mask'], 16)
    return out


base = os.path.join(os.getcwd(), 'ino')
d1, d2 = os.path.join(base, 'oneshot'), os.path.join(base, 'excl')
os.makedirs(d1)
os.makedirs(d2)
fd = ok(libc.inotify_init1(os.O_NONBLOCK))
wd1 = ok(libc.inotify_add_watch(fd, os.fsencode(d1), ctypes.c_uint32(IN_CREATE | IN_ONESHOT)))
wd2 = ok(libc.inotify_add_watch(fd, os.fsencode(d2), ctypes.c_uint32(IN_CREATE | IN_EXCL_UNLINK)))
before = masks(fd)
check(before[wd1] & IN_ONESHOT and before[wd2] & IN_EXCL_UNLINK, 'fdinfo masks %r' % before)

t.daemon()
t.waitsig()

after = masks(fd)
check(after == before, 'watch masks changed: %s -> %s' % (
    {k: hex(v) for k, v in before.items()}, {k: hex(v) for k, v in after.items()}))
for n in ('a', 'b'):
    open(os.path.join(d1, n), 'w').close()
events = []
try:
    buf = os.read(fd, 4096)
except BlockingIOError:
    buf = b''
i = 0
while i < len(buf):
    wd, mask, _, ln = struct.unpack_from('iIII', buf, i)
    events.append((wd, mask, buf[i + 16:i + 16 + ln].rstrip(b'\0').decode()))
    i += 16 + ln
want = [(wd1, IN_CREATE, 'a'), (wd1, IN_IGNORED, '')]
check(events == want, 'one-shot watch after restore: events %r, want %r' % (events, want))
t.finish()
