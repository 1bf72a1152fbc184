"""Loading and validating a test's ``.desc`` file.

Upstream writes a .desc as a Python dict literal; nearly every one is also a
YAML flow mapping.  We accept both, check the result against a schema and turn
every problem into one DescError naming the file, the line and the problem.
Upstream's zdtm.py eval()s them, and one (mnt_ext_dev.desc) is an expression:
the forms upstream's trees use are evaluated here without eval (_Expression).
"""
from __future__ import annotations

import ast
import os
import platform
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

FLAVORS = ("h", "ns", "uns")
TCP_REPAIR_OPTS = ("--tcp-established", "--tcp-close")
# Top-level item names of the outside check (zdtm.snapshot).
DIFF_CATEGORIES = ("tree", "fd", "maps", "mounts", "creds", "cwd", "root", "signals", "rlimits", "sched")

# Flags from upstream's .desc convention; all are accepted, the ones the
# harness acts on are documented in the README.
KNOWN_FLAGS = frozenset({
    "suid", "noauto", "crfail", "excl", "nouser", "samens", "reqrst",
    "nolazy", "crlib", "pre-dump-notify",
})

# key -> short description, used in the unknown-key message and the README.
KNOWN_KEYS = {
    "flavor": "space-separated subset of: h ns uns",
    "flags": "space-separated flags",
    "opts": "extra criu options for dump and restore",
    "dopts": "extra criu options for dump only",
    "ropts": "extra criu options for restore only",
    "feature": "criu check --feature names the test needs",
    "arch": "machine(s) the test is for",
    "deps": "host binaries the test needs (a|b = alternatives)",
    "timeout": "seconds for start/stop",
    "bind": "upstream: a directory of the ns root bound onto itself, a mount of its own (mnt_ro_root)",
    # Ours, beyond upstream:
    "args": "extra workload arguments; --filename/--dirname without a value get a harness path",
    "cflags": "extra C compiler flags",
    "ldflags": "extra linker flags",
    "crfail_match": "regex criu's dump log must match when a crfail test is refused",
    "inherit_fd": "'pipe': the workload gets --inhfd=N, the read end of a pipe the harness keeps; criu restore gets it back with --inherit-fd, and the harness writes a line into it after restore",
    "ext_mounts": "names of host directories bound at /mnt/NAME in ns/uns, given to criu as external mounts",
    "differs": "{item: reason}: what the outside check may see change across C/R, and why",
    "action_script": "a script file beside the test, given to criu dump and restore as --action-script",
    "peer": "a program beside the test the harness runs as root outside the tree while the test runs (zdtm.extpeer)",
    "plugin_mounts": "names of host directories bound at /mnt/NAME in ns/uns and NOT told to criu: the test's "
                     "criu plugin handles them (DUMP/RESTORE_EXT_MOUNT)",
}


class DescError(Exception):
    """A .desc that cannot be used; str() is the one-line message."""

    def __init__(self, path: Path, line: Optional[int], problem: str):
        self.path, self.line, self.problem = path, line, problem
        where = f"{path}:{line}" if line else str(path)
        super().__init__(f"{where}: {problem}")


@dataclass(frozen=True)
class Desc:
    flavors: tuple = FLAVORS
    flags: frozenset = frozenset()
    opts: tuple = ()
    dopts: tuple = ()
    ropts: tuple = ()
    features: tuple = ()
    arch: tuple = ()
    deps: tuple = ()
    timeout: Optional[float] = None
    args: tuple = ()
    cflags: tuple = ()
    ldflags: tuple = ()
    crfail_match: Optional[str] = None
    differs: tuple = ()          # ((item, reason), ...)
    ext_mounts: tuple = ()
    inherit_fd: Optional[str] = None
    bind: Optional[str] = None   # upstream: a dir of its root made a mount of its own (mnt_ro_root)
    action_script: Optional[str] = None   # file name beside the test (zdtm.action_script)
    peer: Optional[str] = None            # file name beside the test (zdtm.extpeer)
    plugin_mounts: tuple = ()
    path: Optional[Path] = field(default=None, compare=False)

    @property
    def criu_repairs_tcp(self) -> bool:
        """Does criu repair TCP connections for this test (and so lock the
        network with iptables, which only root may)?"""
        return any(o in TCP_REPAIR_OPTS for o in self.opts + self.dopts + self.ropts)

    @property
    def needs_root_criu(self) -> bool:
        """upstream's nouser flag, or criu's TCP repair."""
        return "nouser" in self.flags or self.criu_repairs_tcp

    def arch_mismatch(self, machine: Optional[str] = None) -> Optional[str]:
        """A skip reason if the test is not for this machine, else None."""
        if not self.arch:
            return None
        machine = machine or platform.machine()
        if machine in self.arch:
            return None
        return f"test is for {' '.join(self.arch)}, this machine is {machine}"


