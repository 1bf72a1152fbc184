"""--noauto-dedup: `criu dedup` after a dump that has a parent, as
zdtm.py does. criu dedup punches holes in the parent images (the images
dir's `parent` link) for the pages the new dump has again. zdtm.py's CI
runs it with --pre 2: the pre-dumps are the parents. Without soft-dirty
tracking there are no pre-dumps, and a dump given --prev-images-dir
without --track-mem is refused ("Pid-reuse detection failed: no parent
inventory"); the previous iteration's images cannot stand in either
(after a restore the tree's shared memory has new ids, and criu dedup
fails on "No pagemap-shmem-ID.img image"). So before each dump the mode
takes a parent dump with --leave-running (what a pre-dump is, without
memory tracking: the tree runs on unchanged), links it as the `parent` of
the dump's images, runs `criu dedup` (the dump's identity), checks that
the parent's pages images lost blocks, and removes the link (the dump has
no page in its parent, and a root restore refuses symlinks in
owner-written images)."""
from __future__ import annotations

import os
import re

from ..checkpoint import skip_if_machine_limit
from ..outcome import PhaseFailure, Skip
from .base import Mode, switch
from .dedup import pages_usage


def _skip_if_tree_changed(criu, parent, images) -> None:
    """criu dedup walks the tasks of the two dumps and needs each one's
    pagemap in both: a task the test forked or reaped between them (upstream
    fork, fork2; our fork_loop) ends it ('No pagemap-PID.img image'). A criu
    limit, said as a skip."""
    m = re.search(r"No pagemap-(\d+)\.img image", criu.log_text())
    name = m and f"pagemap-{m.group(1)}.img"
    if m and (parent / name).exists() != (images / name).exists():
        raise Skip(f"criu dedup needs every task in both the parent dump and the dump: task {m.group(1)} is in "
                   f"only one of them (criu: \"{m.group(0)}\"), as in a tree that keeps forking")


def parent_dir(step):
    return step.images.with_name(f"{step.n}-parent")


class NoAutoDedupMode(Mode):
    name = "noauto-dedup"
    order = 41
    id_suffix = "noauto-dedup"
    marker = "noauto_dedup"
    description = "criu dedup after each dump, against a parent dump taken just before"
    options = (switch("noauto_dedup", "run criu dedup after each dump, its parent a dump --leave-running "
                                      "taken just before (zdtm.py: a pre-dump)"),)

    def before_dump(self, step) -> None:
        if "crfail" in step.run.desc.flags:
            return
        parent = parent_dir(step)
        step.run.driver.prepare_dir(parent)
        run = step.run
        # the options the dump gets from the test, its flavor and its kind
        opts = [*run.desc.opts, *run.desc.dopts, *run.flavor.criu_opts("dump"), *run.kind_criu_opts]
        call = step.criu_call("dump", images=parent, tag="-parent", opts=opts, wrapped=True)
        criu = step.run_criu("dump", call, ["--tree", str(run.root_pid), "--leave-running"], like="dump")
        if not criu.ok:
            skip_if_machine_limit(run, criu)
            raise PhaseFailure("dump", f"the parent dump for criu dedup (--leave-running): {criu.status()}",
                               criu=criu)

    def after_dump(self, step) -> None:
        parent = parent_dir(step)
        before = pages_usage(parent)
        link = step.images / "parent"
        os.symlink(f"../{parent.name}", link)
        try:
            criu = step.run_criu("dedup", step.criu_call("dedup"), like="dump")
        finally:
            os.unlink(link)
        if not criu.ok:
            _skip_if_tree_changed(criu, parent, step.images)
            raise PhaseFailure("dedup", criu.status(), criu=criu)
        after = pages_usage(parent)
        line = (f"criu dedup of iteration {step.n}: the parent's pages images ({before[0]} bytes) had "
                f"{before[1]} bytes allocated, {after[1]} after")
        step.run.result.sections.append(("noauto-dedup", line))
        if before[1] and after[1] >= before[1]:
            raise PhaseFailure("dedup", f"criu dedup punched no hole in the parent's pages images ({line})",
                               criu=criu)
