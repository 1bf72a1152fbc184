"""What every zdtm run on this host shares, whatever its checkout or state
dir: a root-only dir in /run (a tmpfs: nothing survives a reboot) with the
runs' journals and the host-wide locks.

Locks (flock, released when the holder dies):
  excl.lock        shared by every test, exclusive for an `excl` one
  host-tcp.lock    an h-flavor test whose criu locks TCP with iptables
  test-NAME.lock   an h-flavor test, so that two runs never run the same
                   test in the host's namespaces at once (fixed names:
                   cgroups, ports, files)
  tmp-NAME.lock    an upstream test naming /tmp/NAME (zdtm.guards.hostpaths)
  host-links.lock  a hook or peer adding links in the host's netns, and an
                   h-flavor test subscribed to the host's link events (a
                   netlink socket with queued events is one criu refuses)
"""
from __future__ import annotations

import fcntl
import os
import re
import stat
from pathlib import Path

HOST_DIR = Path(os.environ.get("ZDTM_HOST_DIR", "/run/zdtm"))
HOST_LINKS = "host-links"
# a hook or peer script that adds links (or named netns) in the host's netns
ADDS_HOST_LINKS = re.compile(rb"\bip\s+(?:link|l|netns)\s+add\b")
# a test's source subscribing to link or address events (netlink groups)
HEARS_HOST_LINKS = ("RTMGRP_LINK", "RTNLGRP_LINK", "RTMGRP_IPV4_IFADDR", "RTNLGRP_IPV4_IFADDR")


def host_dir(sub: str = "") -> Path:
    """/run/zdtm[/sub], root's alone (refused if someone else made it)."""
    d = HOST_DIR / sub if sub else HOST_DIR
    for p in (HOST_DIR, d):
        p.mkdir(mode=0o700, exist_ok=True)
        st = os.lstat(p)
        if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or st.st_mode & 0o077:
            raise PermissionError(f"{p} must be a directory only root can use (uid {st.st_uid}, "
                                  f"mode {stat.S_IMODE(st.st_mode):o})")
    return d


def _lock_file(name: str):
    return open(host_dir("locks") / f"{name.replace('/', '_')}.lock", "a")


def lock(name: str, exclusive: bool = True):
    """Take a host-wide lock (blocks); close the returned file to release it."""
    f = _lock_file(name)
    fcntl.flock(f, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
    return f


def try_lock(name: str):
    """The lock if it is free now, else None."""
    f = _lock_file(name)
    try:
        fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        f.close()
        return None
    return f
