"""The option table: every run option declared once.

From it come the pytest options (pytest_addoption), the `zdtm` arguments
(argparse), the translation of `zdtm run`'s arguments into pytest's, and the
one Settings object both doors build. The C/R modes add their own entries
(zdtm.modes), so a new mode's options need no change here.
"""
from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path

from .config import DEFAULT_CRIU_TIMEOUT, KEEP_IMG_MODES, Option, Settings
from .desc import FLAVORS
from .modes import mode_options

class OptionError(ValueError):
    """An option value that does not convert (a usage error)."""


ALL_COMMANDS = ("run", "list", "check", "clean", "bench", "provision")


def parse_flavors(value: str) -> tuple:
    if value == "all":
        return tuple(FLAVORS)
    if value == "best":
        return ("best",)
    chosen = tuple(v.strip() for v in value.split(",") if v.strip())
    bad = [f for f in chosen if f not in FLAVORS]
    if bad:
        raise ValueError(f"unknown flavor '{bad[0]}' (known: {', '.join(FLAVORS)}, all, best)")
    return chosen


def parse_shard(value: str) -> tuple:
    try:
        index, count = (int(x) for x in value.split("/"))
    except ValueError:
        raise ValueError(f"expected I/N (e.g. 2/4), got {value!r}") from None
    if not 1 <= index <= count:
        raise ValueError(f"shard {index} of {count} does not exist (I/N with 1 <= I <= N)")
    return index, count


CORE_OPTIONS = (
    Option("criu_bin", "criu binary to test (default: $ZDTM_CRIU_BIN, a provisioned one in the cache, "
           "criu on PATH if `criu check` passes, else provision one)",
           cli=("--criu-bin",), pytest="--criu-bin", commands=ALL_COMMANDS, metavar="PATH"),
    Option("suite_file", "suite description (default: desc/suite.yaml)", cli=("--suite",),
           pytest="--zdtm-suite", commands=ALL_COMMANDS, metavar="FILE"),
    Option("state_dir", "state dir for builds and run artifacts", cli=("--zdtm-dir",), pytest="--zdtm-dir",
           commands=ALL_COMMANDS, metavar="DIR", convert=lambda v: Path(v).resolve()),
    Option("upstream", "also run an existing ZDTM tree (a criu checkout, its test/ or test/zdtm/): "
           "upstream/static/NAME, upstream/transition/NAME", cli=("--upstream",), pytest="--zdtm-upstream",
           commands=ALL_COMMANDS, action="append", metavar="DIR"),
    Option("identity", "how non-root workloads are checkpointed: auto, root-criu, owner-dump, as-root",
           cli=("--identity",), pytest="--zdtm-identity", commands=("run", "check"), default="auto",
           metavar="STRATEGY"),
    Option("tests", "run only this test, e.g. static/pipe00 (repeatable); named tests run even if noauto",
           cli=("-t", "--test"), pytest="--zdtm-test", action="append", metavar="NAME"),
    Option("filters", "only tests whose name matches", cli=("-T", "--filter"), pytest="--zdtm-filter",
           action="append", metavar="REGEX"),
    Option("excludes", "skip tests whose name matches", cli=("-x", "--exclude"), pytest="--zdtm-exclude",
           action="append", metavar="REGEX"),
    Option("flavors", "flavors: comma-separated (h,ns,uns), 'all' (each flavor a test's .desc allows; the "
           "default) or 'best' (the most isolated one)", cli=("-f", "--flavor"), pytest="--zdtm-flavor",
           default="all", env="ZDTM_FLAVOR", metavar="LIST", convert=parse_flavors),
    Option("keep_img", "keep criu images: always, failed (the default) or never", cli=("--keep-img",),
           pytest="--keep-img", choices=KEEP_IMG_MODES, default="failed"),
    Option("criu_timeout", "bound on each criu run, in seconds (default: %(default)s)",
           cli=("--criu-timeout",), pytest="--zdtm-criu-timeout", type=float, default=DEFAULT_CRIU_TIMEOUT,
           metavar="SECONDS"),
    Option("strict_outside", "fail upstream's tests on the known criu deviations the outside check sees "
           "(by default a warning for them; our own tests always fail on them)", cli=("--strict-outside",),
           pytest="--zdtm-strict-outside", action="store_true"),
    Option("install_criu", "never provision criu", cli=("--no-install",), pytest="--zdtm-no-install",
           action="store_true", convert=lambda v: not v),
    Option("report_json", "also write the run's JSON report here (the run dir has report.json anyway)",
           cli=("--json-report",), pytest="--zdtm-json", metavar="FILE"),
    Option("report_tap", "also write the run's TAP 13 report here (the run dir has criu-testreport.tap anyway)",
           cli=("--tap",), pytest="--zdtm-tap", metavar="FILE"),
    Option("htmlpath", "write the HTML report here (default: report.html in the run dir)", cli=("--html",),
           pytest="--html", metavar="FILE", foreign=True),
    Option("shard", "run shard I of N (e.g. 2/4): a deterministic split of the selection, balanced by the "
           "durations of earlier runs", cli=("--shard",), pytest="--zdtm-shard", metavar="I/N",
           convert=parse_shard),
    Option("plan", "run a test plan (e.g. desc/ci.yaml, CRIU's CI): each of its lines selects tests and C/R "
           "modes, all run in this one session; `zdtm ci` runs desc/ci.yaml", cli=("--plan",),
           pytest="--zdtm-plan", metavar="FILE"),
    Option("plan_lines", "with --plan: only this line of the plan (repeatable)", cli=("--line",),
           pytest="--zdtm-plan-line", action="append", metavar="NAME"),
    Option("durations_file", "test durations to balance shards with (default: the state dir's, from earlier "
           "runs, else desc/durations.json)", cli=("--durations",), pytest="--zdtm-durations", metavar="FILE"),
)


