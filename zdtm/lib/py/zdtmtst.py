"""zdtmtst - the Python side of the ZDTM workload protocol.

A workload (tests/static/NAME.py) looks like::

    import zdtmtst as t

    opts = t.init({'filename': str})    # parse, switch ids, redirect, fork
    ... set up the state ...
    t.daemon()                          # "ready to be checkpointed"
    t.waitsig()                         # until SIGTERM
    t.check(state_is_good, "what is wrong")   # FAIL: file:line: ... unless
    t.finish()                          # PASS unless something failed

What the library does (see docs/zdtm-protocol.md):

* ``init()`` parses ``--name=value`` options (``--pidfile`` and ``--outfile``
  are mandatory), switches to ``ZDTM_GROUPS``/``ZDTM_GID``/``ZDTM_UID``, makes
  the process dumpable again, sends stdin to /dev/null and stdout/stderr to
  ``<outfile>.inprogress``, then forks.  The launched process waits for the
  child's readiness, writes the child's pid to ``<pidfile>`` and exits 0; if
  the child dies (or skips) first, it exits 1 and the outfile says why.
* The child (the test) calls ``setsid()``.  SIGTERM is *blocked* in it from
  ``init()`` on (so threads created by the workload inherit the block and the
  signal cannot get lost in a thread that does not wait for it) and a handler
  is installed for workloads that unblock it; ``waitsig()`` consumes it with
  ``sigwait``, ``go()`` checks ``sigpending``.
* When the test process exits, ``<outfile>.inprogress`` is renamed to
  ``<outfile>`` and ``<pidfile>`` is removed.  The harness reads the last line
  of the outfile: ``PASS`` -> pass, ``SKIP: ...`` -> skip, anything else ->
  fail.  An uncaught exception (in the main thread or any other) ends up as its
  traceback followed by a ``FAIL`` line; a body that returns without a verdict
  gets a ``FAIL: ... no verdict`` line; ``passed()`` after a FAIL/ERR is
  turned into a FAIL.
* Processes forked by the test ("helpers") inherit the blocked SIGTERM; the
  readiness pipe is closed in them automatically (os.register_at_fork); they
  should end with os._exit() (atexit handlers only act in the test process).
* Skip before readiness: the outfile ends with ``SKIP: reason`` and the
  launched process exits 1 with no pidfile (a start failure whose outfile says
  why); after readiness the test just exits 0 with ``SKIP:`` last.

Only the standard library is used; Python 3.9+.
"""

import atexit
import ctypes
import errno as _errno
import inspect
import os
import random
import signal
import socket
import sys
import threading
import time
import traceback
import types
import zlib

__all__ = [
    'init', 'daemon', 'waitsig', 'go', 'passed', 'fail', 'err', 'msg', 'skip',
    'check', 'failed', 'finish',
    'datagen', 'datagen_into', 'datachk', 'TaskWaiter', 'mmap_anon', 'prctl',
    'set_thread_name', 'get_thread_name', 'proc_status', 'sigset_from_hex',
    'mmap_page_size', 'OPTS',
]

PR_SET_NAME = 15
PR_GET_NAME = 16
PR_SET_DUMPABLE = 4
PR_GET_DUMPABLE = 3

OPTS = None                 # the namespace init() returned

_test_pid = None            # pid of the test process (the forked child)
_outfile = None
_pidfile = None
_ready_fd = None            # write end of the readiness pipe (child)
_ready = False
_got_sigterm = False
_failed = False             # a FAIL/ERR line was written
_verdict = None             # 'PASS', 'FAIL', 'ERR', 'SKIP' once one was written
_libc = None


# ---------------------------------------------------------------- output

def _stamp():
    now = time.time()
    return '%s.%03d: %d: ' % (time.strftime('%H:%M:%S', time.localtime(now)),
                              int(now * 1000) % 1000, os.getpid())


