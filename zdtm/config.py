"""Constants, paths and the run settings shared by the pytest plugin and the CLI.

The settings are filled from one option table (zdtm.options), so the two
front doors cannot drift apart."""
from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Optional

PROJECT_DIR = Path(__file__).resolve().parent.parent

# The ids the protocol gives non-suid workloads.
WORKLOAD_UID = 18943
WORKLOAD_GID = 58467
WORKLOAD_GROUPS = (27495, 48244)

KEEP_IMG_MODES = ("always", "failed", "never")
DEFAULT_START_TIMEOUT = 30.0
DEFAULT_CRIU_TIMEOUT = 120.0
DEFAULT_STOP_TIMEOUT = 30.0


def workload_env(suid: bool) -> dict:
    env = {
        "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "LANG": "C",
        "HOME": "/",
    }
    if not suid:
        env["ZDTM_UID"] = str(WORKLOAD_UID)
        env["ZDTM_GID"] = str(WORKLOAD_GID)
        env["ZDTM_GROUPS"] = " ".join(map(str, WORKLOAD_GROUPS))
    return env


def others_can_reach(path: Path) -> bool:
    """True if every existing ancestor of path is searchable by any user.
    Non-root workloads (and criu run as their owner) must reach the
    binaries, work dirs and images the harness puts there."""
    path = path.resolve()
    for p in [path, *path.parents]:
        try:
            mode = p.stat().st_mode
        except FileNotFoundError:
            continue
        if not mode & stat.S_IXOTH:
            return False
    return True


def under_tmp(path: Path) -> bool:
    """The ns flavors mount a tmpfs on /tmp inside: a state dir there would
    be hidden from the workloads."""
    return Path("/tmp") in Path(path).resolve().parents or Path(path).resolve() == Path("/tmp")


def default_state_dir() -> Path:
    """Where builds, staged files and run artifacts go.

    <project>/.zdtm when non-root users can reach it and it is not under /tmp
    (the ns flavors mount a tmpfs there); otherwise (a clone in
    a 0700 directory, as CI makes) a per-project directory in /var/tmp."""
    env = os.environ.get("ZDTM_DIR")
    if env:
        return Path(env).resolve()
    local = PROJECT_DIR / ".zdtm"
    if others_can_reach(PROJECT_DIR) and not under_tmp(PROJECT_DIR):
        return local
    tag = hashlib.sha1(str(PROJECT_DIR).encode()).hexdigest()[:10]
    return Path("/var/tmp") / f"zdtm-{PROJECT_DIR.name}-{tag}"


def default_cache_dir() -> Path:
    """The project's cache (the provisioned criu). Also must be reachable by
    the workload uid, since criu may run as the workload's owner."""
    env = os.environ.get("ZDTM_CACHE_DIR")
    if env:
        return Path(env).resolve()
    if others_can_reach(PROJECT_DIR) and not under_tmp(PROJECT_DIR):
        return PROJECT_DIR / ".cache"
    return default_state_dir() / "cache"


@dataclass(frozen=True)
class Option:
    """One run option, declared once (zdtm.options holds the table): it
    becomes a pytest option, a `zdtm` argument, and a Settings value.

    dest: the Settings attribute it fills, or, for an option a C/R mode
    declares, its key in Settings.mode_options."""
    dest: str
    help: str
    cli: tuple = ()                 # zdtm flags, e.g. ("-f", "--flavor"); () = pytest only
    pytest: Optional[str] = None    # pytest flag, e.g. "--zdtm-flavor"; None = zdtm only
    commands: tuple = ("run",)      # zdtm subcommands that take it
    action: str = "store"           # store | store_true | append
    type: Callable = str
    default: Any = None
    choices: Optional[tuple] = None
    metavar: Optional[str] = None
    env: Optional[str] = None       # environment variable giving the default
    mode: bool = False              # declared by a C/R mode: Settings.mode_options[dest]
    foreign: bool = False           # the pytest option belongs to another plugin (pytest-html's --html)
    convert: Optional[Callable] = None   # raw value -> settings value (may raise ValueError)
    nargs: Optional[str] = None     # zdtm's (argparse) nargs, e.g. "+" for zdtm.py's `--criu-plugin a b`

    def default_value(self):
        if self.env and os.environ.get(self.env):
            return self.type(os.environ[self.env])
        if self.action == "append":
            return []
        if self.action == "store_true":
            return False
        return self.default


@dataclass
class Settings:
    criu_bin: Optional[str] = None
    state_dir: Path = field(default_factory=default_state_dir)
    cache_dir: Path = field(default_factory=default_cache_dir)
    flavors: tuple = ("h", "ns", "uns")
    keep_img: str = "failed"
    identity: str = "auto"          # auto | root-criu | owner-dump | as-root
    criu_timeout: float = DEFAULT_CRIU_TIMEOUT
    start_timeout: Optional[float] = None   # None: the .desc's or the default
    install_criu: bool = True
    strict_outside: bool = False    # upstream's tests fail on known criu deviations too
    suite_file: Optional[str] = None
    upstream: list = field(default_factory=list)    # existing ZDTM trees to add
    tests: list = field(default_factory=list)       # named tests (run even if noauto)
    filters: list = field(default_factory=list)     # name regexes to keep
    excludes: list = field(default_factory=list)    # name regexes to drop
    mode_options: dict = field(default_factory=dict)   # the C/R modes' own options
    report_json: Optional[str] = None   # extra paths for the run's reports (the run dir has them anyway)
    report_tap: Optional[str] = None
    htmlpath: Optional[str] = None
    shard: Optional[tuple] = None       # (index, count), 1-based
    durations_file: Optional[str] = None
    plan: Optional[str] = None          # a test plan (zdtm.plan): lines of tests x modes
    plan_lines: list = field(default_factory=list)
    run_dir: Optional[Path] = None  # set by the controller, shared by workers

    @classmethod
    def from_options(cls, options, get) -> "Settings":
        """Settings from an option table and get(dest) -> the value given
        (pytest's config.getoption, or an argparse namespace)."""
        settings = cls()
        for opt in options:
            value = get(opt.dest)
            if value is None:
                continue
            if opt.convert is not None:
                value = opt.convert(value)
            if opt.mode:
                settings.mode_options[opt.dest] = value
            else:
                setattr(settings, opt.dest, value)
        return settings

    def mode_option(self, dest: str, default=None):
        return self.mode_options.get(dest, default)

    def with_mode_options(self, extra: dict) -> "Settings":
        """These settings with more mode options (a plan line's), which win."""
        if not extra:
            return self
        return replace(self, mode_options={**self.mode_options, **extra})

    def make_dir(self, path: Path, mode: int = 0o755) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        os.chmod(path, mode)
        return path
