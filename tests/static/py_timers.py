#!/usr/bin/python3
"""timerfds and POSIX timers survive C/R (both through ctypes).

timerfds:
* T1: CLOCK_MONOTONIC, relative 1000 s, interval 500 s, TFD_NONBLOCK;
* T2: CLOCK_REALTIME, TFD_TIMER_ABSTIME at now + 2000 s (no interval);
* T3: CLOCK_MONOTONIC one-shot of 1 ms that has expired before the
  checkpoint and was not read (1 expiration pending);
* T4: CLOCK_BOOTTIME, never armed (TFD_CLOEXEC);
POSIX timers (timer_create):
* P1: CLOCK_MONOTONIC, SIGEV_NONE, 3000 s with an interval of 100 s;
* P2: created and deleted (a hole in the timer ids);
* P3: CLOCK_REALTIME, SIGEV_SIGNAL with SIGRTMIN+2 (blocked) and a
  sigev_value, a 1 ms one-shot that fired before the checkpoint: its
  signal is pending;
* P4: CLOCK_BOOTTIME, SIGEV_SIGNAL SIGRTMIN+3, 4000 s.

After restore: every timer still has its interval; the remaining time of
the armed ones is below the initial value and above it minus the time that
passed (plus a slack); the absolute REALTIME timerfd still expires at the
same wall-clock time; T3 still reports 1 expiration, T4 is disarmed; the
POSIX timer ids are the same (P2's id still invalid); the pending SIGRTMIN+2
is delivered with si_code SI_TIMER, the timer id and the sigev_value.
"""
import ctypes
import fcntl
import os
import signal
import struct
import time

import zdtmtst as t

t.init()
check = t.check

libc = ctypes.CDLL(None, use_errno=True)
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_BOOTTIME = 0, 1, 7
TFD_TIMER_ABSTIME = 1
TFD_NONBLOCK, TFD_CLOEXEC = os.O_NONBLOCK, os.O_CLOEXEC
SIGEV_SIGNAL, SIGEV_NONE = 0, 1
SI_TIMER = -2
SLACK = 5.0           # seconds: how far a remaining time may be off


class Timespec(ctypes.Structure):
    _fields_ = [('tv_sec', ctypes.c_long), ('tv_nsec', ctypes.c_long)]


class Itimerspec(ctypes.Structure):
    _fields_ = [('it_interval', Timespec), ('it_value', Timespec)]


class Sigevent(ctypes.Structure):      # x86_64/aarch64 glibc layout, 64 bytes
    _fields_ = [('sigev_value', ctypes.c_void_p), ('sigev_signo', ctypes.c_int),
                ('sigev_notify', ctypes.c_int), ('_pad', ctypes.c_byte * 48)]


def ok(r, what):
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, '%s: %s' % (what, os.strerror(e)))
    return r


def its(value, interval=0.0):
    def ts(x):
        return Timespec(int(x), int(round((x - int(x)) * 1e9)))
    return Itimerspec(ts(interval), ts(value))


def secs(ts):
    return ts.tv_sec + ts.tv_nsec / 1e9


def tfd_create(clock, flags):
    return ok(libc.timerfd_create(clock, flags), 'timerfd_create')


def tfd_set(fd, value, interval=0.0, flags=0):
    ok(libc.timerfd_settime(fd, flags, ctypes.byref(its(value, interval)), None), 'timerfd_settime')


def tfd_get(fd):
    cur = Itimerspec()
    ok(libc.timerfd_gettime(fd, ctypes.byref(cur)), 'timerfd_gettime')
    return secs(cur.it_value), secs(cur.it_interval)


def ptimer_create(clock, notify, signo=0, value=0):
    ev = Sigevent()
    ev.sigev_notify, ev.sigev_signo, ev.sigev_value = notify, signo, value
    tid = ctypes.c_void_p()
    ok(libc.timer_create(clock, ctypes.byref(ev), ctypes.byref(tid)), 'timer_create')
    return tid.value or 0


def ptimer_set(tid, value, interval=0.0):
    ok(libc.timer_settime(ctypes.c_void_p(tid), 0, ctypes.byref(its(value, interval)), None), 'timer_settime')


def ptimer_get(tid):
    cur = Itimerspec()
    r = libc.timer_gettime(ctypes.c_void_p(tid), ctypes.byref(cur))
    if r == -1:
        return None
    return secs(cur.it_value), secs(cur.it_interval)


def mono():
    return time.clock_gettime(time.CLOCK_MONOTONIC)


SIG_P3 = signal.SIGRTMIN + 2
SIG_P4 = signal.SIGRTMIN + 3
signal.pthread_sigmask(signal.SIG_BLOCK, {SIG_P3, SIG_P4})

t_start = mono()
T1 = tfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)
tfd_set(T1, 1000.0, 500.0)
T2 = tfd_create(CLOCK_REALTIME, 0)
t2_deadline = time.time() + 2000.0
tfd_set(T2, t2_deadline, 0.0, TFD_TIMER_ABSTIME)
T3 = tfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK)
tfd_set(T3, 0.001)
T4 = tfd_create(CLOCK_BOOTTIME, TFD_CLOEXEC)

