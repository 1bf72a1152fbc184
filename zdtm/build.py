"""The build cache: content-addressed directories under the state dir.

Whatever a workload kind makes (a compiled C workload, a staged Python one, an
upstream binary, a criu plugin) and the harness's own helpers (the ns init)
land in <state>/build/KEY, reachable by the workload uid, built once under a
file lock so xdist workers needing the same thing wait for each other instead
of racing. The kinds (zdtm.kinds) decide what to build; this module knows
only how to build something once.
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


CC = os.environ.get("CC", "cc")
# -Werror as upstream: a warning in a workload or helper is a bug in it (a .desc may add -Wno-error).
CFLAGS = ("-O2", "-g", "-Wall", "-Werror", "-D_GNU_SOURCE")
BUILD_TIMEOUT = 120


class BuildError(Exception):
    def __init__(self, message: str, output: str = ""):
        super().__init__(message)
        self.output = output


@dataclass(frozen=True)
class Executable:
    argv: tuple            # command prefix; the protocol options follow
    env: tuple = ()        # extra (name, value) pairs for the environment


@contextmanager
def locked(path: Path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def digest(*parts) -> str:
    h = hashlib.sha256()
    for part in parts:
        h.update(part if isinstance(part, bytes) else str(part).encode())
        h.update(b"\0")
    return h.hexdigest()[:16]


def files_digest(paths) -> str:
    return digest(*[x for p in sorted(paths) for x in (p.name, p.read_bytes())])


def compile_step(cmd, cwd, what):
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
        if not self.root.is_dir():
            self.root.mkdir(parents=True, exist_ok=True)
            os.chmod(self.root, 0o755)      # the workload uid runs what is built here
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

    def tool(self, source: Path) -> Path:
        """A helper program of the harness itself (e.g. the ns init)."""
        key = f"{source.stem}-tool-" + digest(CC, CFLAGS, source.read_bytes())

        def make(tmp: Path):
            compile_step([CC, *CFLAGS, str(source), "-o", str(tmp / source.stem)], tmp, f"compiling {source}")

        return self.build_once(key, make) / source.stem
