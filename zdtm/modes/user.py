"""--user: criu dumps as a regular user, as zdtm.py's --user (criu's dump
runs as uid 18943, the workload's owner; the restore stays root's).

Our `owner-dump` identity is that already (criu dumps as uid 18943 with
--unprivileged and ambient CAP_CHECKPOINT_RESTORE+CAP_SYS_PTRACE, zdtm.py's
--user wants the same two capabilities as file caps on criu): the mode
forces it, whatever identity this machine would pick (a machine where root
criu can dump uid 18943 picks root), in h and in ns (the owner-dump-ns
variant: the ns init drops to uid 18943 too, criu dumps with every
capability but CAP_SYS_RESOURCE). As zdtm.py, it skips suid tests and the
`nouser` flag (criu root prio needed), and the uns flavor: its user
namespace belongs to host root, so a criu of uid 18943 has no capability
there (zdtm.py's --user drops ns and uns altogether).

Proof after every dump: criu was given --unprivileged and its inventory
image belongs to uid 18943 (files criu writes are its own uid's)."""
from __future__ import annotations

from typing import Optional

from .. import check
from ..config import WORKLOAD_UID
from . import _nonroot
from .base import Mode, switch


class UserMode(Mode):
    name = "user"
    order = 5
    id_suffix = "user"
    marker = "user"
    description = "criu dumps as a regular user (uid 18943, --unprivileged), restores as root"
    options = (switch("user", "run criu dumps as a regular user (uid 18943, --unprivileged), as zdtm.py's --user"),)

    def unavailable(self, engine) -> Optional[str]:
        if engine.resolve_criu() and engine.facts.strategy == "as-root":
            return f"criu cannot dump as a regular user here: {engine.facts.strategy_reason}"
        return None

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if flavor == "uns":
            return ("--user in uns: the user namespace belongs to host root, so criu as uid "
                    f"{WORKLOAD_UID} has no capability in it (zdtm.py's --user runs h only)")
        return _nonroot.desc_reason(desc)

    def incompatible(self, run) -> Optional[str]:
        lost = _nonroot.state_lost(run)
        if lost:
            return lost
        ident = check.identity("owner-dump", False, run.flavor_name)
        if run.driver.name != ident.driver or run.as_root:
            _nonroot.switch_driver(run, run.engine.driver(ident.driver), ident.text, ident.drop_ids)
        return None

    def identity_note(self) -> str:
        return "--user: criu dumps as a regular user"

    def after_dump(self, step) -> None:
        proof = _nonroot.prove_nonroot(step, "dump", step.images / "inventory.img")
        _nonroot.record(step, f"criu as a regular user (dump {step.n})", proof)
