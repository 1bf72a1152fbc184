#!/usr/bin/python3
"""The execution domain flags (personality(2)) survive C/R.

NOAUTO: with criu 4.2.1 the restored task has personality 0: the flags
set below are gone although criu dumps the value (task core "personality").
Found while writing py_task_props, which checks the other per-task
properties.

Set up: personality(ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC), also visible
in /proc/self/personality.  After restore both must be unchanged.
"""
import ctypes
import os

import zdtmtst as t

t.init()
check = t.check

libc = ctypes.CDLL(None, use_errno=True)
ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC = 0x0040000, 0x0400000


def personality(value=0xffffffff):
    r = libc.personality(ctypes.c_ulong(value))
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, 'personality: ' + os.strerror(e))
    return r


def proc_personality():
    with open('/proc/self/personality') as f:
        return int(f.read(), 16)


personality(personality() | ADDR_NO_RANDOMIZE | READ_IMPLIES_EXEC)
before = (personality(), proc_personality())
check(before[0] & ADDR_NO_RANDOMIZE and before[0] & READ_IMPLIES_EXEC and before[0] == before[1],
      'setup: personality %#x, /proc says %#x' % before)

t.daemon()
t.waitsig()

after = (personality(), proc_personality())
check(after == before, 'personality (syscall, /proc) %s -> %s' % (
    tuple(hex(x) for x in before), tuple(hex(x) for x in after)))
t.finish()
