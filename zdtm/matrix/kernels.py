"""The kernels of the matrix: desc/kernels.yaml, and each one resolved,
fetched and cached.

A Debian kernel is named by a meta-package and a suite (`linux-image-amd64`
in `bookworm`): the package name of 6.1 changes with each ABI bump, so the
meta-package is resolved to the real `linux-image-<abi>-amd64` and its
version at run time, through a private apt (zdtm.provision's: the mirror and
keyring of the machine's own sources, nothing written outside the cache dir).
The .deb is fetched with `apt-get download` (apt checks it against the signed
index) and its SHA256 compared once more with the index before `dpkg-deb -x`.
Modules are decompressed (.ko.xz: busybox's insmod and some kmods cannot
read them) and `depmod`ed once per kernel. Each kernel is cached in
`<cache>/kernels/<package>_<version>/`, complete once its `kernel.json` is
written (atomically, last).

A local kernel (`bzimage:` and `modules:`) is taken as it is; `host: true`
is the machine's own kernel, run without a guest.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from ..config import PROJECT_DIR
from ..provision.common import ProvisionError

KERNELS_FILE = PROJECT_DIR / "desc" / "kernels.yaml"
STAMP = "kernel.json"
STAMP_FORMAT = 1
T_DEPMOD = 300


class KernelError(Exception):
    """A kernel cannot be had; the message names the kernel and the step."""


@dataclass
class KernelSpec:
    """One line of desc/kernels.yaml."""
    name: str
    suite: str = ""
    package: str = ""
    bzimage: str = ""
    modules: str = ""
    host: bool = False
    default: bool = True
    note: str = ""

    @property
    def kind(self) -> str:
        return "host" if self.host else ("local" if self.bzimage else "debian")


@dataclass
class Kernel:
    """A kernel ready to boot (or the host's)."""
    spec: KernelSpec
    release: str = ""               # uname -r of the kernel
    vmlinuz: Optional[Path] = None
    modules: Optional[Path] = None  # lib/modules/<release> (modules.dep in it)
    config: Optional[Path] = None   # boot/config-<release>, where the package has it
    source: dict = field(default_factory=dict)   # package, version, suite, sha256 (Debian kernels)

    @property
    def name(self) -> str:
        return self.spec.name

    def describe(self) -> str:
        if self.spec.host:
            return f"{self.name}: the host's kernel {self.release}"
        if self.source:
            s = self.source
            return f"{self.name}: {s['package']} {s['version']} ({s['suite']}), sha256 {s['sha256'][:12]}"
        return f"{self.name}: {self.vmlinuz} ({self.release})"


def load_specs(path: Path = KERNELS_FILE) -> list:
    """desc/kernels.yaml: `kernels:` a list of {name, suite + package | bzimage
    + modules | host, default}. Errors name the file and the entry."""
    try:
        data = yaml.safe_load(Path(path).read_text())
    except (OSError, yaml.YAMLError) as e:
        raise KernelError(f"{path}: {e}") from None
    entries = data.get("kernels") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise KernelError(f"{path}: expected a mapping with a non-empty list 'kernels'")
    specs, seen = [], set()
    for i, e in enumerate(entries):
        where = f"{path}, kernel {i + 1}"
        if not isinstance(e, dict) or not e.get("name"):
            raise KernelError(f"{where}: each kernel needs a name")
        unknown = set(e) - set(KernelSpec.__dataclass_fields__)
        if unknown:
            raise KernelError(f"{where} ({e['name']}): unknown key(s) {', '.join(sorted(unknown))}")
        spec = KernelSpec(**{k: (str(v) if k not in ("host", "default") else bool(v)) for k, v in e.items()})
        kinds = [bool(spec.package), bool(spec.bzimage), spec.host]
        if sum(kinds) != 1:
            raise KernelError(f"{where} ({spec.name}): give exactly one of package (with suite), "
                              f"bzimage (with modules) or host: true")
        if spec.package and not spec.suite:
            raise KernelError(f"{where} ({spec.name}): package {spec.package} needs a suite")
        if spec.name in seen:
            raise KernelError(f"{where}: two kernels named {spec.name!r}")
        seen.add(spec.name)
        specs.append(spec)
    return specs


def select(specs: list, names: list) -> list:
    """The kernels named (all of them for `all`), else the default ones."""
    if not names:
        return [s for s in specs if s.default]
    if names == ["all"]:
        return list(specs)
    by_name = {s.name: s for s in specs}
    missing = [n for n in names if n not in by_name]
    if missing:
        raise KernelError(f"no kernel named {', '.join(missing)} in {KERNELS_FILE} "
                          f"(kernels: {', '.join(by_name)})")
    return [by_name[n] for n in names]


# ------------------------------------------------------------------ local and host


def host_kernel(spec: KernelSpec) -> Kernel:
    return Kernel(spec, release=os.uname().release)


def local_kernel(spec: KernelSpec) -> Kernel:
    image = Path(spec.bzimage).expanduser()
    if not image.is_file():
        raise KernelError(f"kernel {spec.name}: bzimage {image} is not a file")
    mods = Path(spec.modules).expanduser() if spec.modules else None
    if mods is None or not mods.is_dir():
        raise KernelError(f"kernel {spec.name}: modules {spec.modules!r} is not a directory "
                          f"(lib/modules/<release> of the kernel, or a dir holding it)")
    if not (mods / "modules.dep").is_file():
        subs = [d for d in mods.iterdir() if (d / "modules.dep").is_file()]
        if len(subs) != 1:
            raise KernelError(f"kernel {spec.name}: no modules.dep in {mods} nor in exactly one subdir "
                              f"(run depmod for it)")
        mods = subs[0]
    return Kernel(spec, release=mods.name, vmlinuz=image, modules=mods)


# ------------------------------------------------------------------ Debian kernels


def _apt(cache_dir: Path, suite: str):
    """The private apt of one suite, its index fresh."""
    from ..provision.apt import _native_arch, _PrivateApt
    from ..provision.apt_sources import _mirror, _resolve_keyring, _system_apt_passthrough, base_codename
    uri, signed_by = _mirror(base_codename())
    root = Path(cache_dir).absolute() / "kernels" / "apt"
    keyring = _resolve_keyring(signed_by, root)
    apt = _PrivateApt(root / suite, uri, [suite], keyring, _native_arch(), _system_apt_passthrough())
    apt.update()
    return apt


def _show(apt, pkg: str, version: str) -> dict:
    out = apt.run("apt-cache", ["show", f"{pkg}={version}"], f"apt-cache show {pkg}={version}", 120).stdout
    fields, key = {}, None
    for line in out.split("\n\n")[0].splitlines():
        if line[:1].isspace() and key:
            fields[key] += "\n" + line.strip()
        elif ":" in line:
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    return fields


def resolve(apt, spec: KernelSpec) -> tuple:
    """(real package, version, [(package, version, sha256)...] to fetch) of
    the spec's (meta-)package in its suite. Newer Debian kernels split the
    image into linux-binary-*, linux-modules-* and linux-base-* packages."""
    version = apt.candidate(spec.package)
    if not version:
        raise KernelError(f"kernel {spec.name}: no {spec.package} in {spec.suite}")
    fields = _show(apt, spec.package, version)
    pkg = spec.package
    if not re.match(r"linux-image-\d", spec.package):     # a meta-package: follow it to the image
        deps = re.findall(r"(linux-image-[0-9][^\s,(|]*)", fields.get("Depends", ""))
        if not deps:
            raise KernelError(f"kernel {spec.name}: {spec.package} {version} ({spec.suite}) depends on no "
                              f"linux-image-<version> package: {fields.get('Depends', '')!r}")
        pkg = deps[0]
        version = apt.candidate(pkg)
        if not version:
            raise KernelError(f"kernel {spec.name}: {pkg} (from {spec.package}) not in {spec.suite}")
        fields = _show(apt, pkg, version)
    abi = pkg[len("linux-image-"):]
    parts = [pkg] + [d for d in re.findall(r"(linux-(?:binary|modules|base)-[^\s,(|]+)", fields.get("Depends", ""))
                     if d.endswith(abi)]
    fetch = []
    for part in parts:
        f = fields if part == pkg else _show(apt, part, version)
        if not f.get("SHA256"):
            raise KernelError(f"kernel {spec.name}: the index of {spec.suite} has no SHA256 for {part} {version}")
        fetch.append((part, version, f["SHA256"]))
    return pkg, version, fetch


def _read_stamp(entry: Path) -> Optional[dict]:
    try:
        data = json.loads((entry / STAMP).read_text())
    except (OSError, ValueError):
        return None
    if data.get("format") != STAMP_FORMAT or not Path(data.get("vmlinuz", "")).is_file():
        return None
    return data


def _kernel_from_stamp(spec: KernelSpec, data: dict) -> Kernel:
    return Kernel(spec, release=data["release"], vmlinuz=Path(data["vmlinuz"]), modules=Path(data["modules"]),
                  config=Path(data["config"]) if data.get("config") else None,
                  source={k: data[k] for k in ("package", "version", "suite", "sha256")})


def debian_kernel(spec: KernelSpec, cache_dir: Path, log, offline: bool = False) -> Kernel:
    """Resolve, fetch, verify, unpack and depmod a Debian kernel (cached).
    offline: take the newest cached one of this spec without asking apt."""
    base = Path(cache_dir).absolute() / "kernels"
    base.mkdir(parents=True, exist_ok=True)
    if offline:
        cached = sorted((d for d in base.glob(f"{spec.suite}--*") if _read_stamp(d)
                         and _read_stamp(d)["meta"] == spec.package), key=lambda d: d.stat().st_mtime)
        if not cached:
            raise KernelError(f"kernel {spec.name}: --offline and nothing cached in {base}")
        return _kernel_from_stamp(spec, _read_stamp(cached[-1]))
    try:
        apt = _apt(cache_dir, spec.suite)
        pkg, version, parts = resolve(apt, spec)
    except ProvisionError as e:
        raise KernelError(f"kernel {spec.name}: resolve {spec.package} in {spec.suite}: {e}") from None
    entry = base / f"{spec.suite}--{pkg}_{version.replace(':', '%')}"
    with open(base / f".{entry.name}.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)         # another run may be fetching the same kernel
        data = _read_stamp(entry)
        if data is None:
            log(f"matrix: {spec.name}: fetching {pkg} {version} from {spec.suite}")
            data = _fetch(apt, spec, entry, parts)
    return _kernel_from_stamp(spec, data)


def _fetch(apt, spec: KernelSpec, entry: Path, parts: list) -> dict:
    t0 = time.monotonic()
    tmp = entry.with_name(entry.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    root = tmp / "root"
    for pkg, version, sha256 in parts:
        try:
            deb = apt.download([pkg], tmp / "deb" / pkg)[0]
        except ProvisionError as e:
            raise KernelError(f"kernel {spec.name}: download {pkg} {version}: {e}") from None
        digest = hashlib.sha256(deb.read_bytes()).hexdigest()
        if digest != sha256:
            raise KernelError(f"kernel {spec.name}: {deb.name}: sha256 {digest}, the signed index says {sha256}")
        _run(["dpkg-deb", "-x", str(deb), str(root)], f"kernel {spec.name}: unpack {deb.name}")
    shutil.rmtree(tmp / "deb")
    data = _prepare_tree(spec, root)
    pkg, version, sha256 = parts[0]
    data.update(format=STAMP_FORMAT, package=pkg, version=version, suite=spec.suite, meta=spec.package,
                sha256=sha256, parts=[p[0] for p in parts], seconds=round(time.monotonic() - t0, 1))
    shutil.rmtree(entry, ignore_errors=True)
    os.rename(tmp, entry)
    data = {k: (v.replace(str(tmp), str(entry)) if isinstance(v, str) else v) for k, v in data.items()}
    stamp = entry / (STAMP + ".new")
    stamp.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n")
    os.replace(stamp, entry / STAMP)
    return data


def _prepare_tree(spec: KernelSpec, root: Path) -> dict:
    """Modules into root/lib/modules/<release> (merged-/usr packages put them
    under usr/), decompressed, depmod'ed; the paths of the image and config."""
    images = sorted(root.glob("boot/vmlinuz-*"))
    if images:
        release = images[0].name[len("vmlinuz-"):]
    else:       # newer packages: usr/lib/modules/<release>/{vmlinuz,config}
        images = sorted(root.glob("usr/lib/modules/*/vmlinuz"))
        if not images:
            raise KernelError(f"kernel {spec.name}: no boot/vmlinuz-* nor usr/lib/modules/*/vmlinuz in the package")
        release = images[0].parent.name
    mods = root / "lib" / "modules" / release
    usr = root / "usr" / "lib" / "modules" / release
    if not mods.is_dir() and usr.is_dir():
        mods.parent.mkdir(parents=True, exist_ok=True)
        os.rename(usr, mods)
        images = [mods / "vmlinuz"] if not images[0].is_file() else images
    if not mods.is_dir():
        raise KernelError(f"kernel {spec.name}: no modules for {release} in the package")
    packed = [str(p) for p in mods.rglob("*.ko.xz")]
    for i in range(0, len(packed), 500):
        _run(["xz", "-d", "-T1", *packed[i:i + 500]], f"kernel {spec.name}: decompress modules")
    _run(["depmod", "-b", str(root), release], f"kernel {spec.name}: depmod", T_DEPMOD)
    config = next((c for c in (root / "boot" / f"config-{release}", mods / "config") if c.is_file()), Path())
    return {"release": release, "vmlinuz": str(images[0]), "modules": str(mods),
            "config": str(config) if config.name else ""}


def _run(cmd: list, step: str, timeout: float = 600) -> None:
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise KernelError(f"{step}: {e}") from None
    if proc.returncode != 0:
        raise KernelError(f"{step}: {cmd[0]} exited {proc.returncode}: {proc.stderr.strip()[-800:]}")


def prepare(spec: KernelSpec, cache_dir: Path, log, offline: bool = False) -> Kernel:
    if spec.host:
        return host_kernel(spec)
    if spec.bzimage:
        return local_kernel(spec)
    return debian_kernel(spec, cache_dir, log, offline)
