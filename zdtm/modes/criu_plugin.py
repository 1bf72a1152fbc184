"""--criu-plugin NAME: criu runs with plugins built from criu's source tree
(zdtm.provision.criu_plugins): amdgpu, cuda, and the inventory test plugins
of test/plugins (inventory_test_enabled writes itself into the inventory
image and refuses a restore without it; inventory_test_disabled refuses a
restore whose inventory names it). zdtm.py's `--criu-plugin amdgpu cuda` is
`--criu-plugin amdgpu --criu-plugin cuda` or `--criu-plugin amdgpu,cuda`
here. They are built once per run (build cache, file lock) and given to
dump and restore with --libdir DIR. A plugin that cannot be built here makes
the mode unavailable, naming the plugin and why.

Proof after every dump and restore: criu's log shows each plugin loaded
(criu/plugin.c: `Plugin "NAME_plugin" (version ...)`). A test with its own
criu plugin (flag crlib: its --libdir) is skipped: criu takes one plugin
directory."""
from __future__ import annotations

from ..config import Option
from ..provision import criu_plugins
from ._plugins import PluginModeBase


def _names(values) -> tuple:
    names = []
    for value in values or ():
        words = value if isinstance(value, (list, tuple)) else [value]      # `--criu-plugin a b`
        for name in " ".join(map(str, words)).replace(",", " ").split():
            if name not in criu_plugins.PLUGINS:
                raise ValueError(f"unknown criu plugin '{name}' (known: {', '.join(criu_plugins.PLUGINS)})")
            if name not in names:
                names.append(name)
    return tuple(names)


class CriuPluginMode(PluginModeBase):
    name = "criu-plugin"
    marker = "criu_plugin"
    description = "criu with plugins built from its source (--libdir)"
    options = (Option("criu_plugin", "run criu with these plugins built from its source: "
                      f"{', '.join(criu_plugins.PLUGINS)} (repeat the option or separate by commas)",
                      cli=("--criu-plugin",), pytest="--zdtm-criu-plugin", action="append", metavar="NAME",
                      mode=True, convert=_names, nargs="+"),)


    @property
    def id_suffix(self) -> str:
        return "plugin-" + "-".join(self.plugins())

    def plugins(self) -> tuple:
        return tuple(self.settings.mode_option("criu_plugin") or ())
