"""Our Python workloads: NAME.py staged beside zdtm/lib/py (zdtmtst.py) and
run with an interpreter every user can execute (the workload uid cannot run
a Python under /root)."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..build import BuildError, Builder, Executable, digest, files_digest
from ..desc import Desc
from ..workload import TestRoot, Workload
from .base import WorkloadKind

PY_LIB_DIR = Path(__file__).resolve().parent.parent / "lib" / "py"
WORKLOAD_PYTHON = os.environ.get("ZDTM_WORKLOAD_PYTHON", "/usr/bin/python3")


class PythonKind(WorkloadKind):
    name = "py"

    def is_test(self, root: TestRoot, path: Path) -> bool:
        return path.suffix == ".py"

    def build(self, builder: Builder, workload: Workload, desc: Desc) -> Executable:
        if "crlib" in desc.flags:
            raise BuildError(f"{workload.name}: flag 'crlib' needs a criu plugin, which only C workloads have")
        libs = sorted(PY_LIB_DIR.glob("*.py"))
        key = f"{workload.stem}-py-" + digest(workload.source.read_bytes(), files_digest(libs))

        def make(tmp: Path):
            (tmp / "lib").mkdir()
            for lib in libs:
                shutil.copy(lib, tmp / "lib" / lib.name)
            shutil.copy(workload.source, tmp / workload.source.name)

        out = builder.build_once(key, make)
        if not os.access(WORKLOAD_PYTHON, os.X_OK):
            raise BuildError(f"{workload.name}: workload interpreter {WORKLOAD_PYTHON} is missing "
                             f"(set ZDTM_WORKLOAD_PYTHON to a Python every user can run)")
        return Executable((WORKLOAD_PYTHON, str(out / workload.source.name)),
                          (("PYTHONPATH", str(out / "lib")), ("PYTHONDONTWRITEBYTECODE", "1")))
