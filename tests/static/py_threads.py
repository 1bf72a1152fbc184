#!/usr/bin/python3
"""Threads survive C/R, each with its own state.

N threads each set their own comm (PR_SET_NAME), block their own real-time
signal, keep a threading.local value and a datagen buffer, then wait on a
Condition; one more thread is blocked in read(2) on a pipe.  After restore the
main thread checks from outside (/proc/self/task/TID: tids, comm, SigBlk),
then releases them; each thread checks its own state (tid, local value, data,
comm, signal mask) and reports.
"""
import os
import signal
import threading

import zdtmtst as t

t.init()
check = t.check

N = 5
cond = threading.Condition()
released = False
ready = threading.Barrier(N + 2)        # N cond waiters + the reader + main
results = {}
tids = {}
local = threading.local()
rfd, wfd = os.pipe()


def worker(i):
    name = 'pyw-%d' % i
    t.set_thread_name(name)
    sig = signal.SIGRTMIN + 2 + i
    signal.pthread_sigmask(signal.SIG_BLOCK, {sig})
    local.value = ('thread', i)
    data, crc = t.datagen(4096 * (i + 1))
    tid = threading.get_native_id()
    tids[i] = (tid, name, sig)
    ready.wait()
    with cond:
        while not released:
            cond.wait()
    bad = []
    if threading.get_native_id() != tid:
        bad.append('tid %d -> %d' % (tid, threading.get_native_id()))
    if getattr(local, 'value', None) != ('thread', i):
        bad.append('threading.local value %r' % (getattr(local, 'value', None),))
    if not t.datachk(data, crc):
        bad.append('data differs')
    if t.get_thread_name() != name:
        bad.append('comm %r, want %r' % (t.get_thread_name(), name))
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    if sig not in mask:
        bad.append('own signal %d no longer blocked (mask %s)' % (sig, sorted(mask)))
    others = {signal.SIGRTMIN + 2 + j for j in range(N) if j != i} & mask
    if others:
        bad.append('signals of other threads blocked here: %s' % sorted(others))
    results[i] = bad


def reader():
    t.set_thread_name('pyw-reader')
    tids['reader'] = (threading.get_native_id(), 'pyw-reader', None)
    ready.wait()
    got = b''
    while len(got) < 5:
        chunk = os.read(rfd, 5 - len(got))    # blocked here across C/R
        if not chunk:
            break
        got += chunk
    results['reader'] = [] if got == b'hello' else ['read %r' % got]


threads = [threading.Thread(target=worker, args=(i,), name='w%d' % i) for i in range(N)]
threads.append(threading.Thread(target=reader, name='reader'))
for th in threads:
    th.start()
ready.wait()

t.daemon()
t.waitsig()

task_ids = sorted(int(x) for x in os.listdir('/proc/self/task'))
want = sorted([os.getpid()] + [v[0] for v in tids.values()])
check(task_ids == want, 'threads %s, want %s' % (task_ids, want))
for key, (tid, name, sig) in sorted(tids.items(), key=str):
    try:
        with open('/proc/self/task/%d/comm' % tid) as f:
            comm = f.read().strip()
        st = t.proc_status('/proc/self/task/%d/status' % tid)
    except OSError as e:
        t.fail('thread %s (tid %d) is gone' % (key, tid), e)
        continue
    check(comm == name, 'thread %s: comm %r, want %r' % (key, comm, name))
    if sig is not None:
        check(sig in t.sigset_from_hex(st['SigBlk']),
              'thread %s: SigBlk %s lacks %d' % (key, st['SigBlk'], sig))
with cond:
    released = True
    cond.notify_all()
os.write(wfd, b'hello')
for th in threads:
    th.join(10)
    check(not th.is_alive(), 'thread %s did not finish' % th.name)
for key in list(range(N)) + ['reader']:
    r = results.get(key)
    check(r is not None, 'thread %s reported nothing' % key)
    for b in r or []:
        t.fail('thread %s: %s' % (key, b))
t.finish()
