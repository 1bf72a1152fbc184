"""Before dumping a QUIET_TCP test the harness waits until none of the
tree's TCP segments is in flight and its server waits in a read for its
peer (zdtm.netns_tcp): real connections in a netns of their own: one whose
server waits in recv(), one whose server sleeps, one whose segments can
never be acknowledged (its loopback taken down after the data was queued)."""
import shutil
import subprocess
import sys
import textwrap
import time

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
    pairs = {"waits": pair(), "sleeps": pair(), "busy": pair()}
    kids = []
    for name in ("waits", "sleeps"):
        kid = os.fork()
        if kid == 0:
            for other, socks in pairs.items():
                if other != name:
                    for s in socks: s.close()
            if name == "waits":
                pairs[name][2].recv(1)      # the server waits for its peer
            time.sleep(60); os._exit(0)
        kids.append(kid)
    for socks in list(pairs.values())[:2]:
        for s in socks: s.close()
    subprocess.run(["ip", "link", "set", "lo", "down"], check=True)
    pairs["busy"][1].send(b"x" * 4096)
    print(*kids, flush=True)
    time.sleep(60)
""")


def test_quiet_is_nothing_in_flight_and_a_server_waiting_for_its_peer():
    if not (shutil.which("ss") and shutil.which("nsenter") and shutil.which("unshare")):
        pytest.skip("needs ss, nsenter and unshare")
    proc = subprocess.Popen(["unshare", "-n", sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, text=True)
    try:
        waits, sleeps = map(int, proc.stdout.readline().split())
        deadline = time.monotonic() + 5
        while netns_tcp.look(waits).server_waits is not True and time.monotonic() < deadline:
            time.sleep(0.01)
        quiet, waited, looks = netns_tcp.wait_quiet(waits, 2.0)
        assert quiet is True and looks == netns_tcp.QUIET_LOOKS + 1, (quiet, waited, looks)
        # nothing in flight, but its server sleeps elsewhere than in a read of its peer
        seen = netns_tcp.look(sleeps)
        assert seen.in_flight == 0 and seen.server_waits is False, seen
        assert netns_tcp.wait_quiet(sleeps, 0.2)[0] is False
        # its own segment in flight (the children's connections are idle)
        assert netns_tcp.look(proc.pid).in_flight == 1
        quiet, waited, looks = netns_tcp.wait_quiet(proc.pid, 0.3)
        assert quiet is False and waited >= 0.3 and looks > netns_tcp.QUIET_LOOKS, (quiet, waited, looks)
    finally:
        subprocess.run(["pkill", "-KILL", "-P", str(proc.pid)], check=False)
        proc.kill()
        proc.wait()


def test_a_tree_gone_cannot_be_looked_at():
    gone = subprocess.Popen(["true"])
    gone.wait()
    assert netns_tcp.look(gone.pid) is None
    assert netns_tcp.wait_quiet(gone.pid, 1.0)[0] is None
