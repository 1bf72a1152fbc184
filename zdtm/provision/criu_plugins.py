"""criu plugins built from criu's source tree (the provisioned one,
`zdtm provision --source`, or an --upstream checkout), as upstream's
test/plugins/Makefile and plugins/*/Makefile build them: the amdgpu and cuda
plugins, the inventory test plugins of test/plugins, and the mocked
cuda-checkpoint tool of test/cuda-checkpoint.

Each lands once in the build cache (zdtm.build.Builder: content-addressed,
under a file lock, so xdist workers wait for one build); a selection of
plugins becomes one directory for criu's --libdir. The cuda and amdgpu
plugins include criu's internal headers, so a private copy of the tree gets
the few files criu's build generates first (make: include/common/config.h,
the compel and common asm links, compel's std plugin headers; for amdgpu
also the images' protobuf-c headers)."""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Optional

from ..build import CC, BuildError, compile_step, digest, files_digest

PLUGINS = ("amdgpu", "cuda", "inventory_test_enabled", "inventory_test_disabled")
PLUGIN_CFLAGS = ("-g", "-Wall", "-Werror", "-shared", "-nostartfiles", "-fPIC")
# What criu's build generates that the plugins' headers need.
GENERATED = ("compel/include/asm", "include/common/asm", "include/common/config.h", "compel/plugins/std.lib.a")
# Debian packages the amdgpu plugin's build needs: (package, a file it installs).
AMDGPU_DEPS = (("libdrm-dev", "/usr/include/libdrm/amdgpu.h"), ("protobuf-c-compiler", "/usr/bin/protoc-c"),
               ("protobuf-compiler", "/usr/bin/protoc"),
               ("libprotobuf-c-dev", "/usr/include/google/protobuf/descriptor.proto"))
MAKE_TIMEOUT = 300


def desc_name(plugin: str) -> str:
    """The name the plugin registers (CR_PLUGIN_REGISTER), as criu's log shows it."""
    return f"{plugin}_plugin"


def find_tree(settings) -> Path:
    """criu's source: an --upstream checkout holding plugins/, else the
    provisioned source of the criu under test."""
    for given in settings.upstream:
        for p in (Path(given).resolve(), *Path(given).resolve().parents):
            if (p / "plugins" / "cuda" / "cuda_plugin.c").is_file():
                return p
    from . import provision_criu_source
    return provision_criu_source(settings.cache_dir, log=lambda msg: None)


def _sources(tree: Path, plugin: str) -> list:
    if plugin.startswith("inventory_test"):
        return [tree / "test" / "plugins" / f"{plugin}_plugin.c"]
    return sorted((tree / "plugins" / plugin).glob("*.[ch]")) + sorted((tree / "plugins" / plugin).glob("*.proto"))


def _includes(root: Path) -> list:
    return [x for d in ("include", "criu/include", "criu/arch/x86/include", ".") for x in ("-iquote", str(root / d))]


def _run_make(root: Path, targets: list, what: str) -> None:
    try:
        res = subprocess.run(["make", "--no-print-directory", "-C", str(root), *targets], stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=MAKE_TIMEOUT,
                             env={**os.environ, "MAKEFLAGS": ""})
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BuildError(f"{what}: make {' '.join(targets)}: {e}") from None
    if res.returncode != 0:
        tail = "\n".join(res.stdout.strip().splitlines()[-15:])
        raise BuildError(f"{what}: make {' '.join(targets)} exited with {res.returncode}:\n{tail}", res.stdout)


def _private_tree(tree: Path, tmp: Path, amdgpu: bool) -> Path:
    """A copy of the tree (without its tests and docs) with criu's generated headers."""
    root = tmp / "src"
    root.mkdir()
    skip = {"test", "Documentation", "contrib", ".git"}
    for entry in tree.iterdir():
        if entry.name in skip:
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, root / entry.name, symlinks=True)
        else:
            shutil.copy2(entry, root / entry.name, follow_symlinks=False)
    _run_make(root, list(GENERATED) + (["images/built-in.o"] if amdgpu else []), "criu's generated headers")
    return root


def _missing_packages(deps) -> list:
    return [pkg for pkg, path in deps if not os.path.exists(path)]


