"""What --pre and --snaps share (zdtm.modes.pre_dump, zdtm.modes.snaps):
before each dump, N pre-iterations, each into its own images dir beside
the dump's (img/1.pre1, img/1.pre2, ...; img/1.snap1 ...), each after the
first with --prev-images-dir (relative to the images dir, as criu wants)
naming the one before and --track-mem; then the dump itself with
--prev-images-dir naming the last and --track-mem. criu links each dir to
its parent ("parent" symlink) and the restore reads the pages through
that chain.

Both need soft-dirty memory tracking (`criu check --feature
mem_dirty_track`): without it every test is a skip naming the feature.

When the images were written by the workload's owner and root restores
them (zdtm.criu.owner), the cycle seals the dump's dir (a root-owned copy,
which refuses symlinks): the chain is sealed too. After the dump the
parent links (checked to be criu's) are removed and each pre-iteration's
dir is sealed; once the dump's dir is sealed, the links are made again,
root's.
"""
from __future__ import annotations

import os
import select
import struct
import time
from pathlib import Path
from typing import Optional

from .. import images as image_dirs
from ..check import check_feature
from ..outcome import PhaseFailure
from .base import Mode
from .plain import check_page_counts

FEATURE = "mem_dirty_track"
NOTIFY_FDIN, NOTIFY_FDOUT = 100, 101       # zdtm.py's ZDTM_NOTIFY_FDIN/FDOUT
NOTIFY_TIMEOUT = 30.0


def parse_pre(value) -> tuple:
    """--pre N[:pause] -> (N, pause seconds); a tuple passes through."""
    if value is None or value == "":
        return 0, 0.0
    if isinstance(value, (tuple, list)):
        return int(value[0]), float(value[1])
    if isinstance(value, int):
        return value, 0.0
    count, _, pause = str(value).partition(":")
    count, pause = int(count), float(pause or 0)
    if count < 0 or pause < 0:
        raise ValueError(f"{value!r}: N[:pause] with N >= 0 and pause >= 0 seconds")
    return count, pause


def soft_dirty_missing(engine) -> Optional[str]:
    facts = engine.facts
    if not facts.criu:          # no criu at all: the preflight says so first
        return None
    known = facts.features.get(FEATURE)
    if known if known is not None else check_feature(facts.criu, FEATURE):
        return None
    return (f"criu check --feature {FEATURE} fails here: the kernel has no soft-dirty memory tracking "
            f"(CONFIG_MEM_SOFT_DIRTY), which criu --track-mem needs")


