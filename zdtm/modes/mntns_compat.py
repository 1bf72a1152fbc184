"""--mntns-compat-mode: criu restores mount namespaces with its old mount
engine (`criu restore --mntns-compat-mode`), as zdtm.py's option of that
name. CRIU's CI runs the whole suite this way when the kernel has what the
new engine needs (`criu check --feature move_mount_set_group`); without it
criu falls back to the old engine by itself, so the mode would add nothing:
it is then unavailable.

Proof that the old engine ran, checked after every restore that rebuilt a
mount namespace: criu's log has none of the new engine's lines (it binds
every mount under a plain mountpoint, "Bind ... to ...", and inspects
sharing groups, "Inspecting sharing on ..."), and the option reached criu.
A test whose .desc pins the new engine (`--no-mntns-compat-mode`, e.g.
mnt_ext_sharing) keeps it, as with zdtm.py, where the .desc's restore
options follow the mode's."""
from __future__ import annotations

import re
from typing import Optional

from ..check import check_feature
from ..outcome import PhaseFailure
from .base import Mode, switch

OPTION = "--mntns-compat-mode"
PIN_NEW = "--no-mntns-compat-mode"
FEATURE = "move_mount_set_group"
# At -v4, criu's new mount engine (criu/mount-v2.c) logs as "mnt-v2: ...";
# the old one (criu/mount.c, populate_mnt_ns) starts its walk with "mnt: Start with ...".
NEW_ENGINE = re.compile(r"^.*\bmnt-v2: .*$", re.M)
OLD_ENGINE = re.compile(r"^.*\bmnt: Start with .*$", re.M)
MNTNS_RESTORED = "Restoring mount namespace"
FALLBACK = "Mount engine fallback to --mntns-compat-mode mode"


class MntnsCompatMode(Mode):
    name = "mntns-compat-mode"
    order = 45
    id_suffix = "mntns-compat"
    marker = "mntns_compat"
    description = "criu restore --mntns-compat-mode (the old mount engine)"
    options = (switch("mntns_compat_mode", "restore mount namespaces with criu's old mount engine "
                      "(criu restore --mntns-compat-mode)"),)

    def unavailable(self, engine) -> Optional[str]:
        criu = engine.resolve_criu()
        if not criu:
            return None         # the run fails on the missing criu by itself
        if not check_feature(criu, FEATURE):
            return (f"`criu check --feature {FEATURE}` fails: the kernel lacks what criu's new mount "
                    f"engine needs, so every restore already uses the old one (CRIU's CI runs "
                    f"--mntns-compat-mode only when that check passes)")
        return None

    def identity_note(self) -> str:
        return "restores with criu's old mount engine (--mntns-compat-mode)"

    def adjust_call(self, call, action: str, step) -> None:
        # In front, as zdtm.py puts it: a .desc's --no-mntns-compat-mode, later, wins.
        if action == "restore" and OPTION not in call.opts:
            call.opts.insert(0, OPTION)

    def after_restore(self, step) -> None:
        if PIN_NEW in step.run.desc.ropts:
            return
        criu = step.criu
        if OPTION not in criu.argv:
            raise PhaseFailure("restore", f"criu restore ran without {OPTION}: {criu.command_line()}")
        log = criu.log_text()
        if MNTNS_RESTORED not in log:
            return              # no mount namespace to restore (the h flavor): no engine ran
        new, old = NEW_ENGINE.search(log), OLD_ENGINE.search(log)
        if new or not old:
            seen = f"a new-engine line: {new.group(0).strip()!r}" if new else "no old-engine line ('mnt: Start with')"
            raise PhaseFailure("restore", f"criu restore was given {OPTION} but its log shows {seen} "
                                          f"({criu.log})")
        step.run.result.sections.append((
            f"mount engine (restore {step.n})",
            f"criu restored the mount namespace with the old engine ({OPTION}): {old.group(0).strip()!r}, "
            f"no 'mnt-v2:' line in {criu.log.name}"))
