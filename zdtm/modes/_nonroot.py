"""What --user and --rootless share: the .desc flags that exclude a test when
criu is not root, switching a test's criu driver once its identity is
decided, and the proof, after an action, that criu really ran as non-root."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from ..config import WORKLOAD_UID
from ..outcome import PhaseFailure
from ..preflight import unprivileged_loss


def desc_reason(desc) -> Optional[str]:
    """zdtm.py's exclusions for a criu that is not root (its --user)."""
    if "suid" in desc.flags:
        return "suid test in user mode: the workload runs as root, which a non-root criu cannot dump"
    if "nouser" in desc.flags:
        return "flag nouser: criu root prio needed"
    if desc.criu_repairs_tcp:
        return "criu repairs TCP connections for this test (TCP_REPAIR needs CAP_NET_ADMIN): criu root prio needed"
    return None


def state_lost(run) -> Optional[str]:
    """A test whose state criu --unprivileged does not dump (loginuid; an
    inotify watch's handle in h): the default identity gives it a root
    criu, these modes cannot."""
    why = unprivileged_loss(run)
    return f"criu is not root in this mode, and {why}" if why else None


def switch_driver(run, driver, text: str, drop_ids: bool = False) -> None:
    """Make the test's criu driver this one (asked from Mode.incompatible,
    before anything is prepared for the driver): the workload is then the
    unprivileged owner's, and the stated identity says so."""
    run.driver = driver
    run.as_root, run.drop_ids = False, drop_ids
    run.result.identity = text


def _owner(path: Path) -> Optional[int]:
    try:
        return os.stat(path, follow_symlinks=False).st_uid
    except OSError:
        return None


def prove_nonroot(step, action: str, written: Path) -> str:
    """After `criu ACTION`: criu was given --unprivileged and the file it
    wrote (its inventory image, its restore pidfile) belongs to the
    workload's uid, so criu itself ran as that uid. Returns the proof as a
    sentence; raises PhaseFailure (phase = action) otherwise."""
    criu = step.criu
    if "--unprivileged" not in criu.argv:
        raise PhaseFailure(action, f"criu {action} ran without --unprivileged: {criu.command_line()}")
    uid = _owner(written)
    if uid != WORKLOAD_UID:
        who = "missing" if uid is None else f"owned by uid {uid}"
        raise PhaseFailure(action, f"criu {action} did not run as uid {WORKLOAD_UID}: {written} (written by "
                                   f"criu) is {who}; command: {criu.command_line()}")
    return (f"criu {action} ran as uid {WORKLOAD_UID} with --unprivileged: {written.name} it wrote is owned "
            f"by uid {uid}")


def record(step, title: str, text: str) -> None:
    sections = step.run.result.sections
    if (title, text) not in sections:
        sections.append((title, text))
