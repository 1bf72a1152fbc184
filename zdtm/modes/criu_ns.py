"""--criu-ns: every criu call goes through `zdtm criu-ns` (zdtm/criu_ns.py),
which restores into a fresh pid+mount namespace under a pseudo-init (so pids
taken on the host don't matter) and dumps by entering the target's
namespaces with pid translation."""
from __future__ import annotations

import re
import shlex
import sys
from typing import Optional

from ..outcome import Skip
from .base import Mode, switch


def through_criu_ns(argv: list, criu_bin: str) -> list:
    """The same command with our criu-ns wrapper in front of criu: the wrapper
    (root) handles the namespaces, then runs whatever ran criu before
    (setpriv ... criu) with the rest of the arguments."""
    i = argv.index(criu_bin)
    return [sys.executable, "-m", "zdtm.criu_ns", "--criu-cmd", shlex.join(argv[:i + 1]), *argv[i + 1:]]


# criu run from a copy of the mount namespace (criu-ns's) cannot do what
# needs the host's own mounts: find external mounts by comparing with its
# namespace (--external mnt[], --ext-mount-map auto: new mount ids there), or
# copy an external mount's sharing from a host mount (MOVE_MOUNT_SET_GROUP
# works within one mount namespace). Upstream mnt_ext_auto,
# mnt_ext_file_bind_auto, mnt_ext_master, mnt_ext_multiple, mnt_root_ext.
# (criu's words, why, only for a .desc asking for auto-detected external mounts)
OWN_MNTNS_NEEDED = (
    (re.compile(r"Error \(criu/mount\.c:\d+\): mnt: [^\n]*(doesn't have a proper root mount|has unreachable "
                r"sharing)"),
     "criu finds the test's external mounts by comparing with its own mount namespace, which criu-ns "
     "replaces with a copy (other mount ids)", True),
    (re.compile(r"Error \(criu/mount-v2\.c:\d+\): mnt-v2: Failed to copy sharing from [^\n]*"),
     "criu copies an external mount's sharing from the host's mount (MOVE_MOUNT_SET_GROUP), which works "
     "only within one mount namespace, and criu-ns runs criu in a copy", False),
)


class CriuNsMode(Mode):
    name = "criu-ns"
    order = 100
    id_suffix = "criu-ns"
    marker = "criu_ns"
    description = "criu through zdtm criu-ns (restores into a fresh pid+mount namespace)"
    options = (switch("criu_ns", "run criu through zdtm criu-ns (restore into a fresh pid+mount namespace)"),)
    new_pids = True

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if "--exec-cmd" in desc.opts + desc.ropts:
            return "criu-ns restores detached under its own pseudo-init, which --exec-cmd excludes"
        if "--restore-sibling" in desc.opts + desc.ropts:
            return ("criu-ns restores under a pseudo-init of a new pid namespace and refuses --restore-sibling "
                    "(as upstream's criu-ns), which the .desc asks for")
        return None

    def identity_note(self) -> str:
        return "criu through zdtm criu-ns (restores into a fresh pid+mount namespace)"

    def retry(self, step, action: str) -> bool:
        """Not a retry: a failure that only criu-ns's own mount namespace
        causes becomes a skip that says so, with criu's words."""
        if step.criu is None or step.criu.crashed:
            return False
        log = step.criu.log_text()
        opts = " ".join(step.run.desc.opts + step.run.desc.dopts + step.run.desc.ropts)
        auto = "mnt[]" in opts or "--ext-mount-map auto" in opts
        for pattern, why, only_auto in OWN_MNTNS_NEEDED:
            m = (auto or not only_auto) and pattern.search(log)
            if m:
                raise Skip(f"--criu-ns: {why}; criu {action}: {m.group(0)}")
        return False

    def outside_ignore(self, flavor: str) -> tuple:
        # In h, the restored tree is in a fresh mount namespace: by design.
        return ("mounts",) if flavor == "h" else ()

    def criu_wrapper(self):
        return through_criu_ns
