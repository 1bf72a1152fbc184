"""Dump as the workload's owner, restore as root.

Where root lacks CAP_SYS_RESOURCE in the initial user namespace, criu as root
cannot dump a task of another uid ("Can't get rlimit"). criu run as that uid
with --unprivileged and the capabilities it needs (raised as ambient so they
survive exec) can; restoring as root then recreates the tasks with their
original credentials.

A root restore puts the tree into a new time namespace that the owner cannot
enter, so a restored tree that will be dumped again (--iters > 1) is restored
as the owner too (--unprivileged; CAP_SETPCAP because the restorer re-applies
the dumped bounding set). The last restore of a test is always done as root.
"""
from __future__ import annotations

import os
from pathlib import Path

from ..config import WORKLOAD_GID, WORKLOAD_GROUPS, WORKLOAD_UID
from ..safeio import create_exclusive
from .base import CriuCall, CriuDriver

DUMP_CAPS = "+checkpoint_restore,+sys_ptrace"
RESTORE_CAPS = "+checkpoint_restore,+sys_ptrace,+setpcap"


class OwnerDumpDriver(CriuDriver):
    name = "owner-dump"
    description = (f"criu dumps as the workload's owner (uid {WORKLOAD_UID}, --unprivileged, "
                   f"ambient CAP_CHECKPOINT_RESTORE+CAP_SYS_PTRACE) and restores as root")
    DUMP_CAPS = DUMP_CAPS

    def prepare_dir(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        os.chown(path, WORKLOAD_UID, WORKLOAD_GID)

    def _as_owner_for(self, like: str, last: bool) -> str:
        """The capabilities criu gets as the owner, or "" when root runs it."""
        if like != "restore":
            return self.DUMP_CAPS
        return "" if last else RESTORE_CAPS     # the last restore is root's

    def identity(self, like: str, last: bool = True) -> tuple:
        caps = self._as_owner_for(like, last)
        return (self._as_owner(caps), ["--unprivileged"]) if caps else ([], [])

    def prepare_call(self, call: CriuCall, like: str, last: bool = True) -> None:
        """criu run as the owner writes its log into root's artifacts dir: the
        file is made for it there (the dir stays root's, so the name cannot be
        replaced). Its restore pidfile (created O_EXCL) goes into the owner's
        images dir instead."""
        if not self._as_owner_for(like, last):
            return
        fd = create_exclusive(call.log)
        os.fchown(fd, WORKLOAD_UID, WORKLOAD_GID)
        os.close(fd)
        if like == "restore":
            call.pidfile = call.images / "restore.pid"

    def untrusted_images(self, last: bool) -> bool:
        return last         # the last restore is root's

    @staticmethod
    def _as_owner(caps: str) -> list:
        return ["setpriv", f"--reuid={WORKLOAD_UID}", f"--regid={WORKLOAD_GID}",
                "--groups=" + ",".join(map(str, WORKLOAD_GROUPS)),
                f"--inh-caps={caps}", f"--ambient-caps={caps}"]


class OwnerNamespacesDriver(OwnerDumpDriver):
    """The `ns` flavor's variant: the tree (its init included, which drops to
    the workload's ids once the namespaces are set up) is all uid 18943, and
    criu must enter namespaces owned by the initial user namespace, so it
    dumps as uid 18943 with every capability except the missing
    CAP_SYS_RESOURCE (not needed: criu's uid matches every task's). With
    CAP_SYS_ADMIN it can enter a restored tree's time namespace, so every
    restore is done as root."""
    name = "owner-dump-ns"
    description = ("criu dumps as the workload's owner with every capability but CAP_SYS_RESOURCE "
                   "(--unprivileged), restores as root")
    DUMP_CAPS = "+all,-sys_resource"

    def _as_owner_for(self, like: str, last: bool) -> str:
        return "" if like == "restore" else self.DUMP_CAPS

    def untrusted_images(self, last: bool) -> bool:
        return True         # every restore is root's
