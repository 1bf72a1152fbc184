"""What each harness process creates, so that what a killed run left is found.

A run killed with SIGKILL (OOM, a CI runner) cannot clean up: its workloads,
ns inits and criu-ns pseudo-inits go on running, mounts stay, criu's network
lock stays in iptables. Every harness process that runs tests keeps a journal
in a root-only, host-wide place (/run/zdtm/runs, a tmpfs: gone at reboot):
who it is (pid and start time, so a reused pid is not mistaken for it) and,
per test, its dirs, the pids of its trees and the iptables rules seen before
it. The next run's start and `zdtm clean` read the journals of processes
that are gone and undo what they left; a live run's journal is never touched.
"""
from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

from .guards.cgroups import cgroup_dirs, remove_cgroups
from .guards.iptables import delete_rule, host_filter_rules
from .guards.mounts import mountpoints, unmount
from .hostwide import host_dir, try_lock
from .procs import descendants, proc_state, start_time


class NullJournal:
    """Where no host-wide journal can be kept (not root)."""

    def write(self, **entry) -> None: ...
    def test(self, name: str, art: Path, work: Path) -> None: ...
    def tasks(self, name: str, pids) -> None: ...
    def rules(self, name: str, before: set) -> None: ...
    def done(self, name: str) -> None: ...
    def close(self) -> None: ...


class Journal(NullJournal):
    """The journal of this process (append-only JSON lines)."""

    def __init__(self, state_dir: Path, run_dir: Path):
        me = os.getpid()
        self.path = host_dir("runs") / f"{me}-{start_time(me)}.jsonl"
        self._fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        self.write(owner=me, start=start_time(me), state_dir=str(state_dir), run_dir=str(run_dir))

    def write(self, **entry) -> None:
        os.write(self._fd, (json.dumps(entry) + "\n").encode())

    def test(self, name: str, art: Path, work: Path) -> None:
        self.write(test=name, art=str(art), work=str(work))

    def tasks(self, name: str, pids) -> None:
        self.write(test=name, tasks=[(p, start_time(p)) for p in pids if p])

    def rules(self, name: str, before: set) -> None:
        self.write(test=name, rules_before=sorted(before))

    def done(self, name: str) -> None:
        self.write(test=name, done=True)

    def close(self) -> None:
        os.close(self._fd)
        self.path.unlink(missing_ok=True)


def _read(path: Path) -> tuple:
    head, tests = {}, {}
    for line in path.read_text().splitlines():
        try:
            e = json.loads(line)
        except ValueError:
            continue                  # a line cut short by the kill
        if "owner" in e:
            head = e
            continue
        t = tests.setdefault(e.get("test"), {"tasks": []})
        if e.get("done"):
            tests.pop(e.get("test"), None)
        else:
            t.update({k: v for k, v in e.items() if k not in ("test", "tasks")})
            t["tasks"] += e.get("tasks", [])
    return head, tests


def _alive(head: dict) -> bool:
    """Is the journal's owner still running (not a zombie, not a reused pid)?"""
    pid = head.get("owner")
    return bool(pid) and start_time(pid) == head.get("start") and proc_state(pid) not in (None, "Z", "X")


def live_runs() -> list:
    """The journals' heads of harness processes still running."""
    out = []
    for path in sorted(host_dir("runs").glob("*.jsonl")):
        head, _ = _read(path)
        if head and _alive(head):
            out.append(head)
    return out


def _strays(dirs: list) -> list:
    """Tasks whose cwd or command line lies under one of dirs (a workload's
    cwd is its work dir; criu and criu-ns name the artifacts dir)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            cwd = os.readlink(f"/proc/{entry}/cwd")
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmd = f.read().decode(errors="replace")
        except OSError:
            continue
        if any(cwd == d or cwd.startswith(d + "/") or d + "/" in cmd for d in dirs):
            found.append(int(entry))
    return found


def _kill_left(t: dict, dirs: list) -> list:
    """Kill the test's recorded trees and the strays in its dirs, again until
    none is left (a task may fork while its siblings are being killed)."""
    killed = set()
    for _ in range(50):
        victims = [p for p, st in t["tasks"] if st is not None and start_time(p) == st] + _strays(dirs)
        found = {q for p in victims if proc_state(p) not in (None, "Z", "X") for q in descendants(p)}
        found = {p for p in found if proc_state(p) not in (None, "Z", "X")}
        if not found:
            break
        for p in found:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        killed |= found
        time.sleep(0.02)
    return sorted(killed)


def _undo_cgroups(test: str, prefix: str) -> list:
    """The test's cgroups, unless a live run is running that test now (it
    holds the test's host-wide lock)."""
    try:
        holder = try_lock(f"test-{test.split('[')[0]}")
    except OSError:
        return []
    if holder is None:
        return [f"{test}: its cgroups are kept: a live run is running this test"]
    try:
        paths = cgroup_dirs(prefix)
        failed = remove_cgroups(paths)
    finally:
        holder.close()
    return [f"{test}: removed cgroup {p}" for p in paths if str(p) not in " ".join(failed)] + \
        [f"{test}: could NOT remove cgroup {f}" for f in failed]


def _thaw(prefix: str) -> list:
    """Thaw the test's frozen v1 freezer cgroups (--freezecg): a killed
    task in a frozen cgroup does not die until it is thawed."""
    thawed = []
    for path in cgroup_dirs(prefix):
        state = path / "freezer.state"
        try:
            if state.read_text().strip() != "THAWED":
                state.write_text("THAWED")
                thawed.append(str(path))
        except OSError:
            pass
    return thawed


def _undo_test(test: str, t: dict) -> list:
    done = []
    dirs = [d for d in (t.get("art"), t.get("work")) if d]
    if "cgroup_prefix" in t:
        done += [f"{test}: thawed frozen cgroup {p}" for p in _thaw(t["cgroup_prefix"])]
    killed = _kill_left(t, dirs)
    if killed:
        done.append(f"{test}: killed {len(killed)} task(s) left running: {killed[:10]}")
    for m in reversed([m for m in mountpoints() if any(m == d or m.startswith(d + "/") for d in dirs)]):
        unmount(m)
        done.append(f"{test}: unmounted {m}")
    if "cgroup_prefix" in t:
        done += _undo_cgroups(test, t["cgroup_prefix"])
    if "rules_before" in t:
        before = {tuple(r) for r in t["rules_before"]}
        for tool, rule in sorted(host_filter_rules() - before):
            ok = delete_rule(tool, rule)
            done.append(f"{test}: {'removed' if ok else 'could NOT remove'} iptables rule {tool} {rule}")
    return done


def reap_dead_runs() -> list:
    """Undo what harness processes that are gone left behind; what was done,
    one line each. Live runs' journals are not touched."""
    done = []
    for path in sorted(host_dir("runs").glob("*.jsonl")):
        head, tests = _read(path)
        if head and _alive(head):
            continue
        for test, t in tests.items():
            done += [f"run {head.get('run_dir', '?')} (pid {head.get('owner', '?')}, gone): {line}"
                     for line in _undo_test(test, t)]
        path.unlink(missing_ok=True)
    if done:
        time.sleep(0.1)     # let the killed tasks go before callers look again
    return done


def open_journal(state_dir: Path, run_dir: Path):
    try:
        return Journal(state_dir, run_dir)
    except OSError:
        return NullJournal()
