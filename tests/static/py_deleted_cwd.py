#!/usr/bin/python3
"""Working directories and directory fds pointing at removed directories.

Set up (under --dirname):
* the test chdir()s into D1 with mode 0750 and removes it (rmdir from
  outside): its cwd is a deleted directory;
* a forked helper chdir()s into D2 (mode 0700), which is then removed too,
  and keeps an fd to a regular file opened relative to it before removal
  (the file is unlinked as well);
* the test keeps an O_RDONLY fd of a third directory D3, then renames D3
  (the fd must follow the rename) and holds an O_PATH fd of D1's parent.

After restore: /proc/self/cwd still reads "<D1> (deleted)", getcwd() fails
with ENOENT, stat(".") gives a directory with mode 0750 and no links, and
creating a file in it fails with ENOENT (a deleted directory accepts no new
entries); the helper reports the same for D2 and still reads its file's
contents; the D3 fd lists the renamed directory's entries and resolves to
its new name; the O_PATH fd still works with openat().
"""
import errno
import os
import stat

import zdtmtst as t

opts = t.init({'dirname': str})
check = t.check

base = os.path.abspath(opts.dirname)
os.mkdir(base)
d1, d2, d3 = (os.path.join(base, n) for n in ('d1', 'd2', 'd3'))
os.mkdir(d1, 0o750)
os.mkdir(d2, 0o700)
os.mkdir(d3, 0o755)
for n in ('x', 'y', 'z'):
    open(os.path.join(d3, n), 'w').close()
data, crc = t.datagen(5000)


def cwd_view():
    """What the process can observe about its (deleted) cwd."""
    st = os.stat('.')
    try:
        os.getcwd()
        gc = 'works'
    except FileNotFoundError:
        gc = 'ENOENT'
    try:
        os.close(os.open('newfile', os.O_CREAT | os.O_WRONLY, 0o600))
        cr = 'created'
    except FileNotFoundError:
        cr = 'ENOENT'
    return (os.readlink('/proc/self/cwd'), gc, cr, stat.S_ISDIR(st.st_mode),
            stat.S_IMODE(st.st_mode), st.st_nlink)


go_r, go_w = os.pipe()
res_r, res_w = os.pipe()
rd_r, rd_w = os.pipe()
helper = os.fork()
if helper == 0:
    msg = b'exception'
    try:
        os.close(go_w)
        os.close(res_r)
        os.close(rd_r)
        os.chdir(d2)
        fd = os.open('data', os.O_RDWR | os.O_CREAT, 0o600)
        os.write(fd, data)
        os.unlink('data')
        os.write(rd_w, b'r')         # the test removes d2 now
        os.read(go_r, 1)             # d2 removed
        before = cwd_view()
        os.write(rd_w, b'v')
        os.close(rd_w)
        os.read(go_r, 1)             # EOF: checkpoint done
        after = cwd_view()
        got = os.pread(fd, len(data) + 1, 0)
        if after != before:
            msg = ('helper cwd %r -> %r' % (before, after)).encode()
        elif not (len(got) == len(data) and t.datachk(got, crc)):
            msg = b'helper: the unlinked file in the deleted cwd lost its contents'
        else:
            msg = b'ok'
    finally:
        os.write(res_w, msg)
        os._exit(0)
os.close(go_r)
os.close(res_w)
os.close(rd_w)
check(os.read(rd_r, 1) == b'r', 'helper failed to set up')
os.rmdir(d2)
os.write(go_w, b'g')
check(os.read(rd_r, 1) == b'v', 'helper failed to look at its cwd')
os.close(rd_r)

os.chdir(d1)
os.rmdir(d1)
d3fd = os.open(d3, os.O_RDONLY)
d3new = os.path.join(base, 'd3-renamed')
os.rename(d3, d3new)
basefd = os.open(base, os.O_PATH)

before = cwd_view()
check(before == (d1 + ' (deleted)', 'ENOENT', 'ENOENT', True, 0o750, 0),
      'setup: cwd looks like %r' % (before,))
if t.failed():
    raise SystemExit(1)

t.daemon()
t.waitsig()

after = cwd_view()
check(after == before, 'cwd (link, getcwd, create, isdir, mode, nlink) %r -> %r' % (before, after))
check(sorted(os.listdir(d3fd)) == ['x', 'y', 'z'], 'D3 fd lists %r' % (os.listdir(d3fd),))
check(os.readlink('/proc/self/fd/%d' % d3fd) == d3new, 'D3 fd points to %r, want %r'
      % (os.readlink('/proc/self/fd/%d' % d3fd), d3new))
try:
    fd = os.open('d3-renamed/x', os.O_RDONLY, dir_fd=basefd)
    os.close(fd)
except OSError as e:
    t.fail('openat() relative to the O_PATH fd of the base dir', e)
os.close(go_w)
res = b''
while True:
    chunk = os.read(res_r, 4096)
    if not chunk:
        break
    res += chunk
os.waitpid(helper, 0)
check(res == b'ok', 'helper: %s' % res.decode(errors='replace'))
t.finish()
