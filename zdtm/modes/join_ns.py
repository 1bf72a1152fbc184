"""--join-ns: restore into a net namespace prepared by the harness (criu
restore --join-ns net:FILE, as zdtm.py's --join-ns), checked after every
restore: the restored test's /proc/PID/ns/net is that namespace (inode).

The namespace is the test's own, made for it and removed after it: a
persistent netns (`unshare --net=FILE`, lo up) bound on a file in the test's
artifacts dir, unique per test, run and checkout. A run killed outright
leaves that bind mount under a dir its journal names: `zdtm clean` or the
next run unmounts it (zdtm.journal undoes every mount under a test's dirs),
which frees the namespace.

Flavor h only, as zdtm.py: in ns and uns the tree has a net namespace of its
own, which criu dumps and restores with its devices and addresses; joining
another instead would drop it (and in uns the prepared netns belongs to the
host's user namespace, where the restored tree has no privilege).
.desc flag samens: the test must stay in the namespaces it started in.

The prepared namespace is empty: it gets the sysctls of the host's that a
test's sockets depend on (ping_group_range: who may open ICMP sockets). A
test whose state needs what it cannot have is a skip naming why: one that
restores into a namespace of its own (--join-ns in its .desc), one whose
hook (a peer outside the tree) talks to it over a repaired TCP connection,
one that binds a socket to a host device (SO_BINDTODEVICE).
"""
from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Optional

from ..guards.mounts import mountpoints, unmount
from ..kinds.base import NO_HOOKS
from ..outcome import PhaseFailure
from ..preflight import source_mentions
from .base import Mode, switch

NETNS_FILE = "join-ns.net"
# criu's network lock of a namespace it creates (criu/net.c,
# iptables_network_lock_internal): only criu's own repair packets
# (SOCCR_MARK) pass. criu does not lock a joined namespace: a TCP connection
# restored into it would get a reset from its not yet restored peer
# (soccr: "Can't restore not-sent send queue data ... Broken pipe").
LOCK = ("*filter\n:CRIU - [0:0]\n-I INPUT -j CRIU\n-I OUTPUT -j CRIU\n"
        "-A CRIU -m mark --mark 0xC114 -j ACCEPT\n-A CRIU -j DROP\nCOMMIT\n")
UNLOCK = "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\nCOMMIT\n"


# per-netns sysctls given the host's value in the prepared namespace
COPIED_SYSCTLS = ("net/ipv4/ping_group_range",)


def _host_sysctls() -> list:
    out = []
    for name in COPIED_SYSCTLS:
        try:
            value = " ".join(Path("/proc/sys", name).read_text().split())
        except OSError:
            continue
        out.append(f"{name.replace('/', '.')}={value}")
    return out


def make_netns(path: Path) -> None:
    """A persistent net namespace bound on path, its loopback up, the host's
    COPIED_SYSCTLS."""
    path.touch(mode=0o444)
    for argv in (["unshare", f"--net={path}", "true"],
                 ["nsenter", f"--net={path}", "ip", "link", "set", "up", "dev", "lo"],
                 ["nsenter", f"--net={path}", "sysctl", "-q", "-w", *_host_sysctls()]):
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=30)
        if res.returncode != 0:
            raise PhaseFailure("start", f"--join-ns: {' '.join(argv)} failed ({res.returncode}): "
                                        f"{res.stdout.strip()}")


def set_rules(path: Path, rules: str, phase: str) -> None:
    """iptables-restore (v4 and v6) of rules in the net namespace bound on path."""
    for tool in ("iptables-restore", "ip6tables-restore"):
        res = subprocess.run(["nsenter", f"--net={path}", tool, "-w"], input=rules, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=30)
        if res.returncode != 0:
            raise PhaseFailure(phase, f"--join-ns: {tool} in the prepared net namespace failed "
                                      f"({res.returncode}): {res.stdout.strip()}")


def remove_netns(path: Path) -> list:
    """Unmount (every bind of) the netns file and remove it; problems."""
    for _ in range(4):
        if str(path) not in mountpoints():
            break
        unmount(str(path))
    if str(path) in mountpoints():
        return [f"--join-ns: could not unmount the test's net namespace {path}"]
    path.unlink(missing_ok=True)
    return []


class JoinNsMode(Mode):
    name = "join-ns"
    order = 33
    id_suffix = "join-ns"
    marker = "join_ns"
    description = "restore into a prepared net namespace (--join-ns net:FILE)"
    options = (switch("join_ns", "restore into a net namespace the harness prepares (--join-ns net:FILE)"),)

    def __init__(self, settings):
        super().__init__(settings)
        self.netns: Optional[Path] = None

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if flavor != "h":
            return (f"--join-ns runs in flavor h only (as zdtm.py): in {flavor} the tree's own net namespace "
                    f"is dumped and restored; joining a prepared one would drop it")
        if "samens" in desc.flags:
            return "--join-ns: flag samens: the test must stay in the namespaces it started in (--join-ns moves it)"
        if "--join-ns" in desc.opts + desc.ropts:
            return "--join-ns: its .desc restores it into a net namespace of its own (--join-ns)"
        return None

    def incompatible(self, run) -> Optional[str]:
        if run.desc.criu_repairs_tcp and run.workload.kind.hooks(run.workload) is not NO_HOOKS:
            return ("its hook talks to it from the host's net namespace over a TCP connection criu repairs: "
                    "restored into another net namespace, the connection has no peer")
        if source_mentions(run.workload, "SO_BINDTODEVICE"):
            return ("it binds a socket to a host network device (SO_BINDTODEVICE), which the prepared net "
                    "namespace does not have")
        iterations = max([m.iterations for m in run.modes if m.iterations] or [1])
        if iterations > 1 and run.driver.identity("restore", last=False)[0]:
            return (f"criu driver {run.driver.name} restores all but the last iteration as the workload's "
                    f"owner, who may not setns into the prepared net namespace (criu: \"Failed to setns when "
                    f"join-ns\": Operation not permitted); run --join-ns with one iteration")
        return None

    def start(self, run) -> None:
        self.netns = run.paths.art / NETNS_FILE
        make_netns(self.netns)

    def before_restore(self, step) -> None:
        set_rules(self.netns, LOCK, "restore")       # as criu locks a namespace it creates

    def restore_opts(self, step) -> list:
        return ["--join-ns", f"net:{self.netns}"]

    def after_restore(self, step) -> None:
        run = step.run
        set_rules(self.netns, UNLOCK, "restore")
        want = os.stat(self.netns)
        for pid in dict.fromkeys((run.root_pid, run.pid)):
            try:
                got = os.stat(f"/proc/{pid}/ns/net")
            except OSError as e:
                raise PhaseFailure("restore", f"--join-ns: cannot read /proc/{pid}/ns/net: {e.strerror}") from None
            if (got.st_dev, got.st_ino) != (want.st_dev, want.st_ino):
                raise PhaseFailure("restore", f"--join-ns: restored pid {pid} is in net namespace "
                                              f"{os.readlink(f'/proc/{pid}/ns/net')}, not the prepared "
                                              f"net:[{want.st_ino}] ({self.netns})", criu=step.criu)

    def stop(self, run) -> list:
        if self.netns is None:
            return []
        problems = remove_netns(self.netns)
        self.netns = None
        return problems