def _emit(text):
    """Write one (or more) prefixed lines to fd 1 with a single write(2).

    The outfile is opened O_APPEND, so lines of several processes/threads do
    not tear.  Python-level buffers are flushed first to keep the order.
    """
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass
    data = ''.join(_stamp() + line + '\n' for line in str(text).split('\n'))
    data = data.encode('utf-8', 'backslashreplace')
    while data:
        try:
            n = os.write(1, data)
        except InterruptedError:
            continue
        except OSError:
            return
        data = data[n:]


def _where(depth):
    """'file:line' of the caller `depth` frames above our public function."""
    frame = inspect.currentframe()
    try:
        for _ in range(depth + 1):
            if frame.f_back is None:
                break
            frame = frame.f_back
        return '%s:%d' % (os.path.basename(frame.f_code.co_filename), frame.f_lineno)
    finally:
        del frame


def _errno_suffix(e):
    if e is None:
        return ''
    if isinstance(e, OSError):
        no = e.errno
    elif isinstance(e, int):
        no = e
    else:
        return ' (%s: %s)' % (type(e).__name__, e)
    if no is None:
        return ' (%s)' % (e,)
    return ' (errno = %d (%s))' % (no, os.strerror(no))


def msg(text):
    """An informational line."""
    _emit(str(text))


def fail(text, e=None, depth=0):
    """``FAIL: file:line: text [(errno = N (strerror))]``.

    `e` may be an OSError or an errno number.  `depth` > 0 attributes the
    line to a caller further up (for helpers that fail on behalf of others).
    """
    global _failed, _verdict
    _failed = True
    _verdict = 'FAIL'
    _emit('FAIL: %s: %s%s' % (_where(depth + 1), text, _errno_suffix(e)))


def err(text, e=None, depth=0):
    """``ERR: file:line: text`` - an error in the test itself (setup etc.)."""
    global _failed, _verdict
    _failed = True
    _verdict = 'ERR'
    _emit('ERR: %s: %s%s' % (_where(depth + 1), text, _errno_suffix(e)))


def passed():
    """``PASS``.  Refused (turned into a FAIL) after an earlier FAIL/ERR."""
    global _verdict
    if _failed:
        _emit('FAIL: %s: passed() called after an earlier FAIL/ERR' % _where(1))
        _verdict = 'FAIL'
        return
    _verdict = 'PASS'
    _emit('PASS')


def check(cond, text, e=None):
    """fail(text) attributed to the caller's line unless cond; returns bool(cond)."""
    if not cond:
        fail(text, e, depth=1)
    return bool(cond)


def failed():
    """True once a FAIL/ERR line was written by this process."""
    return _failed


def finish():
    """End of the checks: PASS unless something failed (then the last FAIL stays last)."""
    if not _failed:
        passed()


def skip(reason):
    """``SKIP: reason`` as the last line, then exit 0 (before or after daemon()).

    Before readiness the launched process exits 1 (no pidfile) and the outfile
    ends with the SKIP line; after readiness the test just ends.
    """
    global _verdict
    _verdict = 'SKIP'
    _emit('SKIP: %s' % reason)
    if _test_pid == os.getpid() and not _ready and _ready_fd is not None:
        try:
            os.write(_ready_fd, b'S')
        except OSError:
            pass
    sys.exit(0)


# ---------------------------------------------------------------- options