class ChainMode(Mode):
    """A Mode whose dumps are preceded by pre-iterations (see the module)."""
    #: criu action of a pre-iteration and its extra arguments
    action = "pre-dump"
    action_args: tuple = ()
    #: --track-mem on the first pre-iteration too (criu pre-dump implies it)
    always_track = False
    track_mem = ("--track-mem",)
    #: the pre-iteration's dir suffix and log tag: img/1.pre1, pre-dump.pre1-1.log
    dir_tag = "pre"
    what = "pre-dump"

    def __init__(self, settings):
        super().__init__(settings)
        self.chain: list = []       # this iteration's pre-iteration dirs
        self.sealed = False

    @property
    def count(self) -> int:
        return parse_pre(self.settings.mode_option("pre"))[0]

    @property
    def pause(self) -> float:
        return parse_pre(self.settings.mode_option("pre"))[1]

    def unavailable(self, engine) -> Optional[str]:
        return soft_dirty_missing(engine)

    def mode_opts(self) -> list:
        mode = self.settings.mode_option("pre_dump_mode")
        return ["--pre-dump-mode", mode] if mode else []

    # ---- the pre-iterations ---------------------------------------------------------
    def before_dump(self, step) -> None:
        self.chain, self.sealed = [], False
        if "crfail" in step.run.desc.flags:     # criu must refuse the dump itself
            return
        for i in range(1, self.count + 1):
            self.chain.append(self._pre_iteration(step, i))
            if self.pause:
                time.sleep(self.pause)

    def _pre_iteration(self, step, i: int) -> Path:
        run = step.run
        images = step.images.with_name(f"{step.images.name}.{self.dir_tag}{i}")
        run.driver.prepare_dir(images)
        opts = [*run.desc.opts, *run.desc.dopts, *run.flavor.criu_opts("dump"), *run.kind_criu_opts,
                *self.mode_opts(), *self._prev_opts()]
        if self.always_track and not self.chain:
            opts += self.track_mem
        call = step.criu_call(self.action, images=images, tag=f".{self.dir_tag}{i}", opts=opts, wrapped=True)
        criu = step.run_criu(self.action, call, ["--tree", str(run.root_pid), *self.action_args])
        what = f"{self.what} {i} of {self.count} (iteration {step.n})"
        if not criu.ok:
            raise PhaseFailure("dump", f"{what}: {criu.status()}", criu=criu)
        check_page_counts(images, criu.argv, what)
        self.after_pre_iteration(step, images)
        return images

    def after_pre_iteration(self, step, images: Path) -> None:
        """What follows one pre-iteration (upstream's --post-pre-dump hook ...)."""

    def _prev_opts(self) -> list:
        return ["--prev-images-dir", f"../{self.chain[-1].name}", *self.track_mem] if self.chain else []

    def dump_opts(self, step) -> list:
        return self.mode_opts() + self._prev_opts() if self.chain else []

    # ---- a root restore of the owner's chain ------------------------------------------
    def after_dump(self, step) -> None:
        run = step.run
        if not self.chain or not all(m.restores for m in run.modes) \
                or not run.driver.untrusted_images(step.last):
            return
        dirs = [*self.chain, step.images]
        for parent, child in zip(dirs, dirs[1:]):
            link, want = child / "parent", f"../{parent.name}"
            try:
                found = os.readlink(link)
            except OSError as e:
                found = f"no link ({e.strerror})"
            if found != want:
                raise PhaseFailure("dump", f"{link}: criu's link to the previous images {want} expected, "
                                           f"found {found}")
            os.unlink(link)
        for images in self.chain:
            image_dirs.seal(images)
        self.sealed = True

    def before_restore(self, step) -> None:
        if not self.sealed:
            return
        dirs = [*self.chain, step.images]
        for parent, child in zip(dirs, dirs[1:]):
            os.symlink(f"../{parent.name}", child / "parent")


def pre_dump_notify(run, timeout: float = NOTIFY_TIMEOUT) -> str:
    """zdtm.py's pre_dump_notify for a pre-dump-notify test: an int 0
    written into the test's fd 100 (a pipe its library made), its answer
    read from its fd 101. Returns what happened, for the report."""
    pid = run.pid
    try:
        out = os.open(f"/proc/{pid}/fd/{NOTIFY_FDOUT}", os.O_RDONLY | os.O_NONBLOCK)
    except OSError as e:
        raise PhaseFailure("dump", f"pre-dump notification: cannot open the test's fd {NOTIFY_FDOUT} "
                                   f"(pid {pid}): {e.strerror}") from None
    try:
        fdin = os.open(f"/proc/{pid}/fd/{NOTIFY_FDIN}", os.O_WRONLY)
        try:
            os.write(fdin, struct.pack("i", 0))
        finally:
            os.close(fdin)
        ready, _, _ = select.select([out], [], [], timeout)
        reply = os.read(out, 4) if ready else b""
    except OSError as e:
        raise PhaseFailure("dump", f"pre-dump notification to pid {pid}: {e.strerror}") from None
    finally:
        os.close(out)
    if len(reply) != 4:
        raise PhaseFailure("dump", f"pre-dump notification: pid {pid} did not answer within {timeout:g}s")
    return f"pid {pid} answered {struct.unpack('i', reply)[0]}"
