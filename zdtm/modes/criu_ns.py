"""--criu-ns: every criu call goes through `zdtm criu-ns` (zdtm/criu_ns.py),
which restores into a fresh pid+mount namespace under a pseudo-init (so pids
taken on the host don't matter) and dumps by entering the target's
namespaces with pid translation."""
from __future__ import annotations

import shlex
import sys
from typing import Optional

from .base import Mode, switch


def through_criu_ns(argv: list, criu_bin: str) -> list:
    """The same command with our criu-ns wrapper in front of criu: the wrapper
    (root) handles the namespaces, then runs whatever ran criu before
    (setpriv ... criu) with the rest of the arguments."""
    i = argv.index(criu_bin)
    return [sys.executable, "-m", "zdtm.criu_ns", "--criu-cmd", shlex.join(argv[:i + 1]), *argv[i + 1:]]


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

    def outside_ignore(self, flavor: str) -> tuple:
        # In h, the restored tree is in a fresh mount namespace: by design.
        return ("mounts",) if flavor == "h" else ()

    def criu_wrapper(self):
        return through_criu_ns