def _die_early(text, outfile=None, usage=None):
    """Error before the outfile redirection is in place: stderr (+ outfile).

    The ERR line is the last line written (the harness shows the last line).
    """
    lines = ([usage] if usage else []) + [
        'ERR: %s: %s' % (os.path.basename(sys.argv[0] or 'workload'), text)]
    sys.stderr.write(''.join(l + '\n' for l in lines))
    sys.stderr.flush()
    if outfile:
        try:
            fd = os.open(outfile, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.write(fd, ''.join(_stamp() + l + '\n' for l in lines).encode(
                'utf-8', 'backslashreplace'))
            os.close(fd)
        except OSError:
            pass
    os._exit(1)


_TRUE = ('1', 'yes', 'true', 'on', 'y')
_FALSE = ('0', 'no', 'false', 'off', 'n', '')


def _parse(argv, options):
    """--name=value parser.  options: {name: type | (type, default)}.

    A type without a default is mandatory, except bool (default False).
    Returns (namespace, outfile-or-None, error-or-None).
    """
    spec = {'pidfile': (str, None), 'outfile': (str, None)}
    for name, t in (options or {}).items():
        if isinstance(t, tuple):
            typ, default = t
            spec[name] = (typ, default)
            continue
        spec[name] = (t, False if t is bool else None)
    values = {}
    outfile = None
    for a in argv:
        if a.startswith('--outfile='):
            outfile = a[len('--outfile='):]
    for a in argv:
        if not a.startswith('--') or len(a) == 2:
            return None, outfile, 'unexpected argument %r (options are --name=value)' % a
        name, eq, value = a[2:].partition('=')
        key = name.replace('-', '_')
        if key not in spec:
            known = ' '.join('--' + k for k in sorted(spec))
            return None, outfile, 'unknown option --%s (known: %s)' % (name, known)
        typ = spec[key][0]
        if typ is bool:
            v = value.lower()
            if not eq or v in _TRUE:
                values[key] = True
            elif v in _FALSE:
                values[key] = False
            else:
                return None, outfile, 'option --%s wants a boolean, not %r' % (name, value)
            continue
        if not eq:
            return None, outfile, 'option --%s needs a value (--%s=VALUE)' % (name, name)
        try:
            values[key] = typ(value)
        except (TypeError, ValueError) as e:
            return None, outfile, 'bad value %r for --%s: %s' % (value, name, e)
    missing = []
    for key, (typ, default) in spec.items():
        if key not in values:
            if default is None:
                missing.append('--' + key)
            else:
                values[key] = default
    if missing:
        return None, outfile, 'missing mandatory option(s): %s' % ' '.join(missing)
    return types.SimpleNamespace(**values), outfile, None


# ---------------------------------------------------------------- prctl & co

def _get_libc():
    global _libc
    if _libc is None:
        _libc = ctypes.CDLL(None, use_errno=True)
    return _libc


def prctl(option, a2=0, a3=0, a4=0, a5=0):
    """prctl(2) with integer arguments; raises OSError on -1."""
    libc = _get_libc()
    ul = ctypes.c_ulong
    r = libc.prctl(ctypes.c_int(option), ul(a2), ul(a3), ul(a4), ul(a5))
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return r


def set_thread_name(name):
    """Set the calling thread's comm (PR_SET_NAME, 15 bytes max)."""
    buf = ctypes.create_string_buffer(name.encode()[:15])
    r = _get_libc().prctl(ctypes.c_int(PR_SET_NAME), buf, ctypes.c_ulong(0),
                          ctypes.c_ulong(0), ctypes.c_ulong(0))
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))


def get_thread_name():
    buf = ctypes.create_string_buffer(16)
    r = _get_libc().prctl(ctypes.c_int(PR_GET_NAME), buf, ctypes.c_ulong(0),
                          ctypes.c_ulong(0), ctypes.c_ulong(0))
    if r == -1:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e))
    return buf.value.decode(errors='replace')


def proc_status(path='/proc/self/status'):
    """/proc/.../status as a dict of stripped strings."""
    d = {}
    with open(path) as f:
        for line in f:
            k, _, v = line.partition(':')
            d[k] = v.strip()
    return d


def sigset_from_hex(h):
    """A SigBlk/SigPnd/... hex mask from /proc status -> set of signal numbers."""
    v = int(h, 16)
    return {i + 1 for i in range(64) if v & (1 << i)}


# ---------------------------------------------------------------- init

