"""--empty-ns: criu dump and restore with --empty-ns net (as zdtm.py's
--empty-ns): the tree's net namespace is not dumped, and the restore
creates an empty one. As upstream's test/empty-netns-prep.sh, an action
script brings its loopback up at setup-namespaces (criu gives the restored
init's pid in CRTOOLS_INIT_PID): the script enters that namespace and sets
lo up; any other action passes.

Flavors ns and uns only (zdtm.py drops h): in h the tree shares the host's
net namespace, which criu neither dumps nor could leave empty.

The restored namespace is empty by design: a test that keeps state in its
own (devices, addresses, firewall rules, net sysctls, a second net namespace
in the tree) cannot get it back. Before the dump the harness compares the
test's namespace with a fresh one (lo up, what the restore gives) and makes
such a test a skip naming what would be lost, instead of a failure.
"""
from __future__ import annotations

import json
import os
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Optional

from ..outcome import Skip
from ..procs import descendants
from .base import Mode, switch

SCRIPT_NAME = "empty-netns-prep.sh"
SCRIPT = """#!/bin/sh
# zdtm --empty-ns: bring lo up in the empty net namespace criu restores
# (upstream's test/empty-netns-prep.sh does the same through ip netns).
[ "$CRTOOLS_SCRIPT_ACTION" = "setup-namespaces" ] || exit 0
echo "empty-ns: lo up in the net namespace of $CRTOOLS_INIT_PID"
exec nsenter --net=/proc/"$CRTOOLS_INIT_PID"/ns/net ip link set up dev lo
"""


# Run by the system python3 inside a net namespace: what it holds, as JSON.
PROBE = r"""
import json, os, subprocess
def run(*argv):
    try:
        return subprocess.run(argv, capture_output=True, text=True, timeout=20).stdout
    except OSError:
        return ""
with open("/proc/self/net/dev") as f:
    links = sorted(l.split(":")[0].strip() for l in f.readlines()[2:])
addrs = sorted(" ".join(l.split()[1:4]) for l in run("ip", "-o", "addr", "show").splitlines())
rules = sorted(f"{tool}: {l}" for tool in ("iptables-save", "ip6tables-save")
               for l in run(tool).splitlines() if l.startswith("-A "))
sysctls = {}
for top, dirs, files in os.walk("/proc/sys/net"):
    parts = top.split("/")
    if len(parts) > 6 and parts[5] in ("conf", "neigh") and parts[6] not in ("all", "default", "lo"):
        dirs[:] = []
        continue
    for name in files:
        try:
            with open(os.path.join(top, name)) as f:
                sysctls[os.path.join(top, name)[len("/proc/sys/"):]] = " ".join(f.read().split())
        except OSError:
            pass
print(json.dumps({"links": links, "addrs": addrs, "rules": rules, "sysctls": sysctls}))
"""
# Counters, not configuration.
VOLATILE_SYSCTLS = ("netfilter/nf_conntrack_count", "ipv4/tcp_mem", "ipv4/udp_mem", "ipv4/tcp_ehash_entries",
                    "ipv4/udp_hash_entries")


def netns_state(enter: list) -> dict:
    res = subprocess.run([*enter, "/usr/bin/python3", "-c", PROBE], stdin=subprocess.DEVNULL,
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        return {}
    return json.loads(res.stdout)


@lru_cache(maxsize=None)
def _fresh_state() -> dict:
    """A new net namespace with lo up: what criu restores with --empty-ns
    (probed once per process; only read)."""
    return netns_state(["unshare", "--net", "sh", "-c", 'ip link set up dev lo && exec "$@"', "sh"])


def netns_losses(pid: int) -> list:
    """What the net namespace of pid holds that a fresh one (lo up) lacks."""
    fresh, now = _fresh_state(), netns_state(["nsenter", f"--net=/proc/{pid}/ns/net"])
    if not fresh or not now:
        return []
    lost = [f"link {x}" for x in now["links"] if x not in fresh["links"]]
    lost += [f"address {x}" for x in now["addrs"] if x not in fresh["addrs"]]
    lost += now["rules"][:3] + ([f"{len(now['rules']) - 3} more rules"] if len(now["rules"]) > 3 else [])
    lost += [f"sysctl {k.replace('/', '.')} = {v} (fresh: {fresh['sysctls'][k]})"
             for k, v in sorted(now["sysctls"].items())
             if k in fresh["sysctls"] and v != fresh["sysctls"][k] and not k.endswith(VOLATILE_SYSCTLS)]
    return lost


def other_netns(root: int) -> list:
    """Tasks of the tree in another net namespace than its root."""
    def ns(pid):
        try:
            return os.stat(f"/proc/{pid}/ns/net").st_ino
        except OSError:
            return None
    mine = ns(root)
    return [pid for pid in descendants(root) if ns(pid) not in (mine, None)]


class EmptyNsMode(Mode):
    name = "empty-ns"
    order = 34
    id_suffix = "empty-ns"
    marker = "empty_ns"
    description = "dump and restore with --empty-ns net (the restored net namespace is empty, lo up)"
    options = (switch("empty_ns", "dump and restore with --empty-ns net (restore an empty net namespace, lo up)"),)

    def __init__(self, settings):
        super().__init__(settings)
        self.script: Optional[Path] = None

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if flavor == "h":
            return ("--empty-ns runs in flavors ns and uns only (as zdtm.py): in h the tree is in the host's "
                    "net namespace, which criu does not dump")
        return None

    def start(self, run) -> None:
        self.script = run.paths.art / SCRIPT_NAME
        self.script.write_text(SCRIPT)
        self.script.chmod(0o755)

    def before_dump(self, step) -> None:
        root = step.run.pid or step.run.root_pid
        nested = other_netns(step.run.root_pid)
        if nested:
            raise Skip(f"--empty-ns: tasks {nested[:5]} of the tree have a net namespace of their own; criu "
                       f"dumps only one with --empty-ns net (net.c: \"Unable to dump more than one netns\")")
        lost = netns_losses(root)
        if lost:
            raise Skip(f"--empty-ns: the test keeps state in its net namespace, which --empty-ns net does not "
                       f"dump (the restore gives an empty one, lo up): {'; '.join(lost[:6])}")

    def dump_opts(self, step) -> list:
        return ["--empty-ns", "net"]

    def restore_opts(self, step) -> list:
        return ["--empty-ns", "net", "--action-script", str(self.script)]
