"""--empty-ns: criu dump and restore with --empty-ns net (as zdtm.py's
--empty-ns): the tree's net namespace is not dumped, and the restore
creates an empty one. As upstream's test/empty-netns-prep.sh, an action
script brings its loopback up at setup-namespaces (criu gives the restored
init's pid in CRTOOLS_INIT_PID): the script enters that namespace and sets
lo up; any other action passes.

Flavors ns and uns only (zdtm.py drops h): in h the tree shares the host's
net namespace, which criu neither dumps nor could leave empty.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

from .base import Mode, switch

SCRIPT_NAME = "empty-netns-prep.sh"
SCRIPT = """#!/bin/sh
# zdtm --empty-ns: bring lo up in the empty net namespace criu restores
# (upstream's test/empty-netns-prep.sh does the same through ip netns).
[ "$CRTOOLS_SCRIPT_ACTION" = "setup-namespaces" ] || exit 0
echo "empty-ns: lo up in the net namespace of $CRTOOLS_INIT_PID"
exec nsenter --net=/proc/"$CRTOOLS_INIT_PID"/ns/net ip link set up dev lo
"""


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

    def dump_opts(self, step) -> list:
        return ["--empty-ns", "net"]

    def restore_opts(self, step) -> list:
        return ["--empty-ns", "net", "--action-script", str(self.script)]