def _line_of(text: str, key: str) -> Optional[int]:
    m = re.search(r"""['"]?\b%s\b['"]?\s*:""" % re.escape(key), text)
    return text.count("\n", 0, m.start()) + 1 if m else None


# The calls of zdtm.py's globals that upstream's .desc expressions make.
_OS_CALLS = {"getenv": os.getenv, "stat": os.stat, "major": os.major, "minor": os.minor}
_EXPRESSION_FORMS = ("literals, 'and'/'or', an immediately called lambda, str % values, "
                     "os.getenv(), os.stat(...).st_rdev, os.major(), os.minor()")


class _Expression:
    """A .desc written as a Python expression, evaluated over a whitelist of
    exactly the forms upstream's trees use (mnt_ext_dev.desc:
    `os.getenv(V) and (lambda dev, rdev: {...})(os.getenv(V),
    os.stat(os.getenv(V)).st_rdev) or {'flags': 'noauto'}`), in the
    harness's environment as zdtm.py's eval() sees its own. Anything else
    is a DescError naming what and where."""

    def __init__(self, path: Path, lead: int):
        self.path, self.lead = path, lead       # lead: lines stripped before the text

    def error(self, node: ast.AST, problem: str) -> DescError:
        return DescError(self.path, getattr(node, "lineno", 1) + self.lead, problem)

    def eval(self, node: ast.AST, scope: dict) -> Any:
        method = getattr(self, "_" + type(node).__name__, None)
        if method is None:
            raise self.error(node, f"{type(node).__name__} ({ast.unparse(node)[:60]!r}) is not supported in a "
                                   f".desc expression; this harness evaluates, without eval(), only what "
                                   f"upstream's descs use: {_EXPRESSION_FORMS}")
        return method(node, scope)

    def _Constant(self, node, scope):
        return node.value

    def _Dict(self, node, scope):
        if None in node.keys:
            raise self.error(node, "'**' in a .desc expression is not supported")
        return {self.eval(k, scope): self.eval(v, scope) for k, v in zip(node.keys, node.values)}

    def _Tuple(self, node, scope):
        return tuple(self.eval(e, scope) for e in node.elts)

    def _BoolOp(self, node, scope):
        value = None
        for operand in node.values:         # Python's: the deciding operand's value
            value = self.eval(operand, scope)
            if bool(value) != isinstance(node.op, ast.And):
                break
        return value

    def _BinOp(self, node, scope):
        left = self.eval(node.left, scope)
        if not isinstance(node.op, ast.Mod) or not isinstance(left, str):
            raise self.error(node, "the only operator in a .desc expression is str % values")
        try:
            return left % self.eval(node.right, scope)
        except (TypeError, ValueError) as e:
            raise self.error(node, f"{ast.unparse(node)[:60]!r}: {e}") from None

    def _Name(self, node, scope):
        if node.id not in scope:
            raise self.error(node, f"unknown name '{node.id}' in a .desc expression")
        return scope[node.id]

    def _Attribute(self, node, scope):
        value = self.eval(node.value, scope)
        if node.attr != "st_rdev" or not isinstance(value, os.stat_result):
            raise self.error(node, f"'.{node.attr}' is not supported in a .desc expression (only "
                                   f"os.stat(...).st_rdev)")
        return value.st_rdev

    def _Call(self, node, scope):
        if node.keywords or any(isinstance(a, ast.Starred) for a in node.args):
            raise self.error(node, "keyword or * arguments in a .desc expression are not supported")
        args = [self.eval(a, scope) for a in node.args]
        func = node.func
        if isinstance(func, ast.Lambda):
            params = func.args
            if params.posonlyargs or params.vararg or params.kwonlyargs or params.kwarg or params.defaults \
                    or len(params.args) != len(args):
                raise self.error(node, "a lambda in a .desc expression takes exactly its positional arguments")
            return self.eval(func.body, dict(scope, **{a.arg: v for a, v in zip(params.args, args)}))
        if not (isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id == "os"
                and func.attr in _OS_CALLS):
            raise self.error(node, f"calling {ast.unparse(func)[:40]!r} is not supported in a .desc expression "
                                   f"(only os.{', os.'.join(_OS_CALLS)})")
        try:
            return _OS_CALLS[func.attr](*args)
        except (OSError, TypeError, ValueError) as e:
            raise self.error(node, f"{ast.unparse(node)[:60]!r}: {e}") from None