def _switch_ids(outfile):
    groups = os.environ.get('ZDTM_GROUPS')
    gid = os.environ.get('ZDTM_GID')
    uid = os.environ.get('ZDTM_UID')
    try:
        if groups is not None:
            os.setgroups([int(g) for g in groups.split()])
        if gid is not None:
            os.setgid(int(gid))
        if uid is not None:
            os.setuid(int(uid))
    except ValueError as e:
        _die_early('bad ZDTM_GROUPS/ZDTM_GID/ZDTM_UID value: %s' % e, outfile)
    except OSError as e:
        _die_early("can't switch to ZDTM_GROUPS=%r ZDTM_GID=%r ZDTM_UID=%r: %s"
                   % (groups, gid, uid, e), outfile)
    # Changing the euid clears the dumpable flag: the checkpointer must be
    # able to ptrace us (and read /proc/self/* of ours).
    try:
        prctl(PR_SET_DUMPABLE, 1)
    except OSError as e:
        _die_early("can't prctl(PR_SET_DUMPABLE, 1): %s" % e, outfile)


def _redirect(outfile):
    path = outfile + '.inprogress'
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    except OSError as e:
        _die_early("can't open %s: %s" % (path, e), outfile)
    null = os.open('/dev/null', os.O_RDONLY)
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass
    os.dup2(null, 0)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(null)
    os.close(fd)
    sys.stdin = open(0, 'r', closefd=False)
    sys.stdout = open(1, 'w', buffering=1, encoding='utf-8',
                      errors='backslashreplace', closefd=False)
    sys.stderr = open(2, 'w', buffering=1, encoding='utf-8',
                      errors='backslashreplace', closefd=False)


def _write_pidfile(path, pid):
    d = os.path.dirname(os.path.abspath(path))
    tmp = os.path.join(d, '.%s.%d.tmp' % (os.path.basename(path), os.getpid()))
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        os.fchmod(fd, 0o666)
        os.write(fd, b'%d\n' % pid)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _describe_status(status):
    if os.WIFEXITED(status):
        return 'exited with status %d' % os.WEXITSTATUS(status)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = 'signal %d' % sig
        return 'was killed by %s (%d)' % (name, sig)
    return 'ended with wait status %#x' % status


def _launcher(child, rfd):
    """The launched process: wait for readiness, publish the pid, exit."""
    data = b''
    while True:
        try:
            data = os.read(rfd, 1)
            break
        except InterruptedError:
            continue
    if data != b'R':
        os.close(rfd)
    if data == b'R':
        try:
            _write_pidfile(_pidfile, child)
        except OSError as e:
            _emit("ERR: zdtmtst: can't write pidfile %s: %s; killing the test %d"
                  % (_pidfile, e, child))
            try:
                os.kill(child, signal.SIGKILL)
            except OSError:
                pass
            os.waitpid(child, 0)
            _finish_outfile()
            os._exit(1)
        # Ack, then wait for the test to close its end: once we exit
        # ("ready"), the test holds no fd of ours a checkpoint would see.
        try:
            os.write(rfd, b'A')
            while os.read(rfd, 1):
                pass
        except OSError:
            pass
        os._exit(0)
    # Skipped, or died before it was ready.
    while True:
        try:
            _, status = os.waitpid(child, 0)
            break
        except InterruptedError:
            continue
    if data != b'S':
        _emit('ERR: zdtmtst: the test (pid %d) %s before it was ready'
              % (child, _describe_status(status)))
    _finish_outfile()
    os._exit(1)


def _finish_outfile():
    """<outfile>.inprogress -> <outfile> (if still there)."""
    try:
        os.rename(_outfile + '.inprogress', _outfile)
    except OSError:
        pass


def _at_exit():
    if os.getpid() != _test_pid:
        return
    if _verdict is None:
        _emit('FAIL: zdtmtst: the test exited without a verdict '
              '(no passed()/fail()/skip())')
    for f in (sys.stdout, sys.stderr):
        try:
            f.flush()
        except Exception:
            pass
    try:
        os.unlink(_pidfile)
    except OSError:
        pass
    _finish_outfile()


def _tb_location(tb):
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return 'unknown:0'
    return '%s:%d' % (os.path.basename(last.tb_frame.f_code.co_filename), last.tb_lineno)


