#!/usr/bin/python3
"""Per-task properties set with prctl/setrlimit/sched/sigaltstack survive C/R.

In the test process:
* PR_SET_NO_NEW_PRIVS (one-way: must still be 1), PR_SET_CHILD_SUBREAPER,
  PR_SET_THP_DISABLE, PR_SET_PDEATHSIG (SIGURG: the launcher, our parent,
  exits at readiness and the signal is really sent, so it must be one whose
  default action is to ignore it);
* soft limits below the hard ones and lowered hard limits: RLIMIT_NOFILE,
  RLIMIT_STACK, RLIMIT_CORE, RLIMIT_FSIZE, RLIMIT_NPROC, RLIMIT_MSGQUEUE,
  RLIMIT_AS, RLIMIT_SIGPENDING (and all the others compared too);
* scheduling policy SCHED_BATCH with nice 7;
* an alternate signal stack (sigaltstack, via ctypes) of 64 KiB in an
  mmap'ed buffer.
In a second thread: its own SCHED_IDLE policy and its own pdeathsig and
alternate stack (these are per-thread in the kernel), checked by that thread.

After restore every value is read back with the same calls and compared.
The alternate stack is also used: a SIGUSR1 handler registered with
SA_ONSTACK (through ctypes, since the signal module does not set it) asks
sigaltstack() whether it runs on it (SS_ONSTACK), once before the
checkpoint (to prove the probe works) and once after restore.
(personality(2) is not restored by criu 4.2.1: see py_personality, noauto.)
"""
import ctypes
import mmap
import os
import resource
import signal
import threading

import zdtmtst as t

t.init()
check = t.check

libc = ctypes.CDLL(None, use_errno=True)

PR_SET_PDEATHSIG, PR_GET_PDEATHSIG = 1, 2
PR_SET_CHILD_SUBREAPER, PR_GET_CHILD_SUBREAPER = 36, 37
PR_SET_NO_NEW_PRIVS, PR_GET_NO_NEW_PRIVS = 38, 39
PR_SET_THP_DISABLE, PR_GET_THP_DISABLE = 41, 42
SS_ONSTACK, SS_DISABLE = 1, 2
SA_ONSTACK = 0x08000000


class StackT(ctypes.Structure):
    _fields_ = [('ss_sp', ctypes.c_void_p), ('ss_flags', ctypes.c_int), ('ss_size', ctypes.c_size_t)]


def ok(r, what):
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, '%s: %s' % (what, os.strerror(e)))
    return r


def get_pdeathsig():
    v = ctypes.c_int(-1)
    ok(libc.prctl(PR_GET_PDEATHSIG, ctypes.byref(v), 0, 0, 0), 'PR_GET_PDEATHSIG')
    return v.value


def get_subreaper():
    v = ctypes.c_int(-1)
    ok(libc.prctl(PR_GET_CHILD_SUBREAPER, ctypes.byref(v), 0, 0, 0), 'PR_GET_CHILD_SUBREAPER')
    return v.value


def altstack():
    cur = StackT()
    ok(libc.sigaltstack(None, ctypes.byref(cur)), 'sigaltstack')
    return (cur.ss_sp or 0, cur.ss_flags, cur.ss_size)


def set_altstack(buf):
    addr = ctypes.addressof(ctypes.c_char.from_buffer(buf))
    st = StackT(addr, 0, len(buf))
    ok(libc.sigaltstack(ctypes.byref(st), None), 'sigaltstack')
    return addr


RLIMITS = sorted(v for k, v in vars(resource).items() if k.startswith('RLIMIT_'))


def state():
    return {
        'no_new_privs': t.prctl(PR_GET_NO_NEW_PRIVS),
        'pdeathsig': get_pdeathsig(),
        'subreaper': get_subreaper(),
        'thp_disable': t.prctl(PR_GET_THP_DISABLE),
        'rlimits': {r: resource.getrlimit(r) for r in RLIMITS},
        'sched': (os.sched_getscheduler(0), os.getpriority(os.PRIO_PROCESS, 0)),
        'altstack': altstack(),
    }


