#!/usr/bin/python3
"""criu's action scripts (--action-script, the .desc's action_script) run
at every stage of dump and restore, once each, in criu's order, with the
documented environment.

The script (action_script00.script) appends one line per stage to
action_script00.trace in this work dir. After restore the trace must be
one or more C/R cycles (--iters), each exactly

    dump:    pre-dump [network-lock] post-dump [network-unlock]
    restore: pre-restore setup-namespaces post-setup-namespaces
             post-restore [network-unlock] pre-resume post-resume

where the network stages are there iff the tree has a net namespace of its
own (criu locks only a netns it dumps; the script records whether the
root's netns is criu's), and network-unlock on dump only after a dump that
leaves the tree running. Environment: CRTOOLS_IMAGE_DIR is a directory at
every stage (with inventory.img from post-dump on, and at every restore
stage); CRTOOLS_INIT_PID is the same pid at each dump stage, unknown at
pre-restore (no task exists yet) and one pid from setup-namespaces on.
Under --rpc the scripts are run by the RPC client on criu's notify
messages, with the same environment.
"""
import os

import zdtmtst as t

TRACE = "action_script00.trace"

t.init()
check = t.check

if os.path.lexists(TRACE):
    os.unlink(TRACE)

t.daemon()
t.waitsig()


def parse(text):
    stages = []
    for n, line in enumerate(text.splitlines(), 1):
        words = line.split()
        if words:
            stages.append((words[0], dict(w.split("=", 1) for w in words[1:] if "=" in w), n))
    return stages


def expected(own_ns, leave_running):
    """The stages of one cycle, as criu 4.2 runs them (cr-dump.c, cr-restore.c, net.c)."""
    net = "net" in own_ns
    dump = ["pre-dump"] + (["network-lock"] if net else []) + ["post-dump"] \
        + (["network-unlock"] if net and leave_running else [])
    restore = ["pre-restore"] + (["setup-namespaces", "post-setup-namespaces"] if own_ns else []) \
        + ["post-restore"] + (["network-unlock"] if net else []) + ["pre-resume", "post-resume"]
    return dump, restore


def check_env(name, env, n, root_pid):
    where = f"{name} (line {n})"
    # at post-resume criu has closed its images dir (close_image_dir() before resuming the tree)
    if name != "post-resume":
        check(env["imgdir"] == "dir", f"{where}: CRTOOLS_IMAGE_DIR is not a directory")
    if name not in ("pre-dump", "network-lock", "post-resume"):
        check(env["inventory"] == "1", f"{where}: no inventory.img in CRTOOLS_IMAGE_DIR")
    if name == "pre-restore":
        check(env["pid"] == "-", f"{where}: CRTOOLS_INIT_PID {env['pid']} before any task is restored")
    else:
        check(env["pid"].isdigit() and env["pid"] == root_pid,
              f"{where}: CRTOOLS_INIT_PID {env['pid']}, not the root's pid {root_pid} of this action")


def check_cycle(stages, i):
    """Checks the cycle starting at stages[i]; returns where the next one starts."""
    first = stages[i]
    own_ns = [] if first[1].get("own_ns") in ("none", None) else first[1]["own_ns"].split(",")
    net = "net" in own_ns
    # network-unlock right after post-dump: a dump that left the tree running
    after_post_dump = [s[0] for s in stages[i:i + 4]]
    leave_running = net and after_post_dump[2:4] == ["post-dump", "network-unlock"]
    dump, restore = expected(own_ns, leave_running)
    got = [s[0] for s in stages[i:i + len(dump) + len(restore)]]
    if not check(got == dump + restore, f"stages {got} (lines {first[2]}-), expected {dump + restore} "
                                        f"(the tree's own namespaces: {','.join(own_ns) or 'none'})"):
        return len(stages)
    dump_part, restore_part = stages[i:i + len(dump)], stages[i + len(dump):i + len(got)]
    for part in (dump_part, restore_part):
        root_pid = part[-1][1]["pid"]       # post-dump's, post-resume's
        for name, env, n in part:
            check_env(name, env, n, root_pid)
    return i + len(got)


try:
    with open(TRACE) as f:
        text = f.read()
except FileNotFoundError:
    t.fail(f"no {TRACE}: criu ran no action script (or it could not find this work dir)")
    raise SystemExit(0)
stages = parse(text)
t.msg(f"{len(stages)} stages: {' '.join(s[0] for s in stages)}")
if any(env.get("imgdir") == "denied" for _, env, _ in stages):
    t.skip("criu ran with file capabilities only (--rootless): it is not dumpable, so CRTOOLS_IMAGE_DIR "
           "(/proc/<criu>/fd/N) is closed to its action scripts, which could not record every stage")
i = cycles = 0
while i < len(stages) and not t.failed():
    i = check_cycle(stages, i)
    cycles += 1
check(cycles >= 1, "no C/R cycle in the trace")
t.finish()
