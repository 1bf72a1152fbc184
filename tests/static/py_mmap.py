#!/usr/bin/python3
"""Memory mappings survive C/R: contents, addresses, protections, sharing.

* an anonymous private mapping filled with datagen,
* an anonymous shared mapping, shared with a forked helper that changes it
  after restore (proves the sharing itself was restored, not just the bytes),
* a MAP_SHARED mapping of the --filename file filled with datagen (the file
  on disk must show the same bytes after restore),
* a MAP_PRIVATE mapping of the same file whose first page was COW-modified
  (the modified page must stay private, the rest must follow the file),
* a read-only anonymous mapping (protection must survive).
Each mapping's range must be covered by /proc/self/maps entries with the same
perms, offsets and path after restore (VMA merging with neighbours may differ).
"""
import ctypes
import mmap
import os

import zdtmtst as t

opts = t.init({'filename': str})
check = t.check
PAGE = mmap.PAGESIZE


def addr_of(m):
    return ctypes.addressof(ctypes.c_char.from_buffer(m))


def vmas(lo, hi):
    """The /proc/self/maps entries overlapping [lo, hi), as
    (start, end, perms, offset-of-lo, path).  Adjacent entries are not
    compared by their bounds: the kernel may merge VMAs differently after
    restore (criu restores VMA by VMA; an anonymous one was seen merged with
    its neighbour), so what is compared is the range clipped to [lo, hi)."""
    out = []
    with open('/proc/self/maps') as f:
        for line in f:
            fields = line.split()
            s, e = (int(x, 16) for x in fields[0].split('-'))
            if e <= lo or s >= hi:
                continue
            path = ' '.join(fields[5:])
            # criu restores MAP_SHARED|MAP_ANONYMOUS memory through a memfd
            # named after the original: "/memfd:/dev/zero (deleted)".
            if path.startswith('/memfd:/dev/zero'):
                path = path[len('/memfd:'):]
            off = int(fields[2], 16) + (max(s, lo) - s)
            out.append((max(s, lo), min(e, hi), fields[1], off, path))
    return out


def vma_summary(lo, size):
    """One tuple per distinct (perms, offset-continuity, path) run over [lo, lo+size)."""
    runs = []
    for s, e, perms, off, path in vmas(lo, lo + size):
        if runs and runs[-1][1] == s and runs[-1][2] == perms and runs[-1][4] == path and (
                path == '' or runs[-1][3] + (s - runs[-1][0]) == off):
            runs[-1] = (runs[-1][0], e, perms, runs[-1][3], path)
        else:
            runs.append((s, e, perms, off, path))
    return runs


anon = mmap.mmap(-1, 64 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
anon_crc = t.datagen_into(anon)

shared = mmap.mmap(-1, 4 * PAGE, flags=mmap.MAP_SHARED | mmap.MAP_ANONYMOUS)
shared_crc = t.datagen_into(shared)

fsize = 16 * PAGE
fd = os.open(opts.filename, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
os.ftruncate(fd, fsize)
fmap = mmap.mmap(fd, fsize, flags=mmap.MAP_SHARED)
file_crc = t.datagen_into(fmap)
fmap.flush()

pmap = mmap.mmap(fd, fsize, flags=mmap.MAP_PRIVATE)
cow_page, cow_crc = t.datagen(PAGE)
pmap[:PAGE] = cow_page
os.close(fd)                    # the mappings keep the file alive

ro = mmap.mmap(-1, 2 * PAGE, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
ro_crc = t.datagen_into(ro)
libc = ctypes.CDLL(None, use_errno=True)
ro_addr = addr_of(ro)
if libc.mprotect(ctypes.c_void_p(ro_addr), ctypes.c_size_t(2 * PAGE), mmap.PROT_READ) != 0:
    t.err('mprotect failed', ctypes.get_errno())
    raise SystemExit(1)

sizes = {'anon': len(anon), 'shared': len(shared), 'file': fsize, 'private-file': fsize,
         'readonly': 2 * PAGE}
addrs = {'anon': addr_of(anon), 'shared': addr_of(shared), 'file': addr_of(fmap),
         'private-file': addr_of(pmap), 'readonly': ro_addr}
lines = {k: vma_summary(a, sizes[k]) for k, a in addrs.items()}
check(lines['readonly'][0][2].startswith('r--'), 'mprotect not in effect: %r' % (lines['readonly'],))
for k, v in lines.items():
    check(len(v) == 1, '%s mapping: not one VMA run: %r' % (k, v))

# The helper waits (pipe), then writes a marker into the shared mapping.
go_r, go_w = os.pipe()
done_r, done_w = os.pipe()
helper = os.fork()
if helper == 0:
    os.close(go_w)
    os.close(done_r)
    code = 0
    try:
        if os.read(go_r, 1) != b'g':
            code = 2
        else:
            shared[0:8] = b'HELPER!!'
            os.write(done_w, b'd')
    except BaseException:
        code = 3
    os._exit(code)
os.close(go_r)
os.close(done_w)

t.daemon()
t.waitsig()

for k, a in addrs.items():
    now = vma_summary(a, sizes[k])
    check(now == lines[k], '%s mapping: /proc/self/maps %r, was %r' % (k, now, lines[k]))
check(t.datachk(anon, anon_crc), 'anonymous private mapping: contents differ')
check(t.datachk(shared, shared_crc), 'anonymous shared mapping: contents differ')
check(t.datachk(fmap, file_crc), 'MAP_SHARED file mapping: contents differ')
check(t.datachk(ro, ro_crc), 'read-only mapping: contents differ')
with open(opts.filename, 'rb') as f:
    disk = f.read()
check(len(disk) == fsize and t.datachk(disk, file_crc),
      'file on disk (%d bytes) differs from what was written through the mapping' % len(disk))
check(t.datachk(pmap[:PAGE], cow_crc), 'MAP_PRIVATE file mapping: COW-modified page differs')
check(pmap[PAGE:] == disk[PAGE:], 'MAP_PRIVATE file mapping: untouched pages differ from the file')

# Shared mapping must still be shared with the helper.
os.write(go_w, b'g')
check(os.read(done_r, 1) == b'd', 'helper did not answer')
_, status = os.waitpid(helper, 0)
check(os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, 'helper failed: status %#x' % status)
check(shared[0:8] == b'HELPER!!', 'MAP_SHARED|MAP_ANONYMOUS is no longer shared with the helper: %r' % shared[0:8])
# After a write through the shared file mapping the file must follow.
fmap[0:4] = b'ZDTM'
fmap.flush()
with open(opts.filename, 'rb') as f:
    check(f.read(4) == b'ZDTM', 'MAP_SHARED file mapping no longer writes through to the file')
t.finish()