def _excepthook(etype, value, tb):
    global _failed, _verdict
    if issubclass(etype, SystemExit):
        return
    text = ''.join(traceback.format_exception(etype, value, tb)).rstrip('\n')
    _emit(text)
    _failed = True
    _verdict = 'FAIL'
    _emit('FAIL: %s: uncaught %s: %s' % (_tb_location(tb), etype.__name__, value))


def _thread_excepthook(args):
    global _failed, _verdict
    if issubclass(args.exc_type, SystemExit):
        return
    name = args.thread.name if args.thread is not None else '?'
    text = ''.join(traceback.format_exception(
        args.exc_type, args.exc_value, args.exc_traceback)).rstrip('\n')
    _emit('exception in thread %s:\n%s' % (name, text))
    _failed = True
    _verdict = 'FAIL'
    _emit('FAIL: %s: uncaught %s in thread %s: %s' % (
        _tb_location(args.exc_traceback), args.exc_type.__name__, name, args.exc_value))


def _on_sigterm(signum, frame):
    global _got_sigterm
    _got_sigterm = True


def init(options=None):
    """Parse options, switch ids, redirect output, fork.  Returns the options.

    `options` declares the workload's own options: ``{'filename': str}``
    (mandatory), ``{'count': (int, 10)}`` (with a default), ``{'verbose':
    bool}`` (flag, default False).  Returns a namespace with ``pidfile``,
    ``outfile`` and the declared options (``-`` in names becomes ``_``).
    Returns only in the test process (the forked child).
    """
    global OPTS, _outfile, _pidfile, _test_pid, _ready_fd
    opts, outfile, error = _parse(sys.argv[1:], options)
    if error:
        def show(t):
            t = t[0] if isinstance(t, tuple) else t
            return 'VALUE' if t is not bool else '1'
        usage = 'usage: %s --pidfile=P --outfile=O%s' % (
            os.path.basename(sys.argv[0]),
            ''.join(' --%s=%s' % (k, show(t)) for k, t in (options or {}).items()))
        _die_early(error, outfile, usage)
    OPTS = opts
    _outfile = os.path.abspath(opts.outfile)
    _pidfile = os.path.abspath(opts.pidfile)

    _switch_ids(_outfile)
    _redirect(_outfile)

    sys.excepthook = _excepthook
    threading.excepthook = _thread_excepthook
    atexit.register(_at_exit)

    # A socketpair (O_CLOEXEC: nothing exec'd inherits it): the launcher acks
    # the pidfile on it and exits once the test has closed its end.
    rsk, wsk = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    rfd, wfd = rsk.detach(), wsk.detach()
    pid = os.fork()
    if pid:
        os.close(wfd)
        _launcher(pid, rfd)         # never returns
    os.close(rfd)
    _test_pid = os.getpid()
    _ready_fd = wfd
    try:
        os.setsid()
    except OSError as e:
        err("setsid() failed", e)
        sys.exit(1)
    signal.signal(signal.SIGTERM, _on_sigterm)
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    # Helpers forked before daemon() must not keep the readiness pipe open:
    # it would outlive readiness in them, and if the test died first the
    # launcher would wait for an EOF that never comes.
    os.register_at_fork(after_in_child=_close_ready_fd_in_helper)
    return opts


def _close_ready_fd_in_helper():
    global _ready_fd
    if _ready_fd is not None and os.getpid() != _test_pid:
        try:
            os.close(_ready_fd)
        except OSError:
            pass
        _ready_fd = None


def daemon():
    """The test's state is ready: release the launcher (which writes the pidfile)."""
    global _ready, _ready_fd
    if _test_pid != os.getpid():
        raise RuntimeError('zdtmtst.daemon() called outside the test process')
    if _ready:
        return
    fd, _ready_fd = _ready_fd, None
    try:
        os.write(fd, b'R')
        os.read(fd, 1)              # the launcher's ack: the pidfile is there
    finally:
        os.close(fd)
    _ready = True


def _consume_pending_term():
    global _got_sigterm
    if not _got_sigterm and signal.SIGTERM in signal.sigpending():
        signal.sigwait({signal.SIGTERM})
        _got_sigterm = True
    return _got_sigterm


