"""A private apt: apt-get/apt-cache bound to a configuration under the cache
dir (own apt.conf read via ``APT_CONFIG``, own sources list, state, cache and
lists; no system ``apt.conf.d``, ``sources.list.d`` or preferences are read,
and nothing outside the cache dir is written), plus what provisioning asks of
it besides: the native architecture, Debian version numbers and, should the
system keyring not verify the newer suite, a private newer keyring."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
from pathlib import Path

from .common import (T_APT_DOWNLOAD, T_APT_QUERY, T_APT_UPDATE, T_DPKG, Log, ProvisionError, _run,
                     _tail)

KEYRING_IN_DEB = "usr/share/keyrings/debian-archive-keyring.gpg"


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


def _apt_quote(s: str) -> str:
    return '"' + s.replace('"', "") + '"'


class _KeyringError(ProvisionError):
    """apt-get update failed over a signature: a newer keyring may verify the suite."""


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


def _native_arch() -> str:
    try:
        return _run(["dpkg", "--print-architecture"], "detect architecture", T_DPKG).stdout.strip()
    except ProvisionError:
        return {"x86_64": "amd64", "aarch64": "arm64"}.get(os.uname().machine, os.uname().machine)


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
