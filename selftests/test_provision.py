"""Unit tests of zdtm.provision (fast, no network) plus one slow real provisioning."""

from __future__ import annotations

import fcntl
import importlib
import json
import os
import pkgutil
import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest

from zdtm import provision as prov
from zdtm.provision import ProvisionError
from zdtm.provision import apt as prov_apt
from zdtm.provision import common as prov_common
from zdtm.provision import criu as prov_criu
from zdtm.provision import prefix as prov_prefix
from zdtm.provision import pycriu as prov_pycriu
from zdtm.provision import stamp as prov_stamp

MIRROR = "http://mirror.example/debian"
SECURITY = "http://mirror.example/debian-security"

DEB822 = f"""\
# a comment
Types: deb
# http://snapshot.example/archive/debian/20250520T000000Z
URIs: {MIRROR}
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: {SECURITY}
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Enabled: no
Types: deb
URIs: http://disabled.example/debian
Suites: bookworm
Components: main
"""

ONE_LINE = f"""\
# deb http://commented.example/debian bookworm main
deb [arch=amd64 signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] {SECURITY} bookworm-security main
deb-src {MIRROR} bookworm main
deb {MIRROR} bookworm main contrib  # trailing comment
deb {MIRROR} bookworm-updates main
"""


class Logs(list):
    def __call__(self, msg: str) -> None:
        self.append(msg)

    def text(self) -> str:
        return "\n".join(self)


# ----------------------------------------------------------------- the package


def test_public_names_reexported():
    """What other modules import from zdtm.provision is there."""
    for name in prov.__all__:
        assert getattr(prov, name).__module__.startswith("zdtm.provision."), name


# ----------------------------------------------------------------- sources parsing


def test_deb822_parsing():
    entries = prov.parse_deb822_sources(DEB822, "x.sources")
    assert len(entries) == 2  # the disabled stanza is skipped
    base, sec = entries
    assert base.types == ["deb"]
    assert base.uris == [MIRROR]
    assert base.suites == ["bookworm", "bookworm-updates"]
    assert base.components == ["main"]
    assert base.signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert sec.suites == ["bookworm-security"]


def test_deb822_embedded_key_is_kept_as_block():
    text = (f"Types: deb\nURIs: {MIRROR}\nSuites: bookworm\nComponents: main\n"
            "Signed-By:\n -----BEGIN PGP PUBLIC KEY BLOCK-----\n .\n AAAA\n"
            " -----END PGP PUBLIC KEY BLOCK-----\n")
    (e,) = prov.parse_deb822_sources(text)
    assert e.signed_by.startswith("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nAAAA")


def test_one_line_parsing():
    entries = prov.parse_one_line_sources(ONE_LINE)
    assert [(e.types[0], e.uris[0], e.suites[0]) for e in entries] == [
        ("deb", SECURITY, "bookworm-security"),
        ("deb-src", MIRROR, "bookworm"),
        ("deb", MIRROR, "bookworm"),
        ("deb", MIRROR, "bookworm-updates"),
    ]
    assert entries[0].signed_by == "/usr/share/keyrings/debian-archive-keyring.gpg"
    assert entries[0].options == {"arch": "amd64"}
    assert entries[2].components == ["main", "contrib"]


def _etc(tmp_path: Path, sources_list: str | None = None, parts: dict[str, str] | None = None) -> Path:
    etc = tmp_path / "etc-apt"
    (etc / "sources.list.d").mkdir(parents=True)
    if sources_list is not None:
        (etc / "sources.list").write_text(sources_list)
    for name, text in (parts or {}).items():
        (etc / "sources.list.d" / name).write_text(text)
    return etc


def test_derive_uri_from_deb822(tmp_path):
    etc = _etc(tmp_path, parts={
        "debian.sources": DEB822,
        "other.list.disabled-by-farm": "deb http://ignored.example/x bookworm main\n",
    })
    uri, signed = prov.derive_base_source("bookworm", prov.read_apt_sources(etc))
    assert uri == MIRROR
    assert signed == "/usr/share/keyrings/debian-archive-keyring.gpg"


