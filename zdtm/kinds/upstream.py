"""An existing upstream ZDTM tree (criu's test/zdtm) run by this harness.

A CRIU developer points us at a checkout (`--upstream DIR`); its static/ and
transition/ directories become test roots named upstream/static and
upstream/transition.  Upstream's own Makefile stays in charge of what it
knows: which tests exist ($(TST)), how each is built (its library, its
flags) and which arguments each gets (the recipe of NAME.pid).  The harness
then copies the binary into its build dir (so the ns flavors, whose root
only shows the state dir, can run it), starts it in a work dir of its own
(relative --filename/--dirname land there, not in the source tree) and
checkpoints and verifies it like any other workload.  NAME.checkskip and
NAME.hook are honoured as upstream's zdtm.py does; test/zdtm.desc's
exclusions become skips with that reason.
"""
from __future__ import annotations

import ast
import fcntl
import os
import re
import shlex
import subprocess
from contextlib import contextmanager
from functools import lru_cache
from pathlib import Path
from typing import Optional

from ..build import BuildError, Builder, Executable, digest
from ..desc import Desc
from ..outcome import PhaseFailure, Skip
from ..workload import SuiteError, TestRoot, Workload
from .base import Hooks, WorkloadKind

SUBDIRS = ("static", "transition")
MAKE_TIMEOUT = 600
CHECKSKIP_TIMEOUT = 60
# Upstream's library switches to the protocol's ids itself; ZDTM_NEWNS and
# friends are not set: our flavors make the namespaces, not the test binary.
LIST_TARGET = "zdtm-harness-list-tests"


def zdtm_dir(path: Path) -> Path:
    """criu checkout, its test/ or test/zdtm/ -> the test/zdtm directory."""
    path = Path(path).resolve()
    for d in (path / "test" / "zdtm", path / "zdtm", path):
        if (d / "Makefile.inc").is_file() and (d / "static" / "Makefile").is_file():
            return d
    raise SuiteError(f"{path}: not a ZDTM tree (expected test/zdtm/Makefile.inc and "
                     f"test/zdtm/static/Makefile in a criu checkout)")


def _make(args: list, what: str, timeout: float = MAKE_TIMEOUT) -> str:
    cmd = ["make", "--no-print-directory", *args]
    env = dict(os.environ, MAKEFLAGS="", LC_ALL="C")
    try:
        res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=timeout, env=env)
    except FileNotFoundError:
        raise BuildError(f"{what}: 'make' not found (upstream trees are built with their Makefile)") from None
    except subprocess.TimeoutExpired as e:
        raise BuildError(f"{what}: {shlex.join(cmd)} timed out after {timeout:g}s",
                         e.output if isinstance(e.output, str) else "") from None
    if res.returncode != 0:
        tail = "\n".join(res.stdout.strip().splitlines()[-30:])
        raise BuildError(f"{what}: {shlex.join(cmd)} exited with {res.returncode}", tail)
    return res.stdout


@lru_cache(maxsize=None)
def _test_names(root: Path, makefile_mtime: float) -> frozenset:
    try:
        out = _make(["-s", "-C", str(root), "--eval", f"{LIST_TARGET}: ; @echo $(TST)", LIST_TARGET],
                    f"listing the tests of {root}", timeout=60)
    except BuildError as e:
        raise SuiteError(f"{e}\n{e.output}") from None
    return frozenset(out.split())


def test_names(root: Path) -> frozenset:
    """The tests upstream's Makefile declares ($(TST): no state tests)."""
    return _test_names(root, (root / "Makefile").stat().st_mtime)


def _exclusions(root: TestRoot) -> dict:
    """test/zdtm.desc's exclude list, for the tests of this root."""
    desc = root.path.parent.parent / "zdtm.desc"
    if not desc.is_file():
        return {}
    try:
        data = ast.literal_eval(desc.read_text())
        entries = list(data.get("exclude") or [])
    except (ValueError, SyntaxError, AttributeError, TypeError) as e:
        raise SuiteError(f"{desc}: cannot read upstream's exclusions: {e}") from None
    sub = root.path.name + "/"
    return {f"upstream/{e}": f"excluded by upstream's {desc.name}"
            for e in entries if isinstance(e, str) and e.startswith(sub)}


def test_dir(workload: Workload) -> Path:
    """The tree's test/ directory: where upstream's zdtm.py runs checkskips
    and hooks from (they find zdtm/static/... and ../lib from there)."""
    return workload.root.path.parent.parent


def _checkskip(workload: Workload) -> Optional[str]:
    """Upstream's NAME.checkskip: an executable that fails when the test
    cannot run here. Returns the skip reason, or None."""
    script = workload.root.path / f"{workload.source.stem}.checkskip"
    if not os.access(script, os.X_OK):
        return None
    try:
        res = subprocess.run([str(script)], cwd=test_dir(workload), stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             timeout=CHECKSKIP_TIMEOUT)
    except subprocess.TimeoutExpired:
        return f"{script.name} did not finish within {CHECKSKIP_TIMEOUT}s"
    if res.returncode == 0:
        return None
    said = [line for line in res.stdout.strip().splitlines() if line.strip()]
    return f"{script.name} exited with {res.returncode}" + (f": {said[-1].strip()}" if said else "")


