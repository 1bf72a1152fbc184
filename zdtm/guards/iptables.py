"""The host's iptables rules, for h-flavor tests whose criu repairs TCP.

criu's network lock adds filter rules (marked 0xC114) and a failed restore
leaves them; tests add their own (DROP a port) and leave them when killed:
either drops the traffic of whatever uses those ports next. Such tests run
one at a time (fixed ports, shared rules: a host-wide lock), and the rules
they leave are reported and removed.
"""
from __future__ import annotations

import shlex
import subprocess

from .. import hostwide
from .base import Guard, in_upstream_ct, warn

TOOLS = ("iptables", "ip6tables")
# criu's per-connection lock rules (netfilter.c: DROP what lacks SOCCR_MARK)
LOCK_MARK = "! --mark 0xc114"
# criu restore --tcp-close leaves the dump's connection lock in place:
# rst_unlock_tcp_connections() returns early (sk-tcp.c), as the connection
# is closed rather than repaired.
TCP_CLOSE_LEFT = ("criu restore --tcp-close leaves the lock rules of the dump's connections in place "
                  "(sk-tcp.c: rst_unlock_tcp_connections returns early for tcp_close)")
TIMEOUT = 30


def host_filter_rules() -> set:
    """(tool, rule) for each rule of the host's filter tables."""
    rules = set()
    for tool in TOOLS:
        try:
            res = subprocess.run([tool, "-w", "-S"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.DEVNULL, text=True, timeout=TIMEOUT)
        except (OSError, subprocess.TimeoutExpired):
            continue
        rules |= {(tool, line) for line in res.stdout.splitlines() if line.startswith("-A ")}
    return rules


def delete_rule(tool: str, rule: str) -> bool:
    """Delete one rule as `-S` printed it (quoted words, e.g. comments, kept
    whole). True if it is gone."""
    try:
        words = shlex.split(rule)
        res = subprocess.run([tool, "-w", "-D", *words[1:]], stdin=subprocess.DEVNULL,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=TIMEOUT)
    except (ValueError, OSError, subprocess.TimeoutExpired):
        return False
    return res.returncode == 0


class IptablesGuard(Guard):
    name = "iptables"

    def applies(self, run) -> bool:
        return run.flavor_name == "h" and run.desc.criu_repairs_tcp

    def before(self, run) -> None:
        self.lock = hostwide.lock("host-tcp")
        self.rules_before = host_filter_rules()
        run.engine.journal.rules(run.key, self.rules_before)
        self.left: set = set()

    def leftovers(self, run) -> list:
        self.left = host_filter_rules() - self.rules_before
        if not self.left:
            return []
        line = (f"left {len(self.left)} iptables rule(s) behind: "
                + "; ".join(f"{tool} {rule}" for tool, rule in sorted(self.left)[:4]))
        if in_upstream_ct(run):
            criu_lock = all(LOCK_MARK in rule for _, rule in self.left) and \
                any(o.startswith("--tcp-close") for o in run.desc.opts + run.desc.ropts)
            why = TCP_CLOSE_LEFT if criu_lock else "zdtm.py's network namespace would drop them"
            warn(run, f"{line} ({why}; removed)")
            return []
        return [line]

    def remove(self, run) -> list:
        failed = [f"{tool} {rule}" for tool, rule in sorted(self.left) if not delete_rule(tool, rule)]
        return [f"could not remove iptables rule(s): {'; '.join(failed)}"] if failed else []

    def release(self, run) -> None:
        self.lock.close()
