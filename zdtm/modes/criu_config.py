"""--criu-config: criu's options through a config file (`criu ACTION
--config FILE`), not its command line, as upstream's zdtm.py does with
--criu-config (test/zdtm/criu_config.py in criu's source; CRIU's CI runs the
whole suite so).

The wrapper writes every option of the call, one `name value` line each
(long names, values with spaces or quotes quoted as criu's parser wants),
into ACTION-N.conf next to criu's log in the artifacts, and leaves criu's
command line with `--config FILE` alone. Exception, with --criu-ns: the
options criu-ns itself reads (--tree, --pidfile, --restore-detached,
--restore-sibling) stay on the command line, where that wrapper, outside
this one, looks for them.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Optional

from .base import Mode, switch

SHORT = {"d": "restore-detached", "S": "restore-sibling", "s": "leave-stopped", "R": "leave-running",
         "t": "tree", "D": "images-dir", "o": "log-file", "v": "verbosity", "x": "ext-unix-sk", "r": "root",
         "j": "shell-job", "J": "join-ns", "l": "file-locks", "W": "work-dir", "L": "libdir",
         "M": "ext-mount-map"}
# criu's options with a required argument (criu/config.c); the optional ones
# (verbosity, ext-unix-sk, manage-cgroups, cpu-cap) take one only as --name=value
WITH_VALUE = frozenset(
    "tree images-dir work-dir log-file join-ns root close pidfile veth-pair action-script address port "
    "prev-images-dir libdir ext-mount-map cgroup-root inherit-fd feature skip-mnt enable-fs freeze-cgroup "
    "ghost-limit irmap-scan-path lsm-profile timeout external empty-ns cgroup-props cgroup-props-file "
    "cgroup-dump-controller status-fd ps-socket config tls-cacert tls-cacrl tls-cert tls-key cgroup-yard "
    "pre-dump-mode file-validation lsm-mount-context network-lock".split())
OPTIONAL_VALUE = frozenset(("verbosity", "ext-unix-sk", "manage-cgroups", "cpu-cap"))
# what zdtm criu-ns takes from the command line
CRIU_NS_READS = frozenset(("tree", "pidfile", "restore-detached", "restore-sibling"))


def config_lines(args: list) -> tuple:
    """criu's options as config-file lines; (lines, what stays on the
    command line: words that are not options)."""
    lines, rest, i = [], [], 0
    while i < len(args):
        a = args[i]
        i += 1
        if a.startswith("--") and len(a) > 2:
            name, eq, value = a[2:].partition("=")
            if not eq:
                value = None
                if name in WITH_VALUE and i < len(args):
                    value, i = args[i], i + 1
                elif name not in WITH_VALUE and i < len(args) and not args[i].startswith("-"):
                    value, i = args[i], i + 1      # an option we do not know: as upstream's parser does
        elif a.startswith("-") and len(a) > 1 and a[1] in SHORT:
            name, value = SHORT[a[1]], a[2:] or None
            if value is None and name in WITH_VALUE and i < len(args):
                value, i = args[i], i + 1
        else:
            rest.append(a)
            continue
        lines.append((name, value))
    return lines, rest


def _quoted(value: str) -> str:
    if value and not any(c in value for c in ' \t"#\\'):
        return value
    return '"' + value.replace('"', '\\"') + '"'


def _line(name: str, value: Optional[str]) -> str:
    if value is None:
        return f"{name}\n"
    if name in OPTIONAL_VALUE:      # getopt takes an optional value only from the same word
        return f"{name}={value}\n"
    return f"{name} {_quoted(value)}\n"


def format_config(lines: list) -> str:
    return "".join(_line(name, value) for name, value in lines)


def config_path(action: str, lines: list) -> Path:
    """ACTION-N.conf next to criu's log (in the artifacts), else in the images dir."""
    values = dict(lines)
    log, images = values.get("log-file"), values.get("images-dir")
    if log and os.path.isabs(log):
        return Path(log).with_suffix(".conf")
    if images:
        return Path(images) / f"criu-{action}.conf"
    raise ValueError(f"--criu-config: criu {action} without --log-file or --images-dir: where would its config go?")


def through_config(keep_on_cmdline: frozenset = frozenset()):
    """argv, criu_bin -> argv with criu's options in a config file."""
    def wrap(argv: list, criu_bin: str) -> list:
        i = argv.index(criu_bin)
        action, args = argv[i + 1], argv[i + 2:]
        lines, rest = config_lines(args)
        if rest:
            raise ValueError(f"--criu-config: criu {action}: {rest[0]!r} is not an option")
        kept = [(n, v) for n, v in lines if n in keep_on_cmdline]
        lines = [(n, v) for n, v in lines if n not in keep_on_cmdline]
        path = config_path(action, lines)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o644)
        with os.fdopen(fd, "w") as f:
            f.write(f"# criu {action}: its options, written by zdtm --criu-config\n" + format_config(lines))
        cmdline = [f"--{n}" + (f"={v}" if v is not None else "") for n, v in kept]
        return [*argv[:i + 2], "--config", str(path), *cmdline]
    return wrap


class CriuConfigMode(Mode):
    name = "criu-config"
    order = 85
    id_suffix = "criu-config"
    marker = "criu_config"
    description = "criu's options through a config file (--config FILE)"
    options = (switch("criu_config", "pass criu's options through a config file (criu --config FILE)"),)

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if self.settings.mode_option("rpc"):
            return "--criu-config and --rpc exclude each other (criu over RPC reads no command line)"
        return None

    def identity_note(self) -> str:
        return "criu's options through a config file (--config ACTION-N.conf)"

    def criu_wrapper(self):
        keep = CRIU_NS_READS if self.settings.mode_option("criu_ns") else frozenset()
        return through_config(keep)
