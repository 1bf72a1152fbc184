"""What every step of provisioning shares: the error, the timeouts, running
external commands and small file helpers."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import tempfile
from pathlib import Path
from typing import Callable

Log = Callable[[str], None]

# Timeouts (seconds) of the external commands.
T_APT_UPDATE = 600
T_APT_QUERY = 120
T_APT_DOWNLOAD = 900
T_DPKG = 120
T_PATCHELF = 60
T_CRIU_VERSION = 30
T_CRIU_CHECK = 60
T_PIP = 300

_STDERR_TAIL = 15  # lines of stderr quoted in a ProvisionError


class ProvisionError(Exception):
    """Provisioning/finding criu failed; the message says which step and why."""


# --------------------------------------------------------------------------- helpers


def _tail(text: str | bytes | None, lines: int = _STDERR_TAIL) -> str:
    if text is None:
        return ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    out = [ln for ln in text.strip().splitlines() if ln.strip()]
    return "\n".join("    " + ln for ln in out[-lines:])


def _run(
    cmd: list[str],
    step: str,
    timeout: float,
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run *cmd*; on failure raise ProvisionError naming *step*, the command and stderr."""
    cmd = [str(c) for c in cmd]
    try:
        proc = subprocess.run(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            errors="replace",
            timeout=timeout,
            env=env,
            cwd=cwd,
        )
    except FileNotFoundError as e:
        raise ProvisionError(f"{step}: cannot run {shlex.join(cmd)}: {e.strerror}: {e.filename}") from None
    except subprocess.TimeoutExpired as e:
        raise ProvisionError(
            f"{step}: {shlex.join(cmd)} timed out after {timeout:g} s\n{_tail(e.stderr)}"
        ) from None
    if check and proc.returncode != 0:
        detail = _tail(proc.stderr) or _tail(proc.stdout)
        raise ProvisionError(
            f"{step}: {shlex.join(cmd)} failed with exit code {proc.returncode}\n{detail}".rstrip()
        )
    return proc


def _is_executable_file(p: Path) -> bool:
    return p.is_file() and os.access(p, os.X_OK)


def _atomic_write(path: Path, data: str, mode: int = 0o644) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def _safe_version(version: str) -> str:
    """A Debian version usable in a directory name ('1:4.2-1' -> '1_4.2-1')."""
    return re.sub(r"[^A-Za-z0-9.+~-]", "_", version)


def _fix_permissions(top: Path) -> None:
    """Dirs 0755, files 0755 (if any x bit) or 0644, so other uids can use the prefix."""
    for dirpath, dirnames, filenames in os.walk(top):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if not os.path.islink(p):
                os.chmod(p, 0o755 if st.st_mode & 0o111 else 0o644)
