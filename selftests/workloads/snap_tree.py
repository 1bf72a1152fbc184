"""A small root-owned task tree for the snapshot self-tests.

    snap_tree.py DIR

Builds, in DIR: a pipe (with data in it), a file open at offset 100, a
deleted file still open, a socketpair, an eventfd, a shared file mapping and
an anonymous one, a second thread, a blocked signal, umask 027, and a child
process (which shares the pipe). Then writes its pid to DIR/ready and sleeps.

On SIGUSR1 the main process reads DIR/action and changes exactly that one
thing about itself, then writes DIR/done:
    newfd    open /dev/zero as a new fd        umask    umask 077
    block    block SIGUSR2 in the main thread  mmap     map 3 anonymous pages
    lseek    move the data file's offset       rlimit   lower RLIMIT_NOFILE's soft limit
    chdir    cd to /                           ignore   ignore SIGHUP
    mount    mount a tmpfs on DIR/mnt          noop     nothing (warms the handler up)
"""
import ctypes
import fcntl
import mmap
import os
import resource
import signal
import socket
import sys
import threading
import time

# The "ignore" action must change SIGHUP's disposition: don't inherit it
# ignored (a harness started under nohup passes SIG_IGN down).
signal.signal(signal.SIGHUP, signal.SIG_DFL)

d = sys.argv[1]
os.chdir(d)
os.umask(0o027)

r, w = os.pipe()
os.write(w, b"in the pipe")
data = os.open("data", os.O_RDWR | os.O_CREAT, 0o644)
os.write(data, b"x" * 4096)
os.lseek(data, 100, os.SEEK_SET)
gone = os.open("gone", os.O_RDWR | os.O_CREAT, 0o600)
os.write(gone, b"deleted but open")
os.unlink("gone")
s1, s2 = socket.socketpair()
efd = os.eventfd(3)
shared = mmap.mmap(data, 4096, mmap.MAP_SHARED)
anon = mmap.mmap(-1, 8 * 4096)
anon[0:5] = b"hello"
keep = []
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGURG})

stop = threading.Event()
th = threading.Thread(target=stop.wait, name="snap-thread", daemon=True)
th.start()

sync_r, sync_w = os.pipe()
child = os.fork()
if child == 0:
    os.close(w)
    os.close(sync_r)
    os.close(sync_w)        # the parent's read sees EOF: the child is set up
    while True:
        time.sleep(3600)
os.close(sync_w)
os.read(sync_r, 1)
os.close(sync_r)


def act(signum, frame):
    what = open(os.path.join(d, "action")).read().strip()
    if what == "newfd":
        keep.append(os.open("/dev/zero", os.O_RDONLY))
    elif what == "umask":
        os.umask(0o077)
    elif what == "block":
        signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR2})
    elif what == "mmap":
        keep.append(mmap.mmap(-1, 3 * 4096, prot=mmap.PROT_READ))
    elif what == "lseek":
        os.lseek(data, 1234, os.SEEK_SET)
    elif what == "rlimit":
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, 512) - 1, hard))
    elif what == "chdir":
        os.chdir("/")
    elif what == "ignore":
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
    elif what == "mount":
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.mount(b"snap", os.path.join(d, "mnt").encode(), b"tmpfs", 0, b"size=64k") != 0:
            raise OSError(ctypes.get_errno(), "mount")
    with open(os.path.join(d, "done.tmp"), "w") as f:
        f.write(what)
    os.rename(os.path.join(d, "done.tmp"), os.path.join(d, "done"))


os.makedirs(os.path.join(d, "mnt"), exist_ok=True)
# Not signal.pause(): a SIGUSR1 landing after the last handler returned and
# before pause() is only flagged for the interpreter, and pause() sleeps on.
# The wakeup fd keeps a byte per signal, so the read below can't miss one
# (and SIGUSR1 stays unblocked: the self-tests check the mask). High fds:
# the self-tests expect the next free fd to be 11.
low = os.pipe()
wake_r, wake_w = (fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 100) for fd in low)
for fd in low:
    os.close(fd)
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGUSR1, act)
with open("ready.tmp", "w") as f:
    f.write(str(os.getpid()))
os.rename("ready.tmp", "ready")
while True:
    os.read(wake_r, 64)     # act() runs when the read is interrupted, or right after it
