"""Our C workloads: NAME.c compiled against zdtm/lib/c (libzdtmtst.a).

A `crlib` test has its criu plugin in <root>/plugins/NAME.c, built against
the provisioned criu-plugin.h and given to criu with --libdir.
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Optional

from ..build import CC, CFLAGS, BuildError, Builder, Executable, compile_step, digest, files_digest
from ..desc import Desc
from ..provision import plugin_include_dir
from ..workload import TestRoot, Workload
from .base import WorkloadKind

C_LIB_DIR = Path(__file__).resolve().parent.parent / "lib" / "c"
LIBS = ("-lpthread", "-lrt")


def c_library(builder: Builder) -> Path:
    """The workload library, built once per content."""
    sources = sorted(C_LIB_DIR.glob("*.c"))
    headers = sorted(C_LIB_DIR.glob("*.h"))
    key = "libzdtmtst-" + digest(CC, CFLAGS, files_digest(sources + headers))

    def make(tmp: Path):
        objs = []
        for src in sources:
            obj = tmp / (src.stem + ".o")
            compile_step([CC, *CFLAGS, "-I", str(C_LIB_DIR), "-c", str(src), "-o", str(obj)],
                         tmp, f"building the C workload library ({src.name})")
            objs.append(str(obj))
        compile_step(["ar", "rcs", str(tmp / "libzdtmtst.a"), *objs], tmp, "archiving the C workload library")

    return builder.build_once(key, make) / "libzdtmtst.a"


def _local_includes(source: Path) -> bytes:
    """What the workload `#include "..."`s from its own dir (cpu_cap01.c is
    cpu_cap00.c with another .desc): part of its build key."""
    found = re.findall(rb'^\s*#\s*include\s+"([^"/]+)"', source.read_bytes(), re.M)
    return b"".join(p.read_bytes() for p in (source.parent / n.decode() for n in found) if p.is_file())


class CKind(WorkloadKind):
    name = "c"

    def is_test(self, root: TestRoot, path: Path) -> bool:
        return path.suffix == ".c"

    def build(self, builder: Builder, workload: Workload, desc: Desc) -> Executable:
        lib = c_library(builder)
        stem = workload.stem
        included = _local_includes(workload.source)
        key = f"{stem}-" + digest(workload.source.read_bytes(), lib.parent.name, desc.cflags, desc.ldflags,
                                  *([included] if included else []))

        def make(tmp: Path):
            compile_step([CC, *CFLAGS, "-I", str(C_LIB_DIR), *desc.cflags, str(workload.source), str(lib),
                          *desc.ldflags, *LIBS, "-o", str(tmp / stem)], tmp, f"compiling {workload.source}")

        return Executable((str(builder.build_once(key, make) / stem),))

    def criu_opts(self, builder: Builder, workload: Workload, desc: Desc, criu_bin: Optional[str]) -> list:
        if "crlib" not in desc.flags:
            return []
        return ["--libdir", str(self._plugin(builder, workload, plugin_include_dir(criu_bin)))]

    @staticmethod
    def _plugin(builder: Builder, workload: Workload, include_dir) -> Path:
        """<root>/plugins/NAME.c becomes NAME.so alone in a directory."""
        src = workload.root.path / "plugins" / workload.source.name
        if not src.is_file():
            raise BuildError(f"{workload.name}: flag 'crlib' but no plugin source {src}")
        if include_dir is None:
            raise BuildError(f"{workload.name}: flag 'crlib' but criu-plugin.h was not found "
                             f"(the provisioned criu carries it; or install libcriu-dev)")
        stem = workload.stem
        key = f"{stem}-plugin-" + digest(src.read_bytes(), include_dir)

        def make(tmp: Path):
            compile_step([CC, *CFLAGS, "-fPIC", "-shared", "-I", str(include_dir), "-I", str(C_LIB_DIR),
                          str(src), "-o", str(tmp / f"{stem}.so")], tmp, f"compiling the criu plugin {src}")

        return builder.build_once(key, make)
