"""A test plan: which tests run under which C/R modes, all in one pytest session.

CRIU's CI (scripts/ci/run-ci-tests.sh) runs zdtm.py many times, each with
its own selection and modes. A plan (desc/ci.yaml) lists those lines, each
in zdtm.py's own words, and the plugin collects every line's tests with
that line's modes into one session: one command, CRIU's whole CI locally.

    lines:
      - name: lazy-pages
        args: -T '.*(maps0|uffd-events|lazy-thp|futex|fork).*' -x maps04 --lazy-pages
      - name: vfork-crash
        args: -t zdtm/static/vfork00 --fault 136 -f h
        expect: fail            # zdtm.py must fail on it (criu crashes on purpose)
      - name: compat-mounts
        args: -a --mntns-compat-mode
        requires: move_mount_set_group     # a `criu check --feature` name
      - name: tls
        args: -T '...' --remote-lazy-pages --tls
        unsupported: zdtm has no --tls yet    # its tests are skips saying so

A plan's `tree` is `upstream` (the default: its lines select an upstream
tree's tests only, as zdtm.py's do) or `any` (every test of the suite).
Test names in zdtm.py's form (zdtm/static/env00) name the upstream tree's
tests (upstream/static/env00). Arguments that only shape a zdtm.py run
(-a, -p N, --keep-going, -k/--keep-img, --report DIR) are accepted and
ignored; any other argument zdtm does not know makes the line unsupported,
with a reason that names it. A line that cannot run here at all (an
unsupported argument, a missing criu feature, a mode this machine cannot
run) is one skip saying why, not one per test.
"""
from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

import yaml

from .options import option_table

# zdtm.py arguments that shape its run, not what a test does.
_RUN_SHAPE = {"-a": 0, "--all": 0, "--keep-going": 0, "-p": 1, "--parallel": 1, "-k": 1, "--keep-img": 1,
              "--report": 1}
_SELECTION = ("tests", "filters", "excludes", "flavors")


class PlanError(ValueError):
    pass


@dataclass
class PlanLine:
    name: str
    args: str
    tests: list = field(default_factory=list)
    filters: list = field(default_factory=list)
    excludes: list = field(default_factory=list)
    flavors: Optional[tuple] = None         # None: the run's
    mode_options: dict = field(default_factory=dict)
    requires: Optional[str] = None          # a criu feature (criu check --feature)
    expect: str = "pass"                    # pass | fail
    unsupported: Optional[str] = None
    prefix: str = "upstream/"               # the plan's tree: tests outside it are not the line's

    def selects(self, name: str, stem: str) -> bool:
        if not name.startswith(self.prefix):
            return False
        if self.tests and name not in self.tests and stem not in self.tests:
            return False
        if self.filters and not any(re.search(f, name) for f in self.filters):
            return False
        return not any(re.search(x, name) for x in self.excludes)

    def names(self, name: str, stem: str) -> bool:
        """Does the line name this test (-t), so that it runs even if noauto?"""
        return name in self.tests or stem in self.tests


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="plan line", add_help=False, exit_on_error=False)
    for opt in option_table():
        if opt.cli and "run" in opt.commands and (opt.mode or opt.dest in _SELECTION):
            kw = dict(dest=opt.dest, action=opt.action, default=None)
            if opt.action in ("store", "append"):
                kw.update(type=opt.type, **({"nargs": opt.nargs} if opt.nargs else {}))
            p.add_argument(*opt.cli, **kw)
    return p


def _upstream_name(value: str) -> str:
    """zdtm.py names the tree's tests zdtm/static/X; ours are upstream/static/X."""
    return re.sub(r"(^|(?<=[\^(|]))zdtm/", "upstream/", value)


def _drop_run_shape(words: list) -> list:
    out, i = [], 0
    while i < len(words):
        w = words[i]
        if w in _RUN_SHAPE:
            i += 1 + _RUN_SHAPE[w]
            continue
        out.append(w)
        i += 1
    return out


def parse_line(entry: dict, where: str) -> PlanLine:
    if not isinstance(entry, dict) or "name" not in entry or "args" not in entry:
        raise PlanError(f"{where}: each line needs a name and args (zdtm.py's arguments)")
    unknown = set(entry) - {"name", "args", "requires", "expect", "unsupported"}
    if unknown:
        raise PlanError(f"{where}: unknown key(s) {', '.join(sorted(unknown))}")
    line = PlanLine(str(entry["name"]), str(entry["args"]), requires=entry.get("requires"),
                    expect=str(entry.get("expect", "pass")), unsupported=entry.get("unsupported"))
    if line.expect not in ("pass", "fail"):
        raise PlanError(f"{where}: expect must be pass or fail, not {line.expect!r}")
    try:
        words = _drop_run_shape(shlex.split(line.args))
    except ValueError as e:
        raise PlanError(f"{where}: {e}") from None
    try:
        ns, rest = _parser().parse_known_args(words)
    except argparse.ArgumentError as e:
        raise PlanError(f"{where}: {e}") from None
    if rest and not line.unsupported:
        line.unsupported = f"zdtm has no {' '.join(w for w in rest if w.startswith('-')) or ' '.join(rest)}"
    _fill(line, ns, where)
    return line


def _fill(line: PlanLine, ns: argparse.Namespace, where: str) -> None:
    table = {opt.dest: opt for opt in option_table()}
    for dest, value in vars(ns).items():
        if value is None:
            continue
        opt = table[dest]
        if dest in ("tests", "filters", "excludes"):
            setattr(line, dest, [_upstream_name(v) for v in value])
            continue
        try:
            value = opt.convert(value) if opt.convert else value
        except ValueError as e:
            raise PlanError(f"{where}: {opt.cli[-1]}: {e}") from None
        if dest == "flavors":
            line.flavors = value if value != ("best",) else None
        else:
            line.mode_options[dest] = value


def load_plan(path, only: list = ()) -> list:
    """The plan's lines (only those named, if any)."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as e:
        raise PlanError(f"plan {path}: {e}") from None
    entries = (data or {}).get("lines") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise PlanError(f"plan {path}: expected a mapping with a list 'lines'")
    tree = data.get("tree", "upstream")
    if tree not in ("upstream", "any"):
        raise PlanError(f"plan {path}: tree must be upstream (the lines name an upstream tree's tests, as "
                        f"zdtm.py does) or any (every test of the suite), not {tree!r}")
    lines = [parse_line(e, f"plan {path}, line {i + 1}") for i, e in enumerate(entries)]
    for line in lines:
        line.prefix = "upstream/" if tree == "upstream" else ""
    seen = set()
    for line in lines:
        if line.name in seen:
            raise PlanError(f"plan {path}: two lines named {line.name!r}")
        seen.add(line.name)
    if only:
        missing = [n for n in only if n not in seen]
        if missing:
            raise PlanError(f"plan {path}: no line named {', '.join(missing)} (lines: {', '.join(sorted(seen))})")
        lines = [line for line in lines if line.name in only]
    return lines


__all__ = ["PlanError", "PlanLine", "load_plan", "parse_line"]
