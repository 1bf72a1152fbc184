"""Before dumping a QUIET_TCP test the harness waits until none of the
tree's TCP segments is in flight (zdtm.netns_tcp): real connections in a
netns of their own, one idle, one whose segments can never be acknowledged
(its loopback taken down after the data was queued)."""
import shutil
import subprocess
import sys
import textwrap

import pytest

from zdtm import netns_tcp

# parent: a connection whose data stays unacknowledged; child: an idle one
SCRIPT = textwrap.dedent("""
    import os, socket, subprocess, sys, time
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    def pair():
        lsk = socket.socket(); lsk.bind(("127.0.0.1", 0)); lsk.listen()
        c = socket.create_connection(lsk.getsockname()); p, _ = lsk.accept()
        return lsk, c, p
    idle = pair()
    busy = pair()
    child = os.fork()
    if child == 0:
        for s in busy: s.close()
        time.sleep(60); os._exit(0)
    for s in idle: s.close()
    subprocess.run(["ip", "link", "set", "lo", "down"], check=True)
    busy[1].send(b"x" * 4096)
    print(child, flush=True)
    time.sleep(60)
""")


def test_only_the_trees_own_unacknowledged_segments_keep_it_from_quiet():
    if not (shutil.which("ss") and shutil.which("nsenter") and shutil.which("unshare")):
        pytest.skip("needs ss, nsenter and unshare")
    proc = subprocess.Popen(["unshare", "-n", sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        idle_child = int(proc.stdout.readline())
        quiet, waited, looks = netns_tcp.wait_quiet(idle_child, 2.0)
        assert quiet is True and looks == netns_tcp.QUIET_LOOKS, (quiet, waited, looks)
        assert netns_tcp.in_flight(proc.pid) == 1
        quiet, waited, looks = netns_tcp.wait_quiet(proc.pid, 0.3)
        assert quiet is False and waited >= 0.3 and looks > netns_tcp.QUIET_LOOKS, (quiet, waited, looks)
    finally:
        subprocess.run(["pkill", "-KILL", "-P", str(proc.pid)], check=False)
        proc.kill()
        proc.wait()


def test_a_tree_gone_cannot_be_looked_at():
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert netns_tcp.in_flight(gone.pid) is None
    assert netns_tcp.wait_quiet(gone.pid, 1.0)[0] is None
