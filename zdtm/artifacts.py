"""A test's directories and the files the harness writes there: one place
creates them, decides who owns them and writes into them.

  <run>/<test>/<variant>/        the artifacts dir, root's: result.json,
                                 criu-commands.txt, criu logs, hook.log, img/
  <state>/w/<run>/<n>/           the workload's cwd, the workload uid's (its
                                 output file, its own files), linked from the
                                 artifacts dir as work/: short, because UNIX
                                 socket paths must fit in 108 bytes

The trust boundary: root writes only into root-owned dirs; what root must
create in the workload's dirs is created before they change hands; what root
reads from them is read without following symlinks (zdtm.safeio).
"""
from __future__ import annotations

import itertools
import json
import os
import shutil
from pathlib import Path

from .safeio import create_exclusive, open_nofollow, read_text

_WORK_IDS = itertools.count(1)


def tail(path: Path, n: int = 40) -> list:
    """The last n lines of a file root may not trust (never through a symlink)."""
    try:
        return read_text(path).splitlines()[-n:]
    except OSError:
        return []


class TestPaths:
    def __init__(self, run_dir: Path, state_dir: Path, test: str, variant: str, stem: str):
        self.run_dir = run_dir
        self.art = run_dir / test / variant
        self.work = state_dir / "w" / run_dir.name / f"{os.getpid()}-{next(_WORK_IDS)}"
        self.images = self.art / "img"
        self.outfile = self.work / f"{stem}.out"
        self.pidfile = self.work / f"{stem}.pid"
        self.stdio = self.work / f"{stem}.stdio"
        self.stem = stem

    # ---- creation ----------------------------------------------------------------
    def prepare(self, owner: tuple, shared: bool = False) -> None:
        """A fresh artifacts dir (root's) and work dir (the workload's: owner
        is its host uid, gid), both reachable by the workload. shared: other
        uids may write in the work dir too (and rename what others made)."""
        if self.art.exists():
            shutil.rmtree(self.art)
        self.art.mkdir(parents=True)
        for d in (self.work.parent.parent, self.work.parent):
            d.mkdir(exist_ok=True)
            os.chmod(d, 0o755)
        if self.work.exists():
            shutil.rmtree(self.work)
        self.work.mkdir(mode=0o755)
        (self.art / "work").symlink_to(os.path.relpath(self.work, self.art))
        for p in [self.art, *self.art.relative_to(self.run_dir).parents]:
            os.chmod(self.run_dir / p, 0o755)
        # stdout/stderr of the workload before its library opens its output
        # file: made while the dir is still root's, then handed over (criu,
        # run as the owner, may reopen it on restore).
        fd = create_exclusive(self.stdio)
        os.fchown(fd, *owner)
        os.close(fd)
        os.chown(self.work, *owner)
        if shared:
            os.chmod(self.work, 0o777)

    def external_dir(self, name: str, owner: tuple) -> Path:
        """A host dir the flavor binds into the test as /mnt/NAME (filled
        before it changes hands)."""
        host_dir = self.art / f"ext-{name}"
        host_dir.mkdir()
        (host_dir / "zdtm-external").write_text(f"{name}\n")
        os.chown(host_dir / "zdtm-external", *owner)
        os.chown(host_dir, *owner)
        return host_dir

    def workload_arg(self, arg: str) -> str:
        """--filename / --dirname without a value: a path in the work dir."""
        if arg == "--filename":
            return f"--filename={self.work / (self.stem + '.test')}"
        if arg == "--dirname":
            return f"--dirname={self.work / (self.stem + '.dir')}"
        return arg

    def open_stdio(self) -> int:
        """The workload's stdout/stderr (made by prepare(), never a symlink)."""
        return open_nofollow(self.stdio, os.O_WRONLY | os.O_APPEND)

    # ---- the harness's files ---------------------------------------------------
    def log(self, name: str) -> Path:
        """A file of the harness in the artifacts dir (a criu log, hook.log)."""
        return self.art / name

    def write(self, name: str, text: str) -> None:
        (self.art / name).write_text(text)

    def write_result(self, data: dict, criu_commands: list) -> None:
        if not self.art.exists():
            return
        self.write("criu-commands.txt", "".join(c + "\n" for c in criu_commands))
        self.write("result.json", json.dumps(data, indent=2) + "\n")

    def prune_images(self, keep: str, outcome: str) -> None:
        if self.images.exists() and (keep == "never" or (keep == "failed" and outcome != "failed")):
            shutil.rmtree(self.images, ignore_errors=True)

    # ---- the workload's output ---------------------------------------------------
    def output_file(self) -> Path:
        """The finished output file, or the one still in progress."""
        return self.outfile if self.outfile.exists() else Path(str(self.outfile) + ".inprogress")

    def output_lines(self, n: int = 200) -> list:
        return tail(self.output_file(), n)

    def stdio_lines(self, n: int = 40) -> list:
        return tail(self.stdio, n)

    def failure_sections(self) -> list:
        """(title, text) of everything the workload said, for a failed test."""
        out = self.output_file()
        sections = [(f"workload output {out}", "\n".join(tail(out, 100000)))]
        stdio = tail(self.stdio, 100000)
        if stdio:
            sections.append((f"workload stdout/stderr {self.stdio}", "\n".join(stdio)))
        return sections

