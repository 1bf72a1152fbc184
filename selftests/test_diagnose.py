"""The hang report's TCP part: a connection stuck on a full receiver shows
its queues and its pending timer (what a restored connection waiting on a
backed-off retransmit or probe looks like)."""
import os
import socket
import time

from zdtm.diagnose import tcp_sockets


def test_tcp_sockets_show_queues_and_the_pending_timer():
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    client = socket.create_connection(server.getsockname())
    peer, _ = server.accept()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 12)
    client.setblocking(False)
    try:
        deadline = time.monotonic() + 5
        lines = []
        while time.monotonic() < deadline:
            try:
                while True:
                    client.send(b"x" * 4096)
            except BlockingIOError:
                pass
            lines = tcp_sockets(os.getpid())
            if any("receive queue 0," not in line for line in lines if "ESTABLISHED" in line):
                break
            time.sleep(0.05)
        port = client.getsockname()[1]
        mine = [line for line in lines if f"127.0.0.1:{port} ->" in line]
        assert len(mine) == 1, lines
        assert "ESTABLISHED" in mine[0] and "timer none" not in mine[0], mine
        assert "send queue 0," not in mine[0]
        receiver = [line for line in lines if f"-> 127.0.0.1:{port}:" in line]
        assert receiver and "receive queue 0," not in receiver[0], lines
        listener = [line for line in lines if "LISTEN" in line]
        assert listener and "0.0.0.0:0" in listener[0]
    finally:
        for s in (client, peer, server):
            s.close()


def test_wait_child_waits_without_polling_and_times_out_cleanly(monkeypatch):
    """The pidfd wait used for criu and the launcher never sleeps in a poll
    loop (Popen's wait(timeout) does, in steps up to 50 ms: a criu seen late
    twice per test), and times out as Popen does."""
    import subprocess
    import pytest
    from zdtm.procs import wait_child
    proc = subprocess.Popen(["sleep", "0.1"])
    slow = subprocess.Popen(["sleep", "5"])

    def no_polling(seconds):
        raise AssertionError(f"slept {seconds}s in a poll loop")

    monkeypatch.setattr(time, "sleep", no_polling)
    try:
        assert wait_child(proc, 5) == 0
        with pytest.raises(subprocess.TimeoutExpired):
            wait_child(slow, 0.05)
    finally:
        slow.kill()
        assert wait_child(slow, 5) == -9
    assert wait_child(slow, 5) == -9          # reaped already: its status again


def test_tree_report_names_the_fd_a_task_waits_on():
    """A stuck task's report says which syscall it sleeps in and what the
    fd it names is (which socket or pipe of the test waits)."""
    import re
    import subprocess
    from zdtm.diagnose import tree_report
    r, w = os.pipe()
    proc = subprocess.Popen(["cat"], stdin=r, stdout=subprocess.DEVNULL)
    os.close(r)
    try:
        for _ in range(100):        # until cat sleeps in its read
            if os.path.exists(f"/proc/{proc.pid}/syscall") and \
                    open(f"/proc/{proc.pid}/syscall").read().startswith("0 "):
                break
            time.sleep(0.01)
        report = tree_report([proc.pid])
        assert re.search(r"in read\(fd 0: pipe:\[\d+\]\)", report), report
    finally:
        proc.kill()
        proc.wait()
        os.close(w)


def test_tcp_counters_of_the_tasks_netns():
    """The hang report's netns TCP counters: non-zero ones only, as nstat
    names them (a connection made here counts in TcpActiveOpens)."""
    import shutil
    import pytest
    from zdtm.diagnose import tcp_counters
    if not shutil.which("nstat"):
        pytest.skip("no nstat (iproute2) here")
    lsk = socket.socket()
    lsk.bind(("127.0.0.1", 0))
    lsk.listen()
    c = socket.create_connection(lsk.getsockname())
    try:
        counters = dict(line.split() for line in tcp_counters(os.getpid()))
        assert int(counters.get("TcpActiveOpens", 0)) >= 1, counters
        assert all(v != "0" for v in counters.values()), counters
    finally:
        c.close()
        lsk.close()
