"""What the plugin modes share (--criu-plugin, --mocked-cuda-checkpoint):
plugins built from criu's source given to dump and restore with --libdir,
and the check, after each, that criu's log shows every one loaded
(criu/plugin.c: `Plugin "NAME_plugin" (version ...)`)."""
from __future__ import annotations

import re
from typing import Optional

from ..build import BuildError
from ..outcome import PhaseFailure
from ..provision import criu_plugins
from .base import Mode


class PluginModeBase(Mode):
    """Plugins given to criu with --libdir, checked loaded in its logs."""
    order = 46

    def plugins(self) -> tuple:
        raise NotImplementedError

    def _tree(self, engine):
        return criu_plugins.find_tree(engine.settings)

    def unavailable(self, engine) -> Optional[str]:
        try:
            tree = self._tree(engine)
        except Exception as e:      # provisioning the source failed (offline, ...)
            return f"no criu source tree to build the plugins from: {e}"
        reason = criu_plugins.unbuildable(engine.builder, tree, self.plugins())
        return f"cannot build the criu plugins {', '.join(self.plugins())} here: {reason}" if reason else None

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if "crlib" in desc.flags:
            return (f"--{self.name}: the test gives criu its own plugin dir (flag crlib, --libdir), and criu "
                    f"loads plugins from one dir only")
        if "amdgpu" in self.plugins() and "crfail" in desc.flags and desc.crfail_match:
            return (f"--{self.name} amdgpu: the amdgpu plugin claims every file criu cannot dump (its "
                    f"DUMP_EXT_FILE hook) and refuses it with its own message (amdgpu_plugin.c: 'fstat error "
                    f"for /dev/kfd'), so the test's crfail_match on criu's refusal cannot match")
        return None

    def start(self, run) -> None:
        try:
            self.libdir = criu_plugins.plugin_dir(run.engine.builder, self._tree(run.engine), self.plugins())
        except BuildError as e:
            raise PhaseFailure("build", str(e).splitlines()[0], details=str(e)) from None

    def identity_note(self) -> str:
        return f"criu plugins {', '.join(self.plugins())} (--libdir)"

    def dump_opts(self, step) -> list:
        return ["--libdir", str(self.libdir)]

    def restore_opts(self, step) -> list:
        return ["--libdir", str(self.libdir)]

    def _check_loaded(self, step, action: str) -> None:
        log = step.criu.log_text()
        for plugin in self.plugins():
            name = criu_plugins.desc_name(plugin)
            m = re.search(rf'^.*Plugin "{re.escape(name)}" \(version .*$', log, re.M)
            if not m:
                raise PhaseFailure(action, f"criu {action} did not load the {plugin} plugin: no 'Plugin \"{name}\"' "
                                           f"line in {step.criu.log} (--libdir {self.libdir})")
        step.run.result.sections.append((f"criu plugins ({action} {step.n})",
                                         f"loaded from {self.libdir}: {', '.join(self.plugins())}"))

    def after_dump(self, step) -> None:
        self._check_loaded(step, "dump")

    def after_restore(self, step) -> None:
        self._check_loaded(step, "restore")
