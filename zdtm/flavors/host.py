"""`h`: the workload runs in the harness's own namespaces."""
from __future__ import annotations

import subprocess
from pathlib import Path

from .base import Flavor


class HostFlavor(Flavor):
    name = "h"
    description = "the harness's own namespaces"

    def launch(self, argv: list, env: dict, cwd: Path, output, art: Path, drop_ids: bool = False,
               pass_fds=()) -> subprocess.Popen:
        return subprocess.Popen(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                                stdout=output, stderr=output, close_fds=True, pass_fds=pass_fds)
