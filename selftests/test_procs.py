"""Killing a tree the kernel keeps from dying: a task in a frozen cgroup v1
freezer cgroup (one a test's .desc had criu restore it into) takes its
SIGKILL only once thawed; kill_trees thaws it."""
import os
import subprocess
import time
from pathlib import Path

import pytest

from zdtm.procs import FREEZER_V1, kill_trees, proc_state, wait_child

pytestmark = pytest.mark.skipif(not Path(FREEZER_V1, "cgroup.procs").exists(), reason="no cgroup v1 freezer here")


def test_kill_trees_thaws_the_freezer_cgroup_that_holds_a_task():
    cgroup = Path(FREEZER_V1, f"zdtm-selftest-frozen-{os.getpid()}")
    cgroup.mkdir()
    proc = subprocess.Popen(["sleep", "60"])
    try:
        (cgroup / "cgroup.procs").write_text(f"{proc.pid}\n")
        (cgroup / "freezer.state").write_text("FROZEN")
        deadline = time.monotonic() + 5
        while (cgroup / "freezer.state").read_text().strip() != "FROZEN" and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc_state(proc.pid) == "D"
        assert kill_trees([proc.pid]) == [proc.pid]
        assert wait_child(proc, 5) == -9
        assert (cgroup / "freezer.state").read_text().strip() == "THAWED"
    finally:
        (cgroup / "freezer.state").write_text("THAWED")
        proc.kill()
        proc.wait()
        cgroup.rmdir()
