#!/usr/bin/python3
"""Process identity and environment survive C/R.

Checks: os.environ (incl. a variable set by the test) against the copy taken
before, /proc/self/environ (the kernel's view of the initial environment),
sys.argv / sys.orig_argv against /proc/self/cmdline, cwd, umask, the
credentials (res uid/gid, supplementary groups), session and process group,
the dumpable flag, nice value, an rlimit and comm (PR_SET_NAME).
"""
import os
import resource
import sys

import zdtmtst as t

opts = t.init()

check = t.check


def read_nul_list(path):
    with open(path, 'rb') as f:
        return [x.decode('utf-8', 'surrogateescape') for x in f.read().split(b'\0')[:-1]]


def state():
    s = {}
    s['environ'] = dict(os.environ)
    s['argv'] = list(sys.argv)
    s['orig_argv'] = list(getattr(sys, 'orig_argv', []))
    s['cmdline'] = read_nul_list('/proc/self/cmdline')
    s['proc_environ'] = read_nul_list('/proc/self/environ')
    s['cwd'] = os.getcwd()
    s['resuid'] = os.getresuid()
    s['resgid'] = os.getresgid()
    s['groups'] = sorted(os.getgroups())
    s['sid'] = os.getsid(0)
    s['pgid'] = os.getpgid(0)
    s['pid'] = os.getpid()
    s['dumpable'] = t.prctl(t.PR_GET_DUMPABLE)
    s['nice'] = os.getpriority(os.PRIO_PROCESS, 0)
    s['nofile'] = resource.getrlimit(resource.RLIMIT_NOFILE)
    s['core'] = resource.getrlimit(resource.RLIMIT_CORE)
    s['comm'] = t.get_thread_name()
    s['exe'] = os.readlink('/proc/self/exe')
    return s


os.environ['ZDTM_PY_ENV_MARK'] = 'set by the test: \u00e9\u00e8 = ok'
os.umask(0o027)
os.setpriority(os.PRIO_PROCESS, 0, os.getpriority(os.PRIO_PROCESS, 0) + 3)
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (min(soft, hard) - 17, hard))
resource.setrlimit(resource.RLIMIT_CORE, (0, 12345678))
t.set_thread_name('py_env_comm')

before = state()
# Sanity of the starting point itself (not C/R related).
check(before['cmdline'][1:] == before['argv'],
      'cmdline %r does not end with argv %r' % (before['cmdline'], before['argv']))
if before['orig_argv']:
    check(before['cmdline'] == before['orig_argv'],
          'cmdline %r != sys.orig_argv %r' % (before['cmdline'], before['orig_argv']))
check(before['sid'] == before['pid'], 'not a session leader after init')
if t.failed():
    raise SystemExit(1)

t.daemon()
t.waitsig()

after = state()
after_umask = os.umask(0o022)
check(after_umask == 0o027, 'umask %#o, was 0o027' % after_umask)
for key in before:
    check(before[key] == after[key], '%s changed: %r -> %r' % (key, before[key], after[key]))
check(os.environ.get('ZDTM_PY_ENV_MARK') == 'set by the test: \u00e9\u00e8 = ok',
      'variable set by the test lost')
# /proc/self/environ is the environment the process was started with.
penv = dict(x.split('=', 1) for x in after['proc_environ'] if '=' in x)
for k in ('ZDTM_UID', 'ZDTM_GID', 'ZDTM_GROUPS', 'PYTHONPATH'):
    if k in before['environ']:
        check(penv.get(k) == before['environ'][k],
              '/proc/self/environ %s=%r, os.environ has %r' % (k, penv.get(k), before['environ'][k]))
t.finish()