def test_derive_uri_from_one_line(tmp_path):
    etc = _etc(tmp_path, sources_list=ONE_LINE)
    uri, signed = prov.derive_base_source("bookworm", prov.read_apt_sources(etc))
    assert uri == MIRROR  # not the security entry, not deb-src
    assert signed is None


def test_derive_uri_prefers_sources_list_order_and_strips_slash(tmp_path):
    etc = _etc(tmp_path, sources_list=f"deb {MIRROR}/ bookworm main\n",
               parts={"debian.sources": DEB822.replace(MIRROR, "http://second.example/debian")})
    uri, _ = prov.derive_base_source("bookworm", prov.read_apt_sources(etc))
    assert uri == MIRROR


def test_derive_uri_missing(tmp_path):
    etc = _etc(tmp_path, parts={"sec.sources": DEB822.split("\n\n")[1]})
    with pytest.raises(ProvisionError, match="no 'deb' apt source for suite 'bookworm'"):
        prov.derive_base_source("bookworm", prov.read_apt_sources(etc))


def test_base_codename(tmp_path):
    f = tmp_path / "os-release"
    f.write_text('PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nVERSION_CODENAME=bookworm\n')
    assert prov.base_codename(f) == "bookworm"
    f.write_text("ID=debian\n")
    with pytest.raises(ProvisionError, match="VERSION_CODENAME"):
        prov.base_codename(f)


def test_version_tuple():
    assert prov_apt._version_tuple("4.2.1-1") == (4, 2, 1)
    assert prov_apt._version_tuple("1:4.2-3+b1") == (4, 2)
    assert prov_apt._version_tuple("3.17.1-2+deb12u1") == (3, 17, 1)
    assert prov_apt._version_tuple("4.2.1-1")[:2] >= prov_criu.MIN_VERSION
    assert prov_apt._version_tuple("4.1.1-2") < prov_criu.MIN_VERSION


# ------------------------------------------------------------------ explicit criu


def test_explicit_criu_missing(tmp_path, monkeypatch):
    monkeypatch.delenv("ZDTM_CRIU_BIN", raising=False)
    missing = tmp_path / "no" / "criu"
    with pytest.raises(ProvisionError, match="does not exist") as ei:
        prov.find_criu(str(missing), cache_dir=tmp_path / "cache", install=False)
    assert str(missing) in str(ei.value)


def test_explicit_criu_not_executable(tmp_path, monkeypatch):
    monkeypatch.delenv("ZDTM_CRIU_BIN", raising=False)
    f = tmp_path / "criu"
    f.write_text("")
    f.chmod(0o644)
    if os.access(f, os.X_OK):  # pragma: no cover - odd filesystems
        pytest.skip("file is executable regardless of mode here")
    with pytest.raises(ProvisionError, match="not an executable"):
        prov.find_criu(str(f), cache_dir=tmp_path / "cache", install=False)


def test_env_criu_bin(tmp_path, monkeypatch):
    f = _fake_criu(tmp_path / "bin", good=False)
    monkeypatch.setenv("ZDTM_CRIU_BIN", str(f))
    # explicit wins even if `criu check` would fail
    assert prov.find_criu(cache_dir=tmp_path / "cache", install=False) == f
    monkeypatch.setenv("ZDTM_CRIU_BIN", str(tmp_path / "nope"))
    with pytest.raises(ProvisionError, match="nope"):
        prov.find_criu(cache_dir=tmp_path / "cache", install=False)


# --------------------------------------------------------- stamp, lock, discovery


