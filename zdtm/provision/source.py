"""The source of the provisioned criu's version (upstream's tarball as in
Debian's source package, verified against the signed source index): its
test/zdtm is upstream's ZDTM tree, which ``--upstream`` runs. pycriu and
crit of the same version come with it (some of that tree's hooks need them)."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
import time
from pathlib import Path

from ..config import default_cache_dir
from .apt import _native_arch, _PrivateApt
from .apt_sources import _mirror, _resolve_keyring, _system_apt_passthrough, base_codename
from .common import (T_APT_DOWNLOAD, T_APT_QUERY, T_DPKG, Log, ProvisionError, _fix_permissions, _run,
                     _safe_version, _tail)
from .criu import provision_criu
from .pycriu import provision_pycriu
from .stamp import _Lock, read_stamp

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
    tree, to run with ``--upstream``. Returns the tree; quick when present.
    Also provisions pycriu and crit of that version for the tree's hooks."""
    cache_dir = Path(cache_dir or default_cache_dir()).absolute()
    st = read_stamp(cache_dir)
    if not st:
        provision_criu(cache_dir, log)
        st = read_stamp(cache_dir)
    try:
        provision_pycriu(cache_dir, log)
    except ProvisionError as e:     # only the hooks that import pycriu need it: they skip
        log(f"provision: warning: no pycriu for upstream's hooks: {e}")
    version, suite = st["version"], st["suite"]
    safe_ver = _safe_version(version)
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
            _run(["tar", "--no-same-owner", "-xf", tarballs[0], "-C", work / "src"], f"extract {tarballs[0].name}", T_DPKG)
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