P1 = ptimer_create(CLOCK_MONOTONIC, SIGEV_NONE)
ptimer_set(P1, 3000.0, 100.0)
P2 = ptimer_create(CLOCK_MONOTONIC, SIGEV_NONE)
P3_VALUE = 0x5eed
P3 = ptimer_create(CLOCK_REALTIME, SIGEV_SIGNAL, SIG_P3, P3_VALUE)
P4 = ptimer_create(CLOCK_BOOTTIME, SIGEV_SIGNAL, SIG_P4, 4)
ok(libc.timer_delete(ctypes.c_void_p(P2)), 'timer_delete')
ptimer_set(P3, 0.001)
ptimer_set(P4, 4000.0)

# wait until T3 and P3 have fired (without consuming them)
deadline = mono() + 5
while mono() < deadline:
    if tfd_get(T3) == (0.0, 0.0) and SIG_P3 in signal.sigpending():
        break
    time.sleep(0.001)
check(tfd_get(T3) == (0.0, 0.0), 'setup: T3 did not expire')
check(SIG_P3 in signal.sigpending(), 'setup: P3 signal not pending')
with open('/proc/self/fdinfo/%d' % T3) as f:
    check('ticks: 1' in f.read(), 'setup: T3 does not show 1 tick in fdinfo')
flags_before = {fd: (fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK, fcntl.fcntl(fd, fcntl.F_GETFD))
                for fd in (T1, T2, T3, T4)}
if t.failed():
    raise SystemExit(1)

t.daemon()
t.waitsig()

elapsed = mono() - t_start


def check_remaining(name, got, initial, interval):
    if got is None:
        t.fail('%s: timer is gone' % name)
        return
    value, ival = got
    check(abs(ival - interval) < 1e-6, '%s: interval %r, want %r' % (name, ival, interval))
    check(initial - elapsed - SLACK <= value <= initial,
          '%s: %.3f s remaining, want within [%.3f, %.3f] (%.3f s elapsed)'
          % (name, value, initial - elapsed - SLACK, initial, elapsed))


check_remaining('T1', tfd_get(T1), 1000.0, 500.0)
value, ival = tfd_get(T2)
expect = t2_deadline - time.time()
check(ival == 0 and abs(value - expect) < SLACK,
      'T2 (absolute REALTIME): %.3f s remaining (interval %r), want about %.3f' % (value, ival, expect))
check(tfd_get(T4) == (0.0, 0.0), 'T4: armed after restore: %r' % (tfd_get(T4),))
flags_after = {fd: (fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_NONBLOCK, fcntl.fcntl(fd, fcntl.F_GETFD))
               for fd in (T1, T2, T3, T4)}
check(flags_after == flags_before, 'timerfd flags: %r -> %r' % (flags_before, flags_after))
try:
    ticks = struct.unpack('Q', os.read(T3, 8))[0]
    check(ticks == 1, 'T3: %d expirations, want 1' % ticks)
except BlockingIOError:
    t.fail('T3: its pending expiration was lost')
try:
    os.read(T1, 8)
    t.fail('T1 reports an expiration')
except BlockingIOError:
    pass

check_remaining('P1', ptimer_get(P1), 3000.0, 100.0)
check(ptimer_get(P2) is None, 'P2 (deleted) exists again after restore')
check_remaining('P4', ptimer_get(P4), 4000.0, 0.0)
check(ptimer_get(P3) == (0.0, 0.0), 'P3: re-armed after restore: %r' % (ptimer_get(P3),))


class Siginfo(ctypes.Structure):       # the timer view of siginfo_t
    _fields_ = [('si_signo', ctypes.c_int), ('si_errno', ctypes.c_int), ('si_code', ctypes.c_int),
                ('_pad0', ctypes.c_int), ('si_tid', ctypes.c_int), ('si_overrun', ctypes.c_int),
                ('si_value', ctypes.c_void_p), ('_rest', ctypes.c_byte * 104)]


class Sigset(ctypes.Structure):
    _fields_ = [('val', ctypes.c_ulong * 16)]


mask = Sigset()
libc.sigemptyset(ctypes.byref(mask))
libc.sigaddset(ctypes.byref(mask), SIG_P3)
info = Siginfo()
r = libc.sigtimedwait(ctypes.byref(mask), ctypes.byref(info), ctypes.byref(Timespec(0, 0)))
if r != SIG_P3:
    t.fail('P3: its pending signal was lost (sigtimedwait: %d)' % r)
else:
    check(info.si_code == SI_TIMER, 'P3 signal: si_code %d, want SI_TIMER' % info.si_code)
    check((info.si_value or 0) == P3_VALUE, 'P3 signal: si_value %#x, want %#x' % (info.si_value or 0, P3_VALUE))
    # glibc's timer_t of a SIGEV_SIGNAL timer is the kernel timer id
    check(info.si_tid == P3, 'P3 signal: si_timerid %d, want %d' % (info.si_tid, P3))
check(SIG_P4 not in signal.sigpending(), 'P4 fired during C/R')
t.finish()
