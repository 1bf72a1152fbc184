#!/usr/bin/python3
"""A rotating log keeps being written while the process is checkpointed and
restored.

Under --dirname the test appends records (sequence number, length, CRC32,
payload derived from the sequence number) to "log" opened O_WRONLY|O_APPEND,
one os.write() per record.  Every ROTATE records the log is rotated: the
open file is renamed to "log.<k>" (the fd stays open on the renamed file
for one more record, which must land in it) and a fresh "log" is opened.
After each record an index file, mmap'ed MAP_SHARED, gets the count of
records written and the current segment number (so the mapping's
contents and the file on disk must agree).  A second thread reads the
finished segments back as they appear and checks them.

At SIGTERM the writer stops; then all segments are read in order.
Checks: the records form one gapless, duplicate-free sequence 0..N-1 with
valid CRCs and payloads across the segments; each finished segment holds
exactly its share; the fd offsets equal the file sizes; the index file (via
the mapping and via read()) says N and the right segment; the checker
thread agrees and raised nothing; the log was rotated at least once.
"""
import mmap
import os
import struct
import threading
import time
import zlib

import zdtmtst as t

opts = t.init({'dirname': str})
check = t.check

ROTATE = 500
REC = struct.Struct('=QII')     # seq, payload length, crc32 of the payload
IDX = struct.Struct('=QQ')      # records written, current segment

d = os.path.abspath(opts.dirname)
os.mkdir(d)
logpath = os.path.join(d, 'log')


def payload(seq):
    return (b'%x.' % seq) * (1 + seq % 97)


def record(seq):
    p = payload(seq)
    return REC.pack(seq, len(p), zlib.crc32(p)) + p


def parse(data, first, where):
    """Records in data must be first, first+1, ...; returns the next seq."""
    pos, seq = 0, first
    while pos < len(data):
        if len(data) - pos < REC.size:
            raise ValueError('%s: torn header at %d' % (where, pos))
        s, ln, crc = REC.unpack_from(data, pos)
        body = data[pos + REC.size:pos + REC.size + ln]
        if s != seq:
            raise ValueError('%s: record %d where %d was due (offset %d)' % (where, s, seq, pos))
        if len(body) != ln or zlib.crc32(body) != crc or body != payload(s):
            raise ValueError('%s: record %d corrupted' % (where, s))
        pos += REC.size + ln
        seq += 1
    return seq


idx_fd = os.open(os.path.join(d, 'index'), os.O_RDWR | os.O_CREAT, 0o644)
os.ftruncate(idx_fd, mmap.PAGESIZE)
idx = mmap.mmap(idx_fd, mmap.PAGESIZE, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)

state = {'seq': 0, 'seg': 0, 'inseg': 0, 'fd': os.open(logpath, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)}
stop = threading.Event()
checked = {'segments': 0, 'next': 0}
problems = []
seg_ready = threading.Condition()


def write_one():
    os.write(state['fd'], record(state['seq']))
    state['seq'] += 1
    state['inseg'] += 1
    if state['inseg'] == ROTATE:
        seg = state['seg']
        os.rename(logpath, '%s.%d' % (logpath, seg))
        # one more record through the old fd: it must land in the renamed file
        os.write(state['fd'], record(state['seq']))
        state['seq'] += 1
        os.close(state['fd'])
        state['fd'] = os.open(logpath, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_EXCL, 0o644)
        state['seg'] = seg + 1
        state['inseg'] = 0
        with seg_ready:
            seg_ready.notify()
    IDX.pack_into(idx, 0, state['seq'], state['seg'])


def checker():
    """Reads finished segments back while the writer goes on."""
    try:
        while True:
            with seg_ready:
                while checked['segments'] >= state['seg'] and not stop.is_set():
                    seg_ready.wait(0.1)
                if checked['segments'] >= state['seg']:
                    return
            k = checked['segments']
            with open('%s.%d' % (logpath, k), 'rb') as f:
                data = f.read()
            nxt = parse(data, checked['next'], 'segment %d' % k)
            if nxt - checked['next'] != ROTATE + 1:
                problems.append('segment %d holds %d records, want %d' % (k, nxt - checked['next'], ROTATE + 1))
            checked['next'] = nxt
            checked['segments'] = k + 1
    except Exception as e:
        problems.append('checker: %r' % e)


th = threading.Thread(target=checker, name='checker')
th.start()
ready = False
while True:
    write_one()
    if not ready and state['seg'] >= 2:
        t.daemon()
        ready = True
    if ready and not t.go():
        break
    if state['seg'] > 200:              # about 30 MB: enough, wait for SIGTERM
        t.waitsig()
        break
stop.set()
with seg_ready:
    seg_ready.notify()
th.join(20)
check(not th.is_alive(), 'the checker thread is stuck')
for p in problems[:10]:
    t.fail(p)

n, seg = state['seq'], state['seg']
t.msg('%d records in %d segments, checker read %d segments' % (n, seg + 1, checked['segments']))
check(seg >= 1, 'the log never rotated')
check(checked['segments'] == seg, 'the checker read %d of %d finished segments' % (checked['segments'], seg))
nxt = 0
for k in range(seg + 1):
    p = '%s.%d' % (logpath, k) if k < seg else logpath
    try:
        with open(p, 'rb') as f:
            nxt = parse(f.read(), nxt, p)
    except (OSError, ValueError) as e:
        t.fail('reading the log back: %s' % e)
        break
check(nxt == n, 'the segments hold %d records, %d were written' % (nxt, n))
size = os.fstat(state['fd']).st_size
check(os.lseek(state['fd'], 0, os.SEEK_CUR) == size,
      'log fd offset %d, file size %d' % (os.lseek(state['fd'], 0, os.SEEK_CUR), size))
check(os.readlink('/proc/self/fd/%d' % state['fd']) == logpath,
      'log fd points to %r' % os.readlink('/proc/self/fd/%d' % state['fd']))
check(IDX.unpack_from(idx, 0) == (n, seg), 'index mapping says %r, want %r' % (IDX.unpack_from(idx, 0), (n, seg)))
check(IDX.unpack(os.pread(idx_fd, IDX.size, 0)) == (n, seg), 'index file says %r, want %r'
      % (IDX.unpack(os.pread(idx_fd, IDX.size, 0)), (n, seg)))
t.finish()
