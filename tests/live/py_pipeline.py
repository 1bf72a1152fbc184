#!/usr/bin/python3
"""A pipeline of Python threads keeps passing work items while the process
is checkpointed and restored.

Threads:
* a producer puts numbered items (n, payload derived from n) into a bounded
  queue.Queue (so it blocks on a full queue most of the time);
* WORKERS workers take items, check the payload, compute a digest and put
  (n, digest, worker) into a second queue; each keeps a per-thread count in
  threading.local() and in a shared dict under a Lock;
* a collector takes results, checks each digest, and records n in a set;
* a "ticker" thread waits on a Condition with a timeout in a loop and
  counts its wake-ups (notified by the collector every 100 results).
The dump catches threads blocked in Queue.put/get, in Condition.wait, in
the lock, and running.

At SIGTERM the producer stops after its current item and sends one
sentinel per worker; everything is joined (bounded); checks: every item
produced was collected exactly once with the right digest, nothing
invented, the per-worker counts (thread-local and shared) add up, every
worker did some work, the ticker was notified, no thread raised.
"""
import queue
import threading
import time
import zlib

import zdtmtst as t

t.init()
check = t.check

WORKERS = 4
STOP = object()

work_q = queue.Queue(maxsize=32)
result_q = queue.Queue(maxsize=32)
stop_producing = threading.Event()
lock = threading.Lock()
counts = {}                  # worker id -> items done
problems = []
produced = [0]
collected = set()
dups = []
tick = threading.Condition()
ticks = [0, 0]               # notifications sent, wake-ups seen with work pending
local = threading.local()


def payload(n):
    return (b'%08d' % n) * (1 + n % 50)


def producer():
    n = 0
    while not stop_producing.is_set():
        work_q.put((n, payload(n)))
        n += 1
        produced[0] = n
    for _ in range(WORKERS):
        work_q.put(STOP)


def worker(wid):
    local.done = 0
    while True:
        item = work_q.get()
        if item is STOP:
            break
        n, data = item
        if data != payload(n):
            problems.append('worker %d: item %d has a bad payload' % (wid, n))
        result_q.put((n, zlib.crc32(data), wid))
        local.done += 1
        with lock:
            counts[wid] = counts.get(wid, 0) + 1
    with lock:
        if counts.get(wid, 0) != local.done:
            problems.append('worker %d: thread-local count %d, shared %d' % (wid, local.done, counts.get(wid)))
    result_q.put(STOP)


def collector():
    stops = 0
    while stops < WORKERS:
        item = result_q.get()
        if item is STOP:
            stops += 1
            continue
        n, crc, wid = item
        if crc != zlib.crc32(payload(n)):
            problems.append('item %d: bad digest from worker %d' % (n, wid))
        if n in collected:
            dups.append(n)
        collected.add(n)
        if len(collected) % 100 == 0:
            with tick:
                ticks[0] += 1
                tick.notify_all()
    with tick:
        ticks[0] = -ticks[0] - 1       # tells the ticker to end
        tick.notify_all()


def ticker():
    seen = 0
    with tick:
        while ticks[0] >= 0:
            tick.wait(timeout=0.5)
            if ticks[0] > seen:
                seen = ticks[0]
                ticks[1] += 1


threads = [threading.Thread(target=producer, name='producer'),
           threading.Thread(target=collector, name='collector'),
           threading.Thread(target=ticker, name='ticker')]
threads += [threading.Thread(target=worker, args=(i,), name='worker-%d' % i) for i in range(WORKERS)]
for th in threads:
    th.start()

while len(collected) < 500:
    time.sleep(0.001)
t.daemon()
t.waitsig()

stop_producing.set()
deadline = time.monotonic() + 20
for th in threads:
    th.join(max(0.1, deadline - time.monotonic()))
stuck = [th.name for th in threads if th.is_alive()]
if stuck:
    t.fail('threads did not finish within 20 s: %s' % ', '.join(stuck))
    t.msg('collected %d of %d' % (len(collected), produced[0]))
    import os
    os._exit(1)

n = produced[0]
t.msg('%d items through %d workers %r, %d ticks' % (n, WORKERS, counts, ticks[1]))
for p in problems[:10]:
    t.fail(p)
check(not dups, 'items collected twice: %r' % dups[:10])
missing = set(range(n)) - collected
check(not missing, '%d items lost, e.g. %r' % (len(missing), sorted(missing)[:10]))
extra = collected - set(range(n))
check(not extra, 'items never produced were collected: %r' % sorted(extra)[:10])
check(sum(counts.values()) == n, 'workers did %d items, %d were produced' % (sum(counts.values()), n))
check(all(counts.get(i, 0) > 0 for i in range(WORKERS)), 'a worker did nothing: %r' % counts)
check(ticks[1] > 0, 'the ticker was never woken by a notification')
t.finish()
