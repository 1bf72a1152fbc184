#!/usr/bin/python3
"""Signal state survives C/R: dispositions, blocked mask, pending signals.

Set up: SIGUSR1 ignored; handlers for SIGUSR2 and SIGHUP; SIGUSR2, SIGHUP and
SIGRTMIN+1 blocked; SIGUSR2 pending process-wide (kill), SIGHUP pending for
the main thread only (pthread_kill), SIGRTMIN+1 queued three times.
After restore: /proc/self/status SigIgn/SigCgt/ShdPnd/SigPnd, the thread's
mask, sigpending(), the three queued RT signals with their siginfo (si_pid,
si_uid, si_code SI_USER), and finally the handlers run exactly once each on
unblock while SIGUSR1 stays ignored.
"""
import os
import signal
import threading

import zdtmtst as t

t.init()
check = t.check

SI_USER = 0
RT = signal.SIGRTMIN + 1
got = []


def handler(signum, frame):
    got.append(signum)


signal.signal(signal.SIGUSR1, signal.SIG_IGN)
signal.signal(signal.SIGUSR2, handler)
signal.signal(signal.SIGHUP, handler)
blocked = {signal.SIGUSR2, signal.SIGHUP, RT}
signal.pthread_sigmask(signal.SIG_BLOCK, blocked)
os.kill(os.getpid(), signal.SIGUSR2)
signal.pthread_kill(threading.main_thread().ident, signal.SIGHUP)
for _ in range(3):
    os.kill(os.getpid(), RT)
os.kill(os.getpid(), signal.SIGUSR1)        # ignored: must not show up anywhere

st = t.proc_status()
pend_before = signal.sigpending()
check(pend_before == blocked, 'before C/R: pending %s, want %s' % (sorted(pend_before), sorted(blocked)))
if t.failed():
    raise SystemExit(1)

t.daemon()
t.waitsig()

st2 = t.proc_status()
for key in ('SigIgn', 'SigCgt', 'ShdPnd', 'SigPnd'):
    check(st2[key] == st[key], '/proc/self/status %s: %s, was %s' % (key, st2[key], st[key]))
check(signal.SIGUSR1 in t.sigset_from_hex(st2['SigIgn']), 'SIGUSR1 no longer ignored')
cgt = t.sigset_from_hex(st2['SigCgt'])
check({signal.SIGUSR2, signal.SIGHUP, signal.SIGTERM} <= cgt, 'handlers lost: SigCgt %s' % st2['SigCgt'])
check(t.sigset_from_hex(st2['ShdPnd']) == {signal.SIGUSR2, RT},
      'process-wide pending %s' % sorted(t.sigset_from_hex(st2['ShdPnd'])))
check(t.sigset_from_hex(st2['SigPnd']) == {signal.SIGHUP},
      'thread pending %s' % sorted(t.sigset_from_hex(st2['SigPnd'])))
mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
check(blocked <= mask, 'blocked mask %s lacks some of %s' % (sorted(mask), sorted(blocked)))
check(signal.sigpending() == blocked, 'pending %s, want %s' % (sorted(signal.sigpending()), sorted(blocked)))

for i in range(3):
    info = signal.sigtimedwait({RT}, 0)
    if not check(info is not None, 'queued SIGRTMIN+1 #%d lost' % (i + 1)):
        break
    check(info.si_pid == os.getpid() and info.si_uid == os.getuid() and info.si_code == SI_USER,
          'SIGRTMIN+1 #%d: siginfo %r' % (i + 1, info))
check(signal.sigtimedwait({RT}, 0) is None, 'more than 3 SIGRTMIN+1 queued')

os.kill(os.getpid(), signal.SIGUSR1)        # still ignored: we survive it
signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGUSR2, signal.SIGHUP})
for _ in range(3):                          # let the Python-level handlers run
    pass
check(sorted(got) == sorted([signal.SIGUSR2, signal.SIGHUP]),
      'handlers ran for %s, want SIGUSR2 and SIGHUP once each' % got)
check(signal.sigpending() == set(), 'still pending: %s' % sorted(signal.sigpending()))
t.finish()