def _fake_criu(d: Path, good: bool = True) -> Path:
    d.mkdir(parents=True, exist_ok=True)
    f = d / "criu"
    if good:
        f.write_text("#!/bin/sh\necho 'Looks good.'\n")
    else:
        f.write_text("#!/bin/sh\necho 'Error (criu/vdso.c): vdso: Unexpected rt vDSO area bounds' >&2\nexit 1\n")
    f.chmod(0o755)
    return f


def _fake_provisioned(cache: Path, good: bool = True) -> Path:
    prefix = cache / "criu-4.2.1-1"
    criu = _fake_criu(prefix / "bin", good=good)
    (prefix / prov_prefix.PREFIX_MARKER).write_text("{}\n")
    prov_stamp._write_stamp(cache, {"format": prov_stamp.STAMP_FORMAT, "criu": str(criu),
                                    "prefix": str(prefix), "version": "4.2.1-1"})
    return criu


@pytest.fixture
def no_commands(monkeypatch):
    """Fail the test if provisioning would run any external command."""
    def boom(cmd, *a, **kw):
        raise AssertionError(f"unexpected command {cmd}")
    # Each module of the package calls the _run it imported from zdtm.provision.common.
    for info in pkgutil.iter_modules(prov.__path__):
        mod = importlib.import_module(f"{prov.__name__}.{info.name}")
        if hasattr(mod, "_run"):
            monkeypatch.setattr(mod, "_run", boom)
    monkeypatch.delenv("ZDTM_CRIU_BIN", raising=False)
    monkeypatch.setattr(prov_criu, "_EXTRA_CRIU_DIRS", [])
    prov_criu._check_memo.clear()


def test_stamp_makes_second_call_quick(tmp_path, no_commands):
    cache = tmp_path / "cache"
    criu = _fake_provisioned(cache)
    assert prov.provision_criu(cache, log=Logs()) == criu     # no command ran (no_commands)
    assert json.loads((cache / prov_stamp.STAMP_NAME).read_text())["criu"] == str(criu)


def test_stamp_ignored_when_binary_gone_or_half_built(tmp_path):
    cache = tmp_path / "cache"
    criu = _fake_provisioned(cache)
    assert prov.read_stamp(cache)
    criu.unlink()
    assert prov.read_stamp(cache) is None
    # a half-finished build without stamp is not success
    cache2 = tmp_path / "cache2"
    _fake_criu(cache2 / ".build-criu-4.2.1-1-xyz" / "bin")
    assert prov.read_stamp(cache2) is None
    (cache2 / prov_stamp.STAMP_NAME).write_text("{garbage")
    assert prov.read_stamp(cache2) is None


def test_waits_for_lock_then_uses_stamp(tmp_path, no_commands):
    cache = tmp_path / "cache"
    cache.mkdir()
    fd = os.open(cache / prov_stamp.LOCK_NAME, os.O_RDWR | os.O_CREAT)
    fcntl.flock(fd, fcntl.LOCK_EX)  # "another worker" is provisioning
    result, logs = [], Logs()
    th = threading.Thread(target=lambda: result.append(prov.provision_criu(cache, log=logs)))
    th.start()
    time.sleep(0.5)
    assert th.is_alive() and not result
    criu = _fake_provisioned(cache)  # the other worker finishes ...
    fcntl.flock(fd, fcntl.LOCK_UN)  # ... and releases the lock
    os.close(fd)
    th.join(10)
    assert result == [criu]
    assert "waiting for" in logs.text()


def test_find_criu_prefers_provisioned(tmp_path, no_commands, monkeypatch):
    cache = tmp_path / "cache"
    criu = _fake_provisioned(cache)
    _fake_criu(tmp_path / "path", good=True)
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    assert prov.find_criu(cache_dir=cache, install=False, log=Logs()) == criu


