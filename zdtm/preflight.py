"""Before a test runs: may it run here, in this flavor and these modes, and
as whom? Every "no" is a Skip with a reason (or a PhaseFailure when nothing
can run at all)."""
from __future__ import annotations

import os
import shutil

from . import check
from .flavors import FlavorUnavailable, get_flavor
from .outcome import PhaseFailure, Skip


def _missing_dep(deps) -> str:
    for dep in deps:
        # A command, or (upstream) a file such as an iptables module.
        if not any(os.path.exists(alt) if "/" in alt else shutil.which(alt) for alt in dep.split("|")):
            return dep
    return ""


def _machine(run) -> None:
    eng, desc = run.engine, run.desc
    reason = eng.suite.exclude.get(run.workload.name) or desc.arch_mismatch()
    if reason:
        raise Skip(reason)
    if eng.facts.fatal:
        raise PhaseFailure("check", f"no checkpoint can work here: {eng.facts.fatal}")
    reason = eng.facts.feature_missing(desc.features)
    if reason:
        raise Skip(reason)
    dep = _missing_dep(desc.deps)
    if dep:
        raise Skip(f"needs '{dep}', not found on this host")
    reason = run.workload.kind.skip_reason(run.workload)
    if reason:
        raise Skip(reason)


def _flavor_and_modes(run) -> None:
    try:
        run.flavor = get_flavor(run.flavor_name, run.engine)
    except FlavorUnavailable as e:
        raise Skip(str(e)) from None
    reason = (run.flavor.unavailable(run.engine.facts)
              or run.workload.kind.flavor_skip_reason(run.workload, run.flavor_name))
    if reason:
        raise Skip(f"flavor {run.flavor_name}: {reason}")
    for mode in run.modes:
        reason = run.engine.mode_unavailable(mode) or mode.skip_reason(run.desc, run.flavor_name)
        if reason:
            raise Skip(reason)


# What criu dumping as the owner (--unprivileged: the owner-dump identity,
# flavors h and ns here) does not dump, by feature or by what the source
# calls, and the flavors where that holds.
UNPRIVILEGED_LOSES = (
    ("feature", "loginuid", ("h", "ns"),
     "criu --unprivileged does not dump loginuid: kerndat.c root_only_init() skips kerndat_loginuid()"),
    ("calls", "inotify_add_watch", ("h",),
     "criu --unprivileged without CAP_DAC_READ_SEARCH cannot open an inotify watch's file handle "
     "(open_by_handle_at) and its irmap fallback does not scan the test's dir"),
)


def source_mentions(workload, name: str) -> bool:
    """Does the test's source file name this (a call, a constant)?"""
    try:
        return name in workload.source.read_text(errors="replace")
    except (OSError, AttributeError):
        return False


def unprivileged_loss(run) -> str:
    """What of this test's state a criu --unprivileged does not dump or
    restore (UNPRIVILEGED_LOSES), or ""."""
    for how, what, flavors, why in UNPRIVILEGED_LOSES:
        if run.flavor_name in flavors and (what in run.desc.features if how == "feature" else source_mentions(run.workload, what)):
            return why
    return ""


def privileged_state(run) -> str:
    """Why this test's state needs criu as root here (see UNPRIVILEGED_LOSES), or ""."""
    if run.engine.facts.strategy != "owner-dump":
        return ""
    return unprivileged_loss(run)


def _identity(run) -> None:
    why = "" if run.desc.needs_root_criu else privileged_state(run)
    if why and "suid" not in run.desc.flags:
        ident = check.identity(run.engine.facts.strategy, False, run.flavor_name, nouser=True, why=why)
    else:
        ident = run.engine.identity_for("suid" in run.desc.flags, run.flavor_name, nouser=run.desc.needs_root_criu)
    run.as_root, run.drop_ids = ident.as_root, ident.drop_ids
    run.driver = run.engine.driver(ident.driver)
    notes = [n for n in (m.identity_note() for m in run.modes) if n]
    run.result.identity = "; ".join([ident.text] + notes)
    for mode in run.modes:
        reason = mode.incompatible(run)
        if reason:
            raise Skip(f"--{mode.name}: {reason}")


def preflight(run) -> None:
    """Decide the test's flavor object, criu driver and identity, or skip it."""
    _machine(run)
    _flavor_and_modes(run)
    _identity(run)
