"""Getting a working criu binary: find one (given, provisioned, or on PATH and
passing ``criu check``), or provision Debian's newest criu into the cache dir."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ..config import default_cache_dir
from .apt import _KeyringError, _native_arch, _private_keyring_from_base, _PrivateApt, _version_tuple
from .apt_sources import _mirror, _resolve_keyring, _system_apt_passthrough, base_codename
from .common import (T_CRIU_CHECK, T_CRIU_VERSION, Log, ProvisionError, _is_executable_file, _run)
from .prefix import _build_prefix, _check_world_access
from .stamp import LOCK_NAME, STAMP_FORMAT, _Lock, _write_stamp, read_stamp

#: Suites tried, in order.  The first one offering criu 4.2.x wins; if none offers a
#: 4.2.x, the first one offering anything >= MIN_VERSION is used (with a warning).
SUITES = ("sid", "forky")
MIN_VERSION = (4, 2)
PREFERRED_SERIES = (4, 2)

#: Packages needed in addition to criu's runtime closure.  Only the header package:
#: ``criu-plugin.h`` includes nothing but libc headers, so libcriu-dev's own
#: dependencies (libcriu2, libprotobuf-c-dev) are not needed for it.
EXTRA_PACKAGES = ("libcriu-dev",)


# ------------------------------------------------------------------------ provisioning


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
    """Provision (the caller holds the lock): pick the suite, build the prefix
    (download, extract, collect libraries, patch), verify the binary, stamp."""
    t0 = time.monotonic()
    # Leftovers of interrupted attempts (we hold the lock: nobody else is building).
    for old in cache_dir.glob(".build-criu-*"):
        shutil.rmtree(old, ignore_errors=True)
    _require_debian_tools()
    arch = _native_arch()
    apt, suite, version = _apt_of_newest_criu(cache_dir, arch, log)
    log(f"provision: criu {version} from {suite}")
    pkgs = _packages_to_fetch(apt)
    final = _build_prefix(cache_dir, apt, pkgs, version, suite, arch, log)
    criu = final / "bin" / "criu"
    _verify_provisioned(criu, final, log)
    _write_stamp(cache_dir, {
        "format": STAMP_FORMAT, "criu": str(criu), "prefix": str(final), "version": version,
        "suite": suite, "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "seconds": round(time.monotonic() - t0, 1),
    })
    log(f"provision: done in {time.monotonic() - t0:.1f} s")
    return criu


def _require_debian_tools() -> None:
    for tool in ("apt-get", "apt-cache", "dpkg-deb"):
        if not shutil.which(tool):
            raise ProvisionError(f"provision: {tool} not found (a Debian-based host is required)")


def _apt_of_newest_criu(cache_dir: Path, arch: str, log: Log) -> tuple[_PrivateApt, str, str]:
    """(private apt, suite, criu version) of the suite to take criu from, through the
    mirror of the base release.  Should the system keyring not verify that suite,
    the newest keyring of the base release is fetched and tried."""
    codename = base_codename()
    uri, signed_by = _mirror(codename)
    keyring = _resolve_keyring(signed_by, cache_dir / "apt")
    passthrough = _system_apt_passthrough()
    log(f"provision: base release {codename}, mirror from the system apt sources, keyring {keyring}")
    try:
        return _pick_suite(cache_dir, uri, keyring, arch, passthrough, log)
    except _KeyringError as e:
        log(f"provision: {str(e).splitlines()[0]}")
        keyring = _private_keyring_from_base(cache_dir, uri, codename, keyring, arch, passthrough, log)
        try:
            return _pick_suite(cache_dir, uri, keyring, arch, passthrough, log)
        except _KeyringError as e2:
            raise ProvisionError(
                f"keyring: neither the system keyring nor the newest debian-archive-keyring of "
                f"{codename} verifies the newer suite:\n{e2}"
            ) from None


def _pick_suite(cache_dir: Path, uri: str, keyring: Path, arch: str, passthrough: list[str],
                log: Log) -> tuple[_PrivateApt, str, str]:
    """The first of the suites (SUITES, or $ZDTM_CRIU_SUITES) offering criu
    PREFERRED_SERIES, else the first offering at least MIN_VERSION."""
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


def _packages_to_fetch(apt: _PrivateApt) -> list[str]:
    """criu's runtime closure plus EXTRA_PACKAGES."""
    pkgs = apt.depends_closure("criu")
    for extra in EXTRA_PACKAGES:
        if extra not in pkgs:
            pkgs.append(extra)
    return pkgs


def _verify_provisioned(criu: Path, final: Path, log: Log) -> None:
    """Run the provisioned criu (a prefix whose criu does not run is removed again)
    and log what ``criu check`` says of it."""
    try:
        ver_out = _run([criu, "--version"], "run the provisioned criu --version", T_CRIU_VERSION)
    except ProvisionError:
        shutil.rmtree(final, ignore_errors=True)
        raise
    first = (ver_out.stdout.strip().splitlines() or ["?"])[0]
    ok, why = criu_check(criu)
    log(f"provision: {criu}: {first}; criu check: {'Looks good.' if ok else 'FAILED: ' + why}")
    _check_world_access(final, log)


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
            f"{cache_dir}, none on PATH passing `criu check`; run `zdtm provision`"
        )
    log(f"criu: provisioning a private criu into {cache_dir}")
    criu = provision_criu(cache_dir, log=log)
    ok, why = criu_check(criu)
    if not ok:
        log(f"criu: warning: provisioned {criu} fails `criu check`: {why}")
    return criu
