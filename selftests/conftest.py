"""Fixtures for the harness's own tests.

Integration tests drive the real `zdtm` command against small suites made in
a directory the workload uid can reach, with the real criu.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
PROJECT = HERE.parent
WORKLOADS = HERE / "workloads"


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes long (a real criu provisioning)")


def run_zdtm(*args, env=None, timeout=300, check=None) -> subprocess.CompletedProcess:
    full_env = dict(os.environ)
    full_env.pop("PYTEST_XDIST_WORKER", None)
    full_env.update(env or {})
    res = subprocess.run([sys.executable, "-m", "zdtm", *map(str, args)], cwd=PROJECT, env=full_env,
                         stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, timeout=timeout)
    if check is not None:
        assert res.returncode == check, res.stdout
    return res


def copy_upstream_tree(source: Path, top: Path) -> Path:
    """A private copy of upstream's test tree laid out as in a checkout
    (top/test/zdtm), without what a zdtm.py run left in the source's
    (outputs, pidfiles, its tests' sockets and fifos: Makefile cleanout)."""
    skip = shutil.ignore_patterns("*.pid", "*.out", "*.out.*", "*.outns", "*.test", "*.test.*", "*.state")
    shutil.copytree(source / "test" / "zdtm", top / "test" / "zdtm", symlinks=True, ignore=skip)
    shutil.copy(source / "test" / "zdtm.desc", top / "test" / "zdtm.desc")
    return top


def tasks_mentioning(path: Path) -> list:
    """Live tasks whose command line or cwd lies under path."""
    found = []
    needle = str(path)
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                cmd = f.read().replace(b"\0", b" ").decode(errors="replace")
            cwd = os.readlink(f"/proc/{pid}/cwd")
        except OSError:
            continue
        if needle in cmd or cwd.startswith(needle):
            found.append(f"{pid}: {cmd.strip()} (cwd {cwd})")
    return found


class MiniSuite:
    """A suite of a few workloads in a world-reachable temp dir."""

    def __init__(self, base: Path):
        self.base = base
        self.tests = base / "suite" / "static"
        self.tests.mkdir(parents=True)
        self.state = base / "state"
        self.file = base / "suite" / "suite.yaml"
        self.file.write_text("roots:\n  - name: static\n    path: static\nexclude: []\n")

    def add(self, name: str, source: str = None, desc: str = None, copy_from: str = None) -> None:
        suffix = ".py" if (copy_from or "").endswith(".py") else ".c"
        if copy_from:
            shutil.copy(WORKLOADS / copy_from, self.tests / (name + suffix))
        else:
            (self.tests / (name + suffix)).write_text(textwrap.dedent(source))
        if desc is not None:
            (self.tests / (name + ".desc")).write_text(desc)

    def run(self, *args, **kw) -> subprocess.CompletedProcess:
        return run_zdtm("run", "--suite", self.file, "--zdtm-dir", self.state, "-f", "h", *args, **kw)

    def latest(self) -> Path:
        return (self.state / "runs" / "latest").resolve()


@pytest.fixture
def reachable_dir():
    """A temp dir every user can reach (pytest's tmp_path is 0700)."""
    d = Path(tempfile.mkdtemp(prefix="zdtm-selftest-", dir="/var/tmp"))
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def mini_suite(reachable_dir):
    suite = MiniSuite(reachable_dir)
    yield suite
    left = tasks_mentioning(reachable_dir)
    assert not left, "tasks left behind:\n" + "\n".join(left)
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(reachable_dir) not in mounts, "mounts left behind"


@pytest.fixture(scope="session")
def real_criu():
    """The criu the harness would use (provisioned if needed)."""
    res = run_zdtm("provision", check=0)
    return res.stdout.strip().splitlines()[-1]


@pytest.fixture
def trivial_engine(reachable_dir, real_criu):
    """An in-process engine over a suite of one trivial workload, images kept."""
    from zdtm.config import Settings
    from zdtm.engine import Engine
    from zdtm.suite import Suite
    root = reachable_dir / "suite"
    (root / "static").mkdir(parents=True)
    shutil.copy(WORKLOADS / "trivial.c", root / "static" / "trivial.c")
    (root / "suite.yaml").write_text("roots:\n  - name: static\n    path: static\n")
    eng = Engine(Settings(criu_bin=real_criu, state_dir=reachable_dir / "state", keep_img="always"),
                 Suite.load(root / "suite.yaml"))
    eng.start_session()
    yield eng
    eng.end_session()       # its journal: this process ran its last test