def ensure_packages(deps) -> None:
    """Install the Debian packages a plugin's build needs, if missing (root, apt-get)."""
    missing = _missing_packages(deps)
    if not missing:
        return
    if os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BuildError(f"needs the Debian packages {' '.join(missing)} (not installed; run as root with apt)")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    res = subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing],
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                         env=env, timeout=900)
    if res.returncode != 0 or _missing_packages(deps):
        raise BuildError(f"needs the Debian packages {' '.join(missing)}; apt-get install failed:\n"
                         + "\n".join(res.stdout.strip().splitlines()[-5:]))


def _compile(tree: Path, plugin: str, tmp: Path) -> None:
    out = tmp / f"{desc_name(plugin)}.so"
    what = f"building the {plugin} criu plugin from {tree}"
    if plugin.startswith("inventory_test"):
        compile_step([CC, *PLUGIN_CFLAGS, str(_sources(tree, plugin)[0]), "-o", str(out), *_includes(tree)],
                     tmp, what)
        return
    if plugin == "amdgpu":
        ensure_packages(AMDGPU_DEPS)
    root = _private_tree(tree, tmp, amdgpu=plugin == "amdgpu")
    pdir = root / "plugins" / plugin
    compel = ["-I", str(root / "compel/include/uapi"), "-I", str(root / "compel/plugins/include/uapi")]
    if plugin == "cuda":
        compile_step([CC, *PLUGIN_CFLAGS, *compel, str(pdir / "cuda_plugin.c"), "-o", str(out), *_includes(root)],
                     pdir, what)
    else:
        compile_step(["protoc-c", "--proto_path=.", "--c_out=.", "criu-amdgpu.proto"], pdir, what)
        srcs = [str(pdir / f) for f in ("amdgpu_plugin.c", "amdgpu_plugin_drm.c", "amdgpu_plugin_topology.c",
                                        "amdgpu_plugin_util.c", "criu-amdgpu.pb-c.c")]
        compile_step([CC, *PLUGIN_CFLAGS, "-D_GNU_SOURCE", *compel, *srcs, "-o", str(out), *_includes(root),
                      "-lpthread", "-lrt", "-ldrm", "-ldrm_amdgpu", "-I/usr/include/libdrm"], pdir, what)
    shutil.rmtree(root)


def build_plugin(builder, tree: Path, plugin: str) -> Path:
    """NAME_plugin.so built once from the tree; its path."""
    if plugin not in PLUGINS:
        raise BuildError(f"unknown criu plugin '{plugin}' (known: {', '.join(PLUGINS)})")
    sources = _sources(tree, plugin)
    missing = [s for s in sources if not s.is_file()] or ([] if sources else [tree / "plugins" / plugin])
    if missing:
        raise BuildError(f"the {plugin} criu plugin's source is not in {tree} ({missing[0]} missing)")
    key = f"criu-plugin-{plugin}-" + digest(CC, PLUGIN_CFLAGS, files_digest(sources), tree / "criu/include")
    return builder.build_once(key, lambda tmp: _compile(tree, plugin, tmp)) / f"{desc_name(plugin)}.so"


def plugin_dir(builder, tree: Path, plugins) -> Path:
    """A directory holding exactly these plugins (criu loads every .so of its --libdir)."""
    built = [build_plugin(builder, tree, p) for p in sorted(set(plugins))]
    key = "criu-plugins-" + digest(*built)

    def make(tmp: Path) -> None:
        for so in built:
            shutil.copy(so, tmp / so.name)

    return builder.build_once(key, make)


def mocked_cuda_checkpoint(builder, tree: Path) -> Path:
    """The directory of upstream's mocked cuda-checkpoint (test/cuda-checkpoint), for criu's PATH."""
    src = tree / "test" / "cuda-checkpoint" / "cuda-checkpoint.c"
    if not src.is_file():
        raise BuildError(f"the mocked cuda-checkpoint's source is not in {tree} ({src} missing)")
    key = "cuda-checkpoint-mock-" + digest(CC, src.read_bytes())
    return builder.build_once(key, lambda tmp: compile_step(
        [CC, "-O2", "-Wall", "-Werror", str(src), "-o", str(tmp / "cuda-checkpoint")], tmp,
        f"building the mocked cuda-checkpoint {src}"))


def unbuildable(builder, tree: Optional[Path], plugins) -> Optional[str]:
    """Why these plugins cannot be built here, or None (they are then built)."""
    try:
        if tree is None:
            return "no criu source tree"
        plugin_dir(builder, tree, plugins)
    except (BuildError, OSError) as e:
        return str(e)
    return None


__all__ = ["PLUGINS", "build_plugin", "desc_name", "find_tree", "mocked_cuda_checkpoint", "plugin_dir",
           "unbuildable"]