def _start_args(root: Path, name: str) -> tuple:
    """The workload arguments of upstream's NAME.pid recipe, minus the
    --pidfile/--outfile the harness gives itself."""
    out = _make(["-n", "-C", str(root), "--eval", f".PHONY: {name}.pid", f"{name}.pid"],
                f"{root.name}/{name}: reading its start command")
    for line in reversed(out.splitlines()):
        words = shlex.split(line)
        if words and words[0] in (f"./{name}", name, str(root / name)):
            return tuple(w for w in words[1:] if not w.startswith(("--pidfile=", "--outfile=")))
    raise BuildError(f"{root.name}/{name}: upstream's Makefile has no start command for {name}.pid", out)


@contextmanager
def _tree_lock(top: Path):
    """One make at a time per tree, whatever state dir the harness uses
    (every test's rule also makes ../lib): a lock on the directory itself."""
    fd = os.open(top, os.O_RDONLY | os.O_DIRECTORY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _build(builder: Builder, workload: Workload) -> Executable:
    root, name = workload.root.path, workload.source.stem
    with _tree_lock(root.parent):
        _make(["-C", str(root), name], f"building {workload.name} with upstream's Makefile")
        args = _start_args(root, name)
        binary = root / name
        if not os.access(binary, os.X_OK):
            raise BuildError(f"{workload.name}: upstream's Makefile made no executable {binary}")
        content = binary.read_bytes()
    # Short: some tests name UNIX sockets after their own path (108 bytes).
    key = "u-" + digest(content)

    def stage(tmp: Path):
        (tmp / name).write_bytes(content)
        os.chmod(tmp / name, 0o755)

    out = builder.build_once(key, stage)
    return Executable((str(out / name), *args))



class UpstreamHook(Hooks):
    """Upstream's NAME.hook, called as its zdtm.py does (--post-start,
    --pre-dump, --pre-restore, --post-restore, --clean), as root, from the
    tree's test/ directory (hooks find criu's lib/ from there)."""

    present = True

    def __init__(self, path: Path, cwd: Path):
        self.path, self.cwd = path, cwd

    def call(self, stage: str, *, test_pid: Optional[int], log: Path, timeout: float,
             images: Optional[Path] = None) -> None:
        arg = f"--{stage}"
        env = dict(os.environ)
        if test_pid:
            env["ZDTM_TEST_PID"] = str(test_pid)
        if images is not None:
            env["ZDTM_IMG_DIR"] = str(images)
        try:
            res = subprocess.run([str(self.path), arg], cwd=self.cwd, env=env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=timeout)
            rc, output = res.returncode, res.stdout
        except subprocess.TimeoutExpired as e:
            rc, output = None, e.output if isinstance(e.output, str) else ""
        with open(log, "a") as f:
            f.write(f"$ {self.path.name} {arg}\n{output}[exit {rc}]\n")
        if rc != 0:
            self._fail(arg, rc, output, timeout)

    def _fail(self, arg: str, rc: Optional[int], output: str, timeout: float) -> None:
        missing = re.search(r"^(?:ModuleNotFoundError: No module named '([^']+)'|"
                            r"ImportError: cannot import name '[^']+' from (?:partially initialized module )?"
                            r"'([^']+)')", output, re.M)
        if missing:
            raise Skip(f"{self.path.name} needs the Python module '{missing.group(1) or missing.group(2)}'"
                       f", not usable here ({missing.group(0)[:160]})")
        how = f"did not finish within {timeout:g}s" if rc is None else f"exited with {rc}"
        said = [line for line in output.strip().splitlines() if line.strip()]
        raise PhaseFailure("hook", f"{self.path.name} {arg} {how}" + (f": {said[-1].strip()}" if said else ""),
                           details=output)


class UpstreamKind(WorkloadKind):
    """A test of an existing ZDTM tree: upstream/static/NAME, upstream/transition/NAME."""

    name = "upstream"
    root_kind = "upstream"

    def tree_roots(self, path: Path, name: Optional[str]) -> list:
        top = zdtm_dir(path)
        return [TestRoot(f"upstream/{sub}", top / sub, self.root_kind)
                for sub in SUBDIRS if (top / sub / "Makefile").is_file()]

    def exclusions(self, root: TestRoot) -> dict:
        return _exclusions(root)

    def candidates(self, root: TestRoot) -> list:
        return [root.path / f"{n}.c" for n in sorted(test_names(root.path))]

    def is_test(self, root: TestRoot, path: Path) -> bool:
        return path.suffix == ".c" and path.stem in test_names(root.path)

    def build(self, builder: Builder, workload: Workload, desc: Desc) -> Executable:
        return _build(builder, workload)

    def skip_reason(self, workload: Workload) -> Optional[str]:
        return _checkskip(workload)

    def hooks(self, workload: Workload) -> Hooks:
        hook = workload.root.path / f"{workload.stem}.hook"
        return UpstreamHook(hook, test_dir(workload)) if os.access(hook, os.X_OK) else super().hooks(workload)

    def criu_opts(self, builder: Builder, workload: Workload, desc: Desc, criu_bin: Optional[str]) -> list:
        # Upstream's crlib tests keep their criu plugin beside them.
        return ["--libdir", str(workload.root.path)] if "crlib" in desc.flags else []
