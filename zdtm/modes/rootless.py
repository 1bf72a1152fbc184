"""--rootless: criu never runs as root (zdtm.py's --rootless, CRIU's CI
"Rootless tests"): dump and every restore run as uid 18943, the workload's
owner, with --unprivileged, and criu's only privileges are file
capabilities on a private copy of the criu binary (zdtm.criu.rootless):
cap_checkpoint_restore,cap_sys_ptrace+eip as upstream's CI sets, plus
cap_setpcap where root's bounding set is not full (here: no
CAP_SYS_RESOURCE), since criu's restorer trims the restored tasks' bounding
set to the dumped one and the kernel wants CAP_SETPCAP for that.

Where it differs from CI: CI runs zdtm.py itself as uid 65534 inside
`unshare -Ucfpm --mount-proc`, so the test and criu share a user namespace
that uid owns. Here the harness (root) starts the workload as uid 18943 in
the initial namespaces and criu joins it as that uid: the same criu
code path (--unprivileged, file caps), in the initial user namespace. As in
CI, flavor h only: ns and uns namespaces are made by root, and a criu
without CAP_SYS_ADMIN cannot enter or recreate them.

Proof after every action: criu was given --unprivileged, and what it wrote
(the inventory image on dump, its pidfile on restore) belongs to uid 18943.
"""
from __future__ import annotations

import os
import shutil
from typing import Optional

from ..build import BuildError
from ..config import WORKLOAD_UID
from ..criu.rootless import RootlessDriver, file_caps, private_criu
from . import _nonroot
from .base import Mode, switch

CAP_CHECKPOINT_RESTORE = 40


class RootlessMode(Mode):
    name = "rootless"
    order = 6
    id_suffix = "rootless"
    marker = "rootless"
    description = "criu runs as uid 18943 for dump and restore, with file capabilities only"
    options = (switch("rootless", "run criu rootless: as uid 18943 for dump and restore, --unprivileged, "
                      "privileges from file capabilities on a private copy of criu (zdtm.py's --rootless)"),)

    def unavailable(self, engine) -> Optional[str]:
        criu = engine.resolve_criu()
        if not criu:
            return None
        try:
            last = int(open("/proc/sys/kernel/cap_last_cap").read())
        except (OSError, ValueError):
            last = 0
        if last < CAP_CHECKPOINT_RESTORE:
            return f"the kernel has no CAP_CHECKPOINT_RESTORE (cap_last_cap {last}), which rootless criu needs"
        if not shutil.which("setcap"):
            return "setcap not found (package libcap2-bin): it gives the private criu its file capabilities"
        if os.statvfs(engine.settings.state_dir).f_flag & os.ST_NOSUID:
            return f"the state dir {engine.settings.state_dir} is on a nosuid mount, where file capabilities are ignored"
        try:
            private_criu(engine.builder, criu)
        except (BuildError, OSError) as e:
            return f"no private criu with file capabilities: {e}"
        return None

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if flavor != "h":
            return (f"--rootless in {flavor}: its namespaces are root's, which a criu without CAP_SYS_ADMIN "
                    f"cannot enter or recreate (CRIU's CI runs rootless in h only)")
        if desc.inherit_fd:
            return ("inherited-fd test: zdtm.py's inhfd tests refuse rootless mode, and criu as uid "
                    f"{WORKLOAD_UID} cannot reopen the harness's pipe (root's, mode 0600) on restore "
                    "(criu/pipes.c: Unable to reopen the pipe /proc/self/fd/N: Permission denied)")
        return _nonroot.desc_reason(desc)

    def incompatible(self, run) -> Optional[str]:
        lost = _nonroot.state_lost(run)
        if lost:
            return lost
        eng = run.engine
        driver = RootlessDriver(str(private_criu(eng.builder, eng.criu_bin)), eng.settings.criu_timeout, eng.reaper)
        _nonroot.switch_driver(run, driver, f"uid {WORKLOAD_UID}; rootless: " + self.identity_note())
        return None

    def identity_note(self) -> str:
        return (f"criu runs as uid {WORKLOAD_UID} for dump and restore (--unprivileged), with file caps "
                f"{','.join(file_caps())}+eip on a private copy of criu")

    def after_dump(self, step) -> None:
        proof = _nonroot.prove_nonroot(step, "dump", step.images / "inventory.img")
        _nonroot.record(step, f"rootless criu (dump {step.n})", proof)

    def after_restore(self, step) -> None:
        argv = step.criu.argv
        pidfile = argv[argv.index("--pidfile") + 1] if "--pidfile" in argv else step.images / "restore.pid"
        proof = _nonroot.prove_nonroot(step, "restore", step.images / os.path.basename(pidfile))
        _nonroot.record(step, f"rootless criu (restore {step.n})", proof)