def option_table() -> list:
    return list(CORE_OPTIONS) + mode_options()


def _add(add, flags, opt: Option, **extra) -> None:
    kw = dict(dest=opt.dest, help=opt.help, action=opt.action, default=opt.default_value(), **extra)
    if opt.action == "store":
        kw.update(type=opt.type, metavar=opt.metavar, choices=opt.choices)
    elif opt.action == "append":
        kw.update(type=opt.type, metavar=opt.metavar)
    add(*flags, **kw)


def add_pytest_options(group) -> None:
    for opt in option_table():
        if opt.pytest and not opt.foreign:
            _add(group.addoption, (opt.pytest,), opt)


def add_cli_arguments(parser: argparse.ArgumentParser, command: str) -> None:
    for opt in option_table():
        if opt.cli and command in opt.commands:
            _add(parser.add_argument, opt.cli, opt, **({"nargs": opt.nargs} if opt.nargs else {}))


def settings_from(get) -> Settings:
    """The Settings of a run; get(dest) -> the value given. A value that
    does not convert is a usage error (ValueError naming the option)."""
    def checked(opt):
        def convert(value):
            try:
                return opt.convert(value)
            except ValueError as e:
                raise OptionError(f"{'/'.join(opt.cli[-1:] + (opt.pytest,))}: {e}") from None
        return convert
    table = [replace(o, convert=checked(o)) if o.convert else o for o in option_table()]
    return Settings.from_options(table, get)


def pytest_args(args: argparse.Namespace, command: str = "run") -> list:
    """`zdtm run`'s arguments, as the pytest options that say the same."""
    out = []
    for opt in option_table():
        if not (opt.cli and opt.pytest and command in opt.commands):
            continue
        value = getattr(args, opt.dest, None)
        if value is None or value == opt.default_value():
            continue
        if opt.action == "store_true":
            out.append(opt.pytest)
        elif opt.action == "append":
            for v in value:       # a list: one use of an nargs option (zdtm.py's `--criu-plugin a b`)
                out += [opt.pytest, ",".join(v) if isinstance(v, list) else str(v)]
        else:
            out += [opt.pytest, str(value)]
    return out
