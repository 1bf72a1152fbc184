#!/usr/bin/python3
"""Open files survive C/R: offsets, flags, contents, shared offsets, unlinked files.

* --filename: created, filled with datagen, seeked back to an odd offset;
  a dup() of that fd (must share the offset after restore);
  a second, independent O_RDONLY open of it at another offset;
  an O_APPEND|O_WRONLY open (flag must survive: a write lands at the end);
* an unlinked-but-open temporary file (in the work dir) with contents and an
  offset: after restore it is still unlinked (st_nlink 0, "(deleted)") and
  holds the same bytes;
* an O_CLOEXEC flag on one fd (F_GETFD).
"""
import fcntl
import os

import zdtmtst as t

opts = t.init({'filename': str})
check = t.check

data, crc = t.datagen(200000)
fd = os.open(opts.filename, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o640)
os.write(fd, data)
off = 123457
os.lseek(fd, off, os.SEEK_SET)
dupfd = os.dup(fd)                       # shares the open file description
os.set_inheritable(dupfd, False)

rofd = os.open(opts.filename, os.O_RDONLY)
ro_off = 4099
os.lseek(rofd, ro_off, os.SEEK_SET)
fcntl.fcntl(rofd, fcntl.F_SETFD, 0)      # no FD_CLOEXEC here
os.set_inheritable(fd, False)

apfd = os.open(opts.filename, os.O_WRONLY | os.O_APPEND)
os.lseek(apfd, 10, os.SEEK_SET)

tmpname = os.path.join(os.getcwd(), 'py_file.unlinked.%d' % os.getpid())
tmpfd = os.open(tmpname, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
tdata, tcrc = t.datagen(30000)
os.write(tmpfd, tdata)
tmp_off = 777
os.lseek(tmpfd, tmp_off, os.SEEK_SET)
os.unlink(tmpname)

t.daemon()
t.waitsig()

check(os.lseek(fd, 0, os.SEEK_CUR) == off, 'offset %d, want %d' % (os.lseek(fd, 0, os.SEEK_CUR), off))
check(os.lseek(dupfd, 0, os.SEEK_CUR) == off, 'dup offset %d, want %d' % (os.lseek(dupfd, 0, os.SEEK_CUR), off))
os.lseek(dupfd, 5, os.SEEK_CUR)
check(os.lseek(fd, 0, os.SEEK_CUR) == off + 5, 'dup() fds no longer share their offset')
check(os.lseek(rofd, 0, os.SEEK_CUR) == ro_off,
      'O_RDONLY fd offset %d, want %d' % (os.lseek(rofd, 0, os.SEEK_CUR), ro_off))
check(fcntl.fcntl(rofd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY, 'O_RDONLY fd access mode changed')
check(fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDWR, 'O_RDWR fd access mode changed')
check(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, 'FD_CLOEXEC lost')
check(not fcntl.fcntl(rofd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC, 'FD_CLOEXEC appeared')
check(fcntl.fcntl(apfd, fcntl.F_GETFL) & os.O_APPEND, 'O_APPEND lost')
check(os.path.samestat(os.fstat(fd), os.stat(opts.filename)), 'fd no longer refers to --filename')

os.lseek(fd, 0, os.SEEK_SET)
got = b''
while True:
    chunk = os.read(fd, 65536)
    if not chunk:
        break
    got += chunk
check(len(got) == len(data) and t.datachk(got, crc), 'file contents differ (%d bytes)' % len(got))
check(os.read(rofd, 10) == data[ro_off:ro_off + 10], 'read via O_RDONLY fd differs')
os.write(apfd, b'APPENDED')
st = os.fstat(fd)
check(st.st_size == len(data) + 8, 'O_APPEND write did not land at the end (size %d)' % st.st_size)
check(os.pread(fd, 8, len(data)) == b'APPENDED', 'O_APPEND data not at the end')

st = os.fstat(tmpfd)
check(st.st_nlink == 0, 'unlinked file has st_nlink %d' % st.st_nlink)
check(not os.path.exists(tmpname), 'unlinked file reappeared at %s' % tmpname)
link = os.readlink('/proc/self/fd/%d' % tmpfd)
check(link.endswith(' (deleted)'), 'unlinked file fd points to %r' % link)
check(os.lseek(tmpfd, 0, os.SEEK_CUR) == tmp_off,
      'unlinked file offset %d, want %d' % (os.lseek(tmpfd, 0, os.SEEK_CUR), tmp_off))
check(st.st_size == len(tdata), 'unlinked file size %d, want %d' % (st.st_size, len(tdata)))
tgot = os.pread(tmpfd, len(tdata) + 1, 0)
check(t.datachk(tgot, tcrc) and len(tgot) == len(tdata), 'unlinked file contents differ')
t.finish()
