"""Turning a workload source into something the launcher can run.

C workloads are compiled against our library, Python workloads are staged
with the Python library: both land in a content-addressed directory under the
state dir (reachable by the workload uid), built once under a file lock so
xdist workers needing the same thing wait for each other instead of racing.
"""
from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from .desc import Desc
from .suite import Workload

LIB_DIR = Path(__file__).resolve().parent / "lib"
C_LIB_DIR = LIB_DIR / "c"
PY_LIB_DIR = LIB_DIR / "py"
CC = os.environ.get("CC", "cc")
# -Werror as upstream: a warning in a workload is a bug in it (a .desc may add -Wno-error).
CFLAGS = ("-O2", "-g", "-Wall", "-Werror", "-D_GNU_SOURCE")
LIBS = ("-lpthread", "-lrt")
BUILD_TIMEOUT = 120
WORKLOAD_PYTHON = os.environ.get("ZDTM_WORKLOAD_PYTHON", "/usr/bin/python3")


class BuildError(Exception):
    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class Executable:
    argv: tuple            # command prefix; the protocol options follow
    env: tuple = ()        # extra (name, value) pairs for the environment
    hook: Optional[str] = None   # upstream's NAME.hook, run at the points of the cycle


@contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def _files_digest(paths) -> str:
    return _digest(*[x for p in sorted(paths) for x in (p.name, p.read_bytes())])


def _run(cmd, cwd, what):
    try:
        res = subprocess.run(cmd, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, timeout=BUILD_TIMEOUT)
    except FileNotFoundError:
        raise BuildError(f"{what}: compiler '{cmd[0]}' not found (install gcc or set CC)") from None
    except subprocess.TimeoutExpired as e:
        raise BuildError(f"{what}: compiler timed out after {BUILD_TIMEOUT}s", e.output or "") from None
    if res.returncode != 0:
        raise BuildError(f"{what}: compiler exited with {res.returncode}:\n{res.stdout.strip()}",
                         res.stdout)


def _publish(tmp: Path, final: Path) -> None:
    """Make a finished build visible atomically and readable by everyone."""
    for dirpath, dirs, files in os.walk(tmp):
        os.chmod(dirpath, 0o755)
        for f in files:
            p = os.path.join(dirpath, f)
            os.chmod(p, 0o755 if os.access(p, os.X_OK) else 0o644)
    os.rename(tmp, final)


class Builder:
    def __init__(self, state_dir: Path):
        self.root = state_dir / "build"

    def build_once(self, key: str, make) -> Path:
        """Run make(tmpdir) unless root/key exists; return root/key."""
        final = self.root / key
        if final.is_dir():
            return final
        with locked(self.root / f"{key}.lock"):
            if final.is_dir():
                return final
            tmp = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
            try:
                make(tmp)
                _publish(tmp, final)
            finally:
                shutil.rmtree(tmp, ignore_errors=True)
        return final

    def c_library(self) -> Path:
        sources = sorted(C_LIB_DIR.glob("*.c"))
        headers = sorted(C_LIB_DIR.glob("*.h"))
        key = "libzdtmtst-" + _digest(CC, CFLAGS, _files_digest(sources + headers))

        def make(tmp: Path):
            objs = []
            for src in sources:
                obj = tmp / (src.stem + ".o")
                _run([CC, *CFLAGS, "-I", str(C_LIB_DIR), "-c", str(src), "-o", str(obj)],
                     tmp, f"building the C workload library ({src.name})")
                objs.append(str(obj))
            _run(["ar", "rcs", str(tmp / "libzdtmtst.a"), *objs], tmp, "archiving the C workload library")

        return self.build_once(key, make) / "libzdtmtst.a"

    def build(self, workload: Workload, desc: Desc) -> Executable:
        self.root.mkdir(parents=True, exist_ok=True)
        os.chmod(self.root, 0o755)
        if workload.kind == "c":
            return self._build_c(workload, desc)
        if workload.kind == "py":
            return self._stage_py(workload)
        if workload.kind == "upstream":
            from . import upstream
            return upstream.build(self, workload)
        raise BuildError(f"{workload.name}: don't know how to build a '{workload.kind}' workload")

    def _build_c(self, workload: Workload, desc: Desc) -> Executable:
        lib = self.c_library()
        src = workload.source.read_bytes()
        stem = workload.source.stem
        key = f"{stem}-" + _digest(src, lib.parent.name, desc.cflags, desc.ldflags)

        def make(tmp: Path):
            _run([CC, *CFLAGS, "-I", str(C_LIB_DIR), *desc.cflags, str(workload.source), str(lib),
                  *desc.ldflags, *LIBS, "-o", str(tmp / stem)], tmp, f"compiling {workload.source}")

        out = self.build_once(key, make)
        return Executable((str(out / stem),))

    def tool(self, source: Path) -> Path:
        """A helper program of the harness itself (e.g. the ns init)."""
        key = f"{source.stem}-tool-" + _digest(CC, CFLAGS, source.read_bytes())

        def make(tmp: Path):
            _run([CC, *CFLAGS, str(source), "-o", str(tmp / source.stem)], tmp, f"compiling {source}")

        self.root.mkdir(parents=True, exist_ok=True)
        return self.build_once(key, make) / source.stem

    def plugin(self, workload: Workload, include_dir) -> Path:
        """Build the criu plugin of a `crlib` test: <root>/plugins/NAME.c
        becomes NAME.so alone in a directory given to criu as --libdir."""
        src = workload.root.path / "plugins" / workload.source.name
        if workload.kind != "c" or not src.is_file():
            raise BuildError(f"{workload.name}: flag 'crlib' but no plugin source {src}")
        if include_dir is None:
            raise BuildError(f"{workload.name}: flag 'crlib' but criu-plugin.h was not found "
                             f"(the provisioned criu carries it; or install libcriu-dev)")
        stem = workload.source.stem
        key = f"{stem}-plugin-" + _digest(src.read_bytes(), include_dir)

        def make(tmp: Path):
            _run([CC, *CFLAGS, "-fPIC", "-shared", "-I", str(include_dir), "-I", str(C_LIB_DIR),
                  str(src), "-o", str(tmp / f"{stem}.so")], tmp, f"compiling the criu plugin {src}")

        return self.build_once(key, make)

    def _stage_py(self, workload: Workload) -> Executable:
        libs = sorted(PY_LIB_DIR.glob("*.py"))
        src = workload.source.read_bytes()
        key = f"{workload.source.stem}-py-" + _digest(src, _files_digest(libs))

        def make(tmp: Path):
            (tmp / "lib").mkdir()
            for lib in libs:
                shutil.copy(lib, tmp / "lib" / lib.name)
            shutil.copy(workload.source, tmp / workload.source.name)

        out = self.build_once(key, make)
        if not os.access(WORKLOAD_PYTHON, os.X_OK):
            raise BuildError(f"{workload.name}: workload interpreter {WORKLOAD_PYTHON} is missing "
                             f"(set ZDTM_WORKLOAD_PYTHON to a Python every user can run)")
        return Executable((WORKLOAD_PYTHON, str(out / workload.source.name)),
                          (("PYTHONPATH", str(out / "lib")), ("PYTHONDONTWRITEBYTECODE", "1")))
