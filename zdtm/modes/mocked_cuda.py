"""--mocked-cuda-checkpoint: zdtm.py's option of that name: criu runs with
the cuda plugin (built from criu's source, --libdir) and upstream's mocked
cuda-checkpoint tool (test/cuda-checkpoint) first on its PATH. Without a GPU
the cuda plugin disables itself unless the fault FI_PLUGIN_CUDA_FORCE_ENABLE
is injected (CI: `--mocked-cuda-checkpoint --fault 138`). The plugin then
needs a criu with CAP_SYS_ADMIN (PTRACE_O_SUSPEND_SECCOMP): with a criu
lacking it (owner-dump in h, --rootless) the test is skipped, saying so."""
from __future__ import annotations

import os
from typing import Optional

from ..build import BuildError
from ..provision import criu_plugins
from ._plugins import PluginModeBase
from .base import switch

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class MockedCudaMode(PluginModeBase):
    name = "mocked-cuda-checkpoint"
    id_suffix = "mocked-cuda"
    marker = "mocked_cuda_checkpoint"
    description = "criu with the cuda plugin and upstream's mocked cuda-checkpoint on its PATH"
    options = (switch("mocked_cuda_checkpoint", "run criu with the cuda plugin and the mocked cuda-checkpoint "
                      "tool (zdtm.py's --mocked-cuda-checkpoint)"),)

    def plugins(self) -> tuple:
        return ("cuda",)

    def unavailable(self, engine) -> Optional[str]:
        reason = super().unavailable(engine)
        if reason:
            return reason
        try:
            criu_plugins.mocked_cuda_checkpoint(engine.builder, self._tree(engine))
        except (BuildError, OSError) as e:
            return f"cannot build the mocked cuda-checkpoint here: {e}"
        return None

    def incompatible(self, run) -> Optional[str]:
        # root, or owner-dump-ns (uid 18943 with every capability but CAP_SYS_RESOURCE)
        if run.driver.name not in ("root", "owner-dump-ns"):
            return (f"criu has no CAP_SYS_ADMIN here ({run.driver.name}): the cuda plugin sets "
                    f"PTRACE_O_SUSPEND_SECCOMP on the tasks it resumes, which needs CAP_SYS_ADMIN "
                    f"(the ns and uns flavors have it)")
        return None

    def start(self, run) -> None:
        super().start(run)
        self.tool_dir = criu_plugins.mocked_cuda_checkpoint(run.engine.builder, self._tree(run.engine))

    def identity_note(self) -> str:
        return "criu plugins cuda (--libdir), with upstream's mocked cuda-checkpoint first on criu's PATH"

    def adjust_call(self, call, action: str, step) -> None:
        path = call.env.get("PATH") or os.environ.get("PATH") or DEFAULT_PATH
        call.env["PATH"] = f"{self.tool_dir}:{path}"
