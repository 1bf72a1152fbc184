"""One option table: `zdtm run` and pytest take the same options and build
the same Settings from them."""
import argparse
import subprocess
import sys

import pytest

from conftest import PROJECT, run_zdtm
from zdtm.cli import build_parser
from zdtm.options import add_pytest_options, option_table, pytest_args, settings_from

EVERYTHING = ["-t", "static/pipe00", "-t", "static/env00", "-T", "pipe", "-x", "maps", "-f", "h,uns",
              "--iters", "3", "--norst", "--criu-ns", "--keep-img", "always", "--identity", "as-root",
              "--criu-timeout", "7.5", "--no-install", "--criu-bin", "/x/criu", "--zdtm-dir", "/tmp/zz",
              "--upstream", "/a", "--upstream", "/b", "--suite", "/s.yaml"]


class _Group:
    """pytest's option group has argparse's add_argument signature."""

    def __init__(self, parser):
        self.addoption = parser.add_argument


def _pytest_namespace(argv):
    parser = argparse.ArgumentParser()
    add_pytest_options(_Group(parser))
    return parser.parse_args(argv)


def test_both_doors_build_the_same_settings():
    args = build_parser().parse_args(["run", *EVERYTHING])
    from_cli = settings_from(lambda dest: getattr(args, dest, None))
    ns = _pytest_namespace(pytest_args(args))
    from_pytest = settings_from(lambda dest: getattr(ns, dest, None))
    assert from_cli == from_pytest
    s = from_cli
    assert (s.flavors, s.keep_img, s.identity, s.criu_timeout, s.install_criu, s.criu_bin) == \
        (("h", "uns"), "always", "as-root", 7.5, False, "/x/criu")
    assert (s.tests, s.filters, s.excludes, s.upstream, str(s.state_dir), s.suite_file) == \
        (["static/pipe00", "static/env00"], ["pipe"], ["maps"], ["/a", "/b"], "/tmp/zz", "/s.yaml")
    # (modes' switches that are off may be recorded as False)
    assert {k: v for k, v in s.mode_options.items() if v} == {"iters": 3, "norst": True, "criu_ns": True}


def test_defaults_are_the_same_in_both_doors():
    args = build_parser().parse_args(["run"])
    assert pytest_args(args) == []
    ns = _pytest_namespace([])
    assert settings_from(lambda d: getattr(args, d, None)) == settings_from(lambda d: getattr(ns, d, None))


def test_every_run_option_has_both_doors():
    for opt in option_table():
        if "run" in opt.commands:
            assert opt.cli and opt.pytest, opt.dest


@pytest.mark.parametrize("door", ["zdtm", "pytest"])
def test_a_bad_value_is_a_usage_error_naming_the_option(door):
    if door == "zdtm":
        res = run_zdtm("run", "-f", "hh")
    else:
        res = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "zdtm", "--zdtm-flavor",
                              "hh"], cwd=PROJECT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert res.returncode == 4, res.stdout
    assert "--flavor/--zdtm-flavor: unknown flavor 'hh'" in res.stdout, res.stdout
