"""--snaps (with --pre N[:pause], N defaulting to 1): the pre-iterations are
full snapshots, `criu dump --leave-running --track-mem`, each into its own
images dir chained with --prev-images-dir (zdtm.modes._chain), then the
dump. As zdtm.py, no hook or pre-dump notification after a snapshot.
Needs soft-dirty (mem_dirty_track)."""
from __future__ import annotations

from ._chain import ChainMode, parse_pre
from .base import switch


class SnapshotsMode(ChainMode):
    name = "snaps"
    order = 26
    id_suffix = "snaps"
    marker = "snaps"
    description = "full criu dumps --leave-running --track-mem (snapshots) before each dump, instead of pre-dumps"
    options = (switch("snaps", "with --pre N[:PAUSE]: the N pre-iterations are full dumps --leave-running "
                      "--track-mem (snapshots) instead of pre-dumps; N is 1 without --pre"),)
    action = "dump"
    action_args = ("--leave-running",)
    always_track = True
    dir_tag = "snap"
    what = "snapshot dump"


    @property
    def count(self) -> int:
        return parse_pre(self.settings.mode_option("pre"))[0] or 1

    def identity_note(self) -> str:
        return f"{self.count} snapshot dump(s) --leave-running before each dump, run as the dump is"