def go():
    """True until SIGTERM arrived (for live workloads' loops)."""
    return not _consume_pending_term()


def waitsig():
    """Block (no polling) until SIGTERM arrives; returns at once if it did."""
    global _got_sigterm
    if _got_sigterm:
        return
    old = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        if not _got_sigterm:
            signal.sigwait({signal.SIGTERM})
            _got_sigterm = True
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old)


# ---------------------------------------------------------------- data helpers

def datagen(n, seed=None):
    """n pseudo-random bytes and their CRC32: ``data, crc = datagen(4096)``."""
    rnd = random.Random(seed if seed is not None else os.urandom(16))
    data = rnd.getrandbits(8 * n).to_bytes(n, 'little') if n else b''
    return data, zlib.crc32(data)


def datagen_into(buf, seed=None):
    """Fill a writable buffer (bytearray, mmap, memoryview) in place; return its CRC32."""
    mv = memoryview(buf).cast('B')
    data, crc = datagen(len(mv), seed)
    mv[:] = data
    return crc


def datachk(data, crc):
    """True iff the CRC32 of `data` (any bytes-like) is `crc`."""
    return zlib.crc32(memoryview(data).cast('B')) == crc


def mmap_anon(size, shared=False, prot=None):
    """An anonymous mapping (MAP_PRIVATE by default, MAP_SHARED if shared)."""
    import mmap
    flags = (mmap.MAP_SHARED if shared else mmap.MAP_PRIVATE) | mmap.MAP_ANONYMOUS
    if prot is None:
        prot = mmap.PROT_READ | mmap.PROT_WRITE
    return mmap.mmap(-1, size, flags=flags, prot=prot)


_SYS_FUTEX = {'x86_64': 202, 'i386': 240, 'i686': 240, 'aarch64': 98,
              'riscv64': 98, 'ppc64le': 221, 'ppc64': 221, 's390x': 238,
              'loongarch64': 98, 'armv7l': 240, 'armv8l': 240}
_FUTEX_WAIT, _FUTEX_WAKE = 0, 1


class TaskWaiter:
    """Synchronisation between forked helpers (upstream's futex "task waiter").

    Create it before fork().  ``complete(v)`` publishes the value v (values
    grow), ``wait4(v)`` blocks until a value >= v was published.  Both sides
    may wait and complete in turn.  A 4-byte counter in a MAP_SHARED anonymous
    page plus futex(2) (not FUTEX_PRIVATE: the page is shared between
    processes); no fd is used.  Waiting in futex(2) is restarted by the kernel
    after a C/R.
    """

    def __init__(self):
        import platform
        self._map = mmap_anon(mmap_page_size(), shared=True)
        self._val = memoryview(self._map).cast('i')
        self._val[0] = 0
        self._cval = ctypes.c_int.from_buffer(self._map)
        self._addr = ctypes.addressof(self._cval)
        self._nr = _SYS_FUTEX.get(platform.machine())

    def _futex(self, op, val):
        if self._nr is None:
            time.sleep(0.001)       # unknown arch: degrade to a slow poll
            return
        libc = _get_libc()
        libc.syscall.restype = ctypes.c_long
        r = libc.syscall(ctypes.c_long(self._nr), ctypes.c_void_p(self._addr),
                         ctypes.c_int(op), ctypes.c_int(val), None, None, ctypes.c_int(0))
        if r == -1:
            e = ctypes.get_errno()
            if e not in (_errno.EAGAIN, _errno.EINTR):
                raise OSError(e, 'futex: ' + os.strerror(e))

    def complete(self, value):
        self._val[0] = value
        self._futex(_FUTEX_WAKE, 0x7fffffff)

    def wait4(self, value):
        while True:
            cur = self._val[0]
            if cur >= value:
                return cur
            self._futex(_FUTEX_WAIT, cur)

    @property
    def value(self):
        return self._val[0]

    def close(self):
        pass


def mmap_page_size():
    import mmap
    return mmap.PAGESIZE