def test_find_criu_path_failing_check_falls_through(tmp_path, no_commands, monkeypatch):
    bad = _fake_criu(tmp_path / "path", good=False)
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    logs = Logs()
    with pytest.raises(ProvisionError, match="no working criu"):
        prov.find_criu(cache_dir=tmp_path / "cache", install=False, log=logs)
    assert f"{bad} fails `criu check`" in logs.text()
    assert "Unexpected rt vDSO area bounds" in logs.text()


def test_find_criu_path_passing_check(tmp_path, no_commands, monkeypatch):
    good = _fake_criu(tmp_path / "path", good=True)
    monkeypatch.setenv("PATH", str(tmp_path / "path"))
    assert prov.find_criu(cache_dir=tmp_path / "cache", install=False, log=Logs()) == good


def test_find_criu_installs_when_needed(tmp_path, no_commands, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    cache = tmp_path / "cache"
    calls = []

    def fake_provision(cache_dir, log=print, force=False):
        calls.append(cache_dir)
        return _fake_provisioned(cache_dir)

    monkeypatch.setattr(prov_criu, "provision_criu", fake_provision)  # where find_criu looks it up
    criu = prov.find_criu(cache_dir=cache, install=True, log=Logs())
    assert calls == [cache.absolute()] and criu.name == "criu"


def test_prefix_and_plugin_include(tmp_path):
    cache = tmp_path / "cache"
    criu = _fake_provisioned(cache)
    prefix = criu.parent.parent
    assert prov.criu_prefix(criu) == prefix
    assert prov.criu_prefix(_fake_criu(tmp_path / "sys" / "bin")) is None
    inc = prefix / "root/usr/include/criu"
    inc.mkdir(parents=True)
    (inc / "criu-plugin.h").write_text("/* */\n")
    (prefix / "include").mkdir()
    os.symlink("../root/usr/include/criu", prefix / "include/criu")
    assert prov.plugin_include_dir(criu) == prefix / "include/criu"


def test_collect_libs_resolves_absolute_symlinks(tmp_path):
    root = tmp_path / "root"
    arch = root / "usr/lib/x86_64-linux-gnu"
    arch.mkdir(parents=True)
    (arch / "ld-linux-x86-64.so.2").write_text("ld")
    (arch / "libfoo.so.1.2.3").write_text("foo")
    os.symlink("libfoo.so.1.2.3", arch / "libfoo.so.1")
    (root / "usr/lib64").mkdir()
    os.symlink("/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", root / "usr/lib64/ld-linux-x86-64.so.2")
    os.symlink("/nonexistent/libgone.so.1", arch / "libgone.so.1")
    lib = tmp_path / "lib"
    assert prov_prefix._collect_libs(root, lib, "x86_64-linux-gnu") == 3
    assert (lib / "libfoo.so.1").read_text() == "foo"
    assert not os.readlink(lib / "libfoo.so.1").startswith("/")  # relocatable
    assert (lib / "ld-linux-x86-64.so.2").read_text() == "ld"
    assert not (lib / "libgone.so.1").exists()


def test_run_error_names_step_command_and_stderr(tmp_path):
    with pytest.raises(ProvisionError) as ei:
        prov_common._run(["sh", "-c", "echo first >&2; echo 'the real reason' >&2; exit 3"], "some step", 10)
    msg = str(ei.value)
    assert msg.startswith("some step:") and "exit code 3" in msg and "the real reason" in msg
    with pytest.raises(ProvisionError, match="timed out"):
        prov_common._run(["sleep", "5"], "slow step", 0.2)
    with pytest.raises(ProvisionError, match="cannot run"):
        prov_common._run([str(tmp_path / "nonexistent-tool")], "missing tool", 5)


def _fake_pycriu(cache: Path, version: str = "4.2.1-1") -> Path:
    prefix = cache / f"pycriu-{version}"
    (prefix / "bin").mkdir(parents=True)
    (prefix / "bin/crit").write_text("#!/bin/sh\n")
    (prefix / prov_pycriu.MARKER).write_text(json.dumps({
        "version": version, "suite": "sid", "python": "/usr/bin/python3", "protobuf": "3.21.12-17"}))
    return prefix


def test_pycriu_found_only_for_the_provisioned_criu(tmp_path, no_commands):
    cache = tmp_path / "cache"
    assert prov.find_pycriu(cache) is None                      # no criu provisioned
    _fake_provisioned(cache)
    assert prov.find_pycriu(cache) is None                      # criu, no pycriu yet
    _fake_pycriu(cache, "4.2.0-1")
    assert prov.find_pycriu(cache) is None                      # another criu version's
    prefix = _fake_pycriu(cache)
    found = prov.find_pycriu(cache)
    assert found.site == prefix / "site" and found.crit == prefix / "bin/crit"
    assert "4.2.1-1 (sid, python3-protobuf 3.21.12-17" in found.describe()
    assert prov.provision_pycriu(cache, log=Logs()) == found    # quick: no command ran


def test_pycriu_needs_a_provisioned_criu(tmp_path, no_commands):
    with pytest.raises(ProvisionError, match="no provisioned criu"):
        prov.provision_pycriu(tmp_path / "cache", log=Logs())


# -------------------------------------------------------------------- real thing


@pytest.mark.slow
def test_real_provision(tmp_path):
    """Provision for real from the newer Debian suite (network, ~10 s)."""
    if not (shutil.which("apt-get") and shutil.which("dpkg-deb")):
        pytest.skip("needs apt-get and dpkg-deb")
    cache = tmp_path / "cache"
    logs = Logs()
    criu = prov.provision_criu(cache, log=logs)
    version = json.loads((cache / prov_stamp.STAMP_NAME).read_text())["version"]
    assert criu == cache / f"criu-{version}" / "bin/criu"
    out = subprocess.run([criu, "--version"], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "Version: 4.2" in out.stdout, out
    prefix = prov.criu_prefix(criu)
    assert prefix is not None
    assert (prov.plugin_include_dir(criu) / "criu-plugin.h").is_file()
    assert (prefix / "lib/ld-linux-x86-64.so.2").exists()
    assert oct(prefix.stat().st_mode & 0o777) == "0o755"
    if os.geteuid() == 0:
        chk = subprocess.run([criu, "check"], capture_output=True, text=True, timeout=60)
        assert "Looks good." in chk.stdout + chk.stderr, chk
    before = len(logs)
    assert prov.provision_criu(cache, log=logs) == criu
    # the stamp answers: nothing downloaded, nothing provisioned again
    assert not any("download" in line or "provision" in line for line in logs[before:]), logs[before:]


@pytest.mark.slow
def test_real_pycriu_provision(tmp_path):
    """Debian's python3-pycriu of the provisioned criu's version, with its
    suite's python3-protobuf, loads in the system python3; crit runs (network)."""
    real = prov.read_stamp(prov_criu.default_cache_dir())
    if not (real and shutil.which("apt-get")):
        pytest.skip("needs a provisioned criu and apt-get")
    cache = tmp_path / "cache"
    fake = _fake_criu(cache / "criu-x" / "bin")
    prov_stamp._write_stamp(cache, {"format": prov_stamp.STAMP_FORMAT, "criu": str(fake),
                                    "prefix": str(fake.parent.parent), "version": real["version"],
                                    "suite": real["suite"]})
    found = prov.provision_pycriu(cache, log=Logs())
    assert found.version == real["version"] and found.python == prov_pycriu.system_python()
    env = dict(os.environ, PYTHONPATH=str(found.site))
    out = subprocess.run([found.python, "-c", "import pycriu.images, google.protobuf as p; print(p.__version__)"],
                         env=env, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    crit = subprocess.run([found.crit, "--help"], capture_output=True, text=True, timeout=60)
    assert crit.returncode == 0 and "decode" in crit.stdout, crit
    assert not list(cache.glob(".build-pycriu-*")), "work dir left"