t.prctl(PR_SET_NO_NEW_PRIVS, 1)
t.prctl(PR_SET_PDEATHSIG, signal.SIGURG)
t.prctl(PR_SET_CHILD_SUBREAPER, 1)
t.prctl(PR_SET_THP_DISABLE, 1)
LIMITS = {                      # (soft, hard) wanted, bounded by the current hard limit
    resource.RLIMIT_NOFILE: (900, 1000),
    resource.RLIMIT_CORE: (0, 1 << 20),
    resource.RLIMIT_FSIZE: (1 << 30, 1 << 31),
    resource.RLIMIT_NPROC: (4000, 5000),
    resource.RLIMIT_MSGQUEUE: (100000, 200000),
    resource.RLIMIT_SIGPENDING: (300, 400),
    resource.RLIMIT_STACK: (8 << 20, 100 << 20),
    resource.RLIMIT_AS: (32 << 30, 64 << 30),
}
for r, (soft, hard) in LIMITS.items():
    cur_hard = resource.getrlimit(r)[1]
    if cur_hard != resource.RLIM_INFINITY:
        hard = min(hard, cur_hard)
        soft = min(soft, hard)
    resource.setrlimit(r, (soft, hard))
os.sched_setscheduler(0, os.SCHED_BATCH, os.sched_param(0))
os.setpriority(os.PRIO_PROCESS, 0, 7)
stack_buf = mmap.mmap(-1, 64 * 1024, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
stack_addr = set_altstack(stack_buf)

# a second thread with its own properties
thread_go = threading.Event()
thread_ready = threading.Event()
thread_result = []


def thread_body():
    try:
        tbuf = mmap.mmap(-1, 32 * 1024, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
        set_altstack(tbuf)
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))
        t.prctl(PR_SET_PDEATHSIG, signal.SIGWINCH)
        mine = (altstack(), os.sched_getscheduler(0), get_pdeathsig())
        thread_ready.set()
        thread_go.wait()
        now = (altstack(), os.sched_getscheduler(0), get_pdeathsig())
        if now != mine:
            thread_result.append('thread (altstack, policy, pdeathsig) %r -> %r' % (mine, now))
    except Exception as e:
        thread_result.append('thread failed: %r' % e)
        thread_ready.set()


th = threading.Thread(target=thread_body, daemon=True)
th.start()
thread_ready.wait()

before = state()
check(before['no_new_privs'] == 1 and before['pdeathsig'] == signal.SIGURG and before['subreaper'] == 1
      and before['thp_disable'] == 1 and before['sched'] == (os.SCHED_BATCH, 7)
      and before['altstack'] == (stack_addr, 0, len(stack_buf)),
      'setup did not take: %r' % before)

# a SIGUSR1 handler on the alternate stack (a raw sigaction with SA_ONSTACK)
HANDLER = ctypes.CFUNCTYPE(None, ctypes.c_int)
handler_saw = []


@HANDLER
def on_usr1(sig):
    cur = StackT()
    libc.sigaltstack(None, ctypes.byref(cur))
    handler_saw.append(cur.ss_flags & SS_ONSTACK)


class Sigaction(ctypes.Structure):       # glibc's struct sigaction
    _fields_ = [('handler', ctypes.c_void_p), ('mask', ctypes.c_ulong * 16),
                ('flags', ctypes.c_int), ('restorer', ctypes.c_void_p)]


sa = Sigaction()
sa.handler = ctypes.cast(on_usr1, ctypes.c_void_p)
sa.flags = SA_ONSTACK
ok(libc.sigaction(signal.SIGUSR1, ctypes.byref(sa), None), 'sigaction')


def on_altstack():
    del handler_saw[:]
    r = libc.pthread_kill(ctypes.c_ulong(threading.get_ident()), signal.SIGUSR1)
    if r:
        raise OSError(r, 'pthread_kill: ' + os.strerror(r))
    return handler_saw[0] if len(handler_saw) == 1 else 'ran %d times' % len(handler_saw)


check(on_altstack() == 1, 'before the checkpoint: the SA_ONSTACK handler did not run on the alternate stack')
if t.failed():
    raise SystemExit(1)

t.daemon()
t.waitsig()

after = state()
for k in before:
    if k == 'rlimits':
        for r in RLIMITS:
            check(before[k][r] == after[k][r], 'rlimit %d: %r -> %r' % (r, before[k][r], after[k][r]))
    else:
        check(before[k] == after[k], '%s: %r -> %r' % (k, before[k], after[k]))
thread_go.set()
th.join()
for problem in thread_result:
    t.fail(problem)

t.check(on_altstack() == 1, 'after restore: the SA_ONSTACK handler did not run on the alternate stack')
t.finish()