def _expression(text: str) -> Optional[ast.AST]:
    """The AST of a .desc that is a Python expression other than a literal
    (upstream eval()s those), else None (literal or YAML: parsed as such)."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        return None
    plain = (ast.Dict, ast.Constant, ast.Name, ast.List, ast.Tuple, ast.Set)
    return None if isinstance(tree.body, plain) else tree.body


def _evaluate(path: Path, text: str, body: ast.AST) -> dict:
    lead = text[: len(text) - len(text.lstrip())].count("\n")
    value = _Expression(path, lead).eval(body, {})
    if not isinstance(value, dict):
        raise DescError(path, 1 + lead, f"the expression evaluates to {value!r}, expected a mapping like "
                                        f"{{'flavor': 'h'}}")
    return value


def _parse(path: Path, text: str) -> Any:
    stripped = text.strip()
    if not stripped:
        return {}
    body = _expression(stripped)
    if body is not None:
        return _evaluate(path, text, body)
    literal_error = None
    if stripped.startswith("{"):
        try:
            return ast.literal_eval(stripped)
        except (SyntaxError, ValueError) as e:
            literal_error = e
    try:
        # YAML forbids tabs in some places where Python does not care.
        return yaml.safe_load(text.replace("\t", " "))
    except yaml.YAMLError as e:
        if isinstance(literal_error, SyntaxError):
            # Offset by leading whitespace stripped above.
            lead = text[: len(text) - len(text.lstrip())].count("\n")
            raise DescError(path, (literal_error.lineno or 0) + lead or None,
                            f"syntax error: {literal_error.msg}") from None
        mark = getattr(e, "problem_mark", None)
        problem = getattr(e, "problem", None) or str(e)
        raise DescError(path, mark.line + 1 if mark else None, f"syntax error: {problem}") from None


def _words(path, text, key, value) -> tuple:
    if isinstance(value, (list, tuple)):
        value = " ".join(str(v) for v in value)
    if not isinstance(value, str):
        raise DescError(path, _line_of(text, key),
                        f"'{key}' must be a string of space-separated words, not {type(value).__name__}")
    return tuple(value.split())


def _argv(path, text, key, value) -> tuple:
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    if not isinstance(value, str):
        raise DescError(path, _line_of(text, key), f"'{key}' must be a string, not {type(value).__name__}")
    try:
        return tuple(shlex.split(value))
    except ValueError as e:
        raise DescError(path, _line_of(text, key), f"'{key}': {e}") from None


def _bind(path: Path, line: Optional[int], value) -> str:
    if not isinstance(value, str):
        raise DescError(path, line, f"'bind' must be a path string, not {type(value).__name__}")
    if value.startswith("/") or ".." in value.split("/"):
        raise DescError(path, line, f"'bind' must be a path inside the test's root, not {value!r}")
    return value


def _beside(path: Path, line: Optional[int], key: str, value) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[A-Za-z0-9_][A-Za-z0-9_.-]*", value):
        raise DescError(path, line, f"'{key}' must name a file beside the test (no '/'), not {value!r}")
    return value


def parse_desc(path: Path, text: str) -> Desc:
    data = _parse(path, text)
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise DescError(path, 1, f"expected a mapping like {{'flavor': 'h'}}, got {type(data).__name__}")
    kw: dict = {"path": path}
    for key, value in data.items():
        line = _line_of(text, str(key))
        if key not in KNOWN_KEYS:
            raise DescError(path, line, f"unknown key '{key}' (known: {', '.join(KNOWN_KEYS)})")
        if key == "flavor":
            flavors = _words(path, text, key, value)
            bad = [f for f in flavors if f not in FLAVORS]
            if bad:
                raise DescError(path, line, f"unknown flavor '{bad[0]}' (known: {' '.join(FLAVORS)})")
            if not flavors:
                raise DescError(path, line, "'flavor' names no flavor")
            kw["flavors"] = tuple(f for f in FLAVORS if f in flavors)
        elif key == "flags":
            flags = _words(path, text, key, value)
            bad = [f for f in flags if f not in KNOWN_FLAGS]
            if bad:
                raise DescError(path, line, f"unknown flag '{bad[0]}' (known: {' '.join(sorted(KNOWN_FLAGS))})")
            kw["flags"] = frozenset(flags)
        elif key in ("opts", "dopts", "ropts", "args", "cflags", "ldflags"):
            kw[key] = _argv(path, text, key, value)
        elif key == "inherit_fd":
            if value != "pipe":
                raise DescError(path, line, f"'inherit_fd': only 'pipe' is supported, not {value!r}")
            kw["inherit_fd"] = value
        elif key in ("ext_mounts", "plugin_mounts"):
            names = _words(path, text, key, value)
            bad = [n for n in names if not re.fullmatch(r"[A-Za-z0-9_-]+", n)]
            if bad:
                raise DescError(path, line, f"'{key}': {bad[0]!r} is not a plain name")
            kw[key] = names
        elif key == "feature":
            kw["features"] = _words(path, text, key, value)
        elif key in ("arch", "deps"):
            kw[key] = _words(path, text, key, value)
        elif key == "timeout":
            if isinstance(value, bool) or not isinstance(value, (int, float, str)):
                raise DescError(path, line, f"'timeout' must be a number of seconds, not {value!r}")
            try:
                seconds = float(value)
            except ValueError:
                raise DescError(path, line, f"'timeout' must be a number of seconds, not {value!r}") from None
            if seconds <= 0:
                raise DescError(path, line, f"'timeout' must be positive, not {value!r}")
            kw["timeout"] = seconds
        elif key == "bind":
            kw["bind"] = _bind(path, line, value)
        elif key in ("action_script", "peer"):
            kw[key] = _beside(path, line, key, value)
        elif key == "crfail_match":
            if not isinstance(value, str):
                raise DescError(path, line, "'crfail_match' must be a regular expression string")
            try:
                re.compile(value)
            except re.error as e:
                raise DescError(path, line, f"'crfail_match' is not a valid regex: {e}") from None
            kw["crfail_match"] = value
        elif key == "differs":
            if not isinstance(value, dict) or not value:
                raise DescError(path, line, "'differs' must map each item (e.g. 'fd.3.pos') to the reason it "
                                            "legitimately changes across C/R")
            for item, reason in value.items():
                if not isinstance(item, str) or not isinstance(reason, str) or not reason.strip():
                    raise DescError(path, _line_of(text, str(item)) or line,
                                    f"'differs': item {item!r} needs a reason string")
                if item.split(".")[0] not in DIFF_CATEGORIES:
                    raise DescError(path, _line_of(text, str(item)) or line,
                                    f"'differs': unknown item {item!r} (categories: {' '.join(DIFF_CATEGORIES)})")
            kw["differs"] = tuple(sorted(value.items()))
    desc = Desc(**kw)
    if desc.crfail_match and "crfail" not in desc.flags:
        raise DescError(path, _line_of(text, "crfail_match"), "'crfail_match' given without the 'crfail' flag")
    return desc


def load_desc(path: Path) -> Desc:
    """Load NAME.desc; a missing file means all defaults."""
    try:
        text = path.read_text()
    except FileNotFoundError:
        return Desc(path=None)
    except (OSError, UnicodeDecodeError) as e:
        raise DescError(path, None, f"cannot read: {e}") from None
    return parse_desc(path, text)
