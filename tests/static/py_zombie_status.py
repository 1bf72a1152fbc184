#!/usr/bin/python3
"""Zombies whose exit status is 128 or more keep it across C/R.

NOAUTO: criu 4.2.1 restores a zombie by exiting with
`(exit_code >> 8) & 0x7f` (criu/cr-restore.c, restore_one_zombie), so the
top bit of the status is lost: 128 -> 0, 200 -> 72, 255 -> 127.  Found while
writing py_zombies (which keeps to statuses below 128).

Set up: three children exit with 128, 200 and 255 and stay unreaped.
After restore: waitid(WNOWAIT) and then waitpid() must report those statuses.
"""
import os
import time

import zdtmtst as t

t.init()
check = t.check

STATUSES = (128, 200, 255)
kids = {}
for code in STATUSES:
    pid = os.fork()
    if pid == 0:
        os._exit(code)
    kids[pid] = code


def peek(pid):
    st = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return None if st is None else (st.si_code, st.si_status)


for pid, code in kids.items():
    for _ in range(5000):
        if peek(pid) is not None:
            break
        time.sleep(0.001)
    check(peek(pid) == (os.CLD_EXITED, code), 'setup: child %d: %r' % (pid, peek(pid)))
if t.failed():
    raise SystemExit(1)

t.daemon()
t.waitsig()

for pid, code in kids.items():
    got = peek(pid)
    check(got == (os.CLD_EXITED, code), 'zombie %d: (si_code, si_status) %r, want %r'
          % (pid, got, (os.CLD_EXITED, code)))
    _, ws = os.waitpid(pid, 0)
    check(os.WIFEXITED(ws) and os.WEXITSTATUS(ws) == code, 'zombie %d: wait status %#x, want exit %d'
          % (pid, ws, code))
t.finish()
