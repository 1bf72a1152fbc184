#!/usr/bin/python3
"""Unreaped zombies with different deaths survive C/R.

Children of the test, all dead and unreaped before the checkpoint:
* Z0 exited with status 0, Z1 with 127, Z2 with 77 (statuses >= 128 are
  not restored by criu 4.2.1: see py_zombie_status, noauto);
* K1 killed by SIGKILL, K2 killed by SIGUSR1 (default action), K3 by SIGTERM;
* G: a zombie that is the leader of its own process group, while a live
  child P of the test is still a member of that group;
* S: a zombie that was the leader of its own session (setsid);
and under a live child L, a zombie grandchild GZ (exit 9) that L has not
reaped either.

After restore, first peeked with waitid(WNOWAIT) (the zombies must still
be there, each with its si_code CLD_EXITED/CLD_KILLED and si_status), then
/proc shows each as state Z with the same ppid/pgid/sid as before, then
each is reaped with waitpid() and its exit status compared; P's process
group is still G's pid; L reaps GZ and reports its status; finally no
child is left.
"""
import os
import signal
import time

import zdtmtst as t

t.init()
check = t.check


keep = []      # the test's ends of helper pipes: closed in every child


def fork(body):
    pid = os.fork()
    if pid == 0:
        try:
            for fd in keep:
                os.close(fd)
            body()
        finally:
            os._exit(100)
    return pid


def stat_of(pid):
    with open('/proc/%d/stat' % pid) as f:
        fields = f.read().rsplit(')', 1)[1].split()
    return fields[0], int(fields[1]), int(fields[2]), int(fields[3])   # state, ppid, pgrp, session


def wait_zombie(pid):
    for _ in range(5000):
        if stat_of(pid)[0] == 'Z':
            return True
        time.sleep(0.001)
    return False


expect = {}     # pid -> (si_code, si_status)
names = {}


def exit_with(code):
    return lambda: os._exit(code)


def killed_by(sig):
    def body():
        if sig != signal.SIGKILL:
            signal.signal(sig, signal.SIG_DFL)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, {sig})
        os.kill(os.getpid(), sig)
        time.sleep(10)
    return body


for name, body, res in (('Z0', exit_with(0), (os.CLD_EXITED, 0)),
                        ('Z1', exit_with(127), (os.CLD_EXITED, 127)),
                        ('Z2', exit_with(77), (os.CLD_EXITED, 77)),
                        ('K1', killed_by(signal.SIGKILL), (os.CLD_KILLED, signal.SIGKILL)),
                        ('K2', killed_by(signal.SIGUSR1), (os.CLD_KILLED, signal.SIGUSR1)),
                        ('K3', killed_by(signal.SIGTERM), (os.CLD_KILLED, signal.SIGTERM))):
    pid = fork(body)
    expect[pid] = res
    names[pid] = name

# G: group leader zombie with a live member P
g_r, g_w = os.pipe()
p_go_r, p_go_w = os.pipe()
keep.extend((g_r, p_go_w))


def g_body():
    os.setpgid(0, 0)
    os.write(g_w, b'g')
    os._exit(3)


g = fork(g_body)
os.read(g_r, 1)


def p_body():
    os.read(p_go_r, 1)             # EOF after restore
    os._exit(0 if os.getpgid(0) == g else 1)


p = fork(p_body)
os.setpgid(p, g)                   # join G's group (G is still a zombie in it)
expect[g] = (os.CLD_EXITED, 3)
names[g] = 'G'

# S: session leader zombie
def s_body():
    os.setsid()
    os._exit(4)


s = fork(s_body)
expect[s] = (os.CLD_EXITED, 4)
names[s] = 'S'

# L with a zombie grandchild GZ
l_go_r, l_go_w = os.pipe()
l_res_r, l_res_w = os.pipe()
l_rd_r, l_rd_w = os.pipe()
keep.extend((l_go_w, l_res_r, l_rd_r))


def l_body():
    gz = os.fork()
    if gz == 0:
        os._exit(9)
    while True:
        with open('/proc/%d/stat' % gz) as f:
            if f.read().rsplit(')', 1)[1].split()[0] == 'Z':
                break
        time.sleep(0.001)
    os.write(l_rd_w, str(gz).encode())
    os.close(l_rd_w)
    os.read(l_go_r, 1)
    try:
        st = os.waitid(os.P_PID, gz, os.WEXITED | os.WNOHANG)
        msg = 'no zombie' if st is None else '%d %d' % (st.si_code, st.si_status)
    except ChildProcessError:
        msg = 'grandchild gone'
    os.write(l_res_w, msg.encode())
    os._exit(0)


l = fork(l_body)
os.close(l_rd_w)
gz = int(os.read(l_rd_r, 32))

def peek(pid):
    """(si_code, si_status) of a zombie child without reaping it, or a string."""
    try:
        st = os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    except ChildProcessError:
        return 'no such child'
    return 'not a zombie' if st is None else (st.si_code, st.si_status)


for pid in expect:
    if not wait_zombie(pid):
        t.err('child %s (%d) did not become a zombie' % (names[pid], pid))
    elif peek(pid) != expect[pid]:
        t.err('child %s (%d) died with %r, want %r' % (names[pid], pid, peek(pid), expect[pid]))
if t.failed():
    raise SystemExit(1)
before = {pid: stat_of(pid) for pid in list(expect) + [gz]}
check(before[s][3] == s and before[g][2] == g and stat_of(p)[2] == g,
      'setup: S session %d, G group %d, P group %d' % (before[s][3], before[g][2], stat_of(p)[2]))

t.daemon()
t.waitsig()

# peek without reaping
for pid, want in expect.items():
    got = peek(pid)
    check(got == want, '%s (%d): (si_code, si_status) %r after restore, want %r' % (names[pid], pid, got, want))
after = {}
for pid in before:
    try:
        after[pid] = stat_of(pid)
    except OSError:
        after[pid] = None
for pid in before:
    check(before[pid] == after[pid], '%s (%d): (state, ppid, pgrp, sid) %r -> %r'
          % (names.get(pid, 'GZ'), pid, before[pid], after[pid]))

# reap
for pid, (code, status) in expect.items():
    try:
        _, ws = os.waitpid(pid, os.WNOHANG)
    except ChildProcessError:
        continue
    if code == os.CLD_EXITED:
        ok = os.WIFEXITED(ws) and os.WEXITSTATUS(ws) == status
    else:
        ok = os.WIFSIGNALED(ws) and os.WTERMSIG(ws) == status
    check(ok, '%s (%d): wait status %#x' % (names[pid], pid, ws))

os.close(p_go_w)
_, ws = os.waitpid(p, 0)
check(os.WIFEXITED(ws) and os.WEXITSTATUS(ws) == 0, 'P is no longer in G\'s process group (%#x)' % ws)
os.close(l_go_w)
res = os.read(l_res_r, 100).decode()
_, ws = os.waitpid(l, 0)
check(res == '%d 9' % os.CLD_EXITED, 'L reaping its zombie grandchild: %s' % res)
try:
    os.waitpid(-1, os.WNOHANG)
    t.fail('unexpected children left')
except ChildProcessError:
    pass
t.finish()
