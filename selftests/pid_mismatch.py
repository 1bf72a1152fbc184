"""The classic "pid mismatch", end to end (run by test_criu_ns.py as a
separate process, since it makes itself a subreaper):

a workload is dumped, its pid is then taken by another process, a plain
criu restore fails on that pid, and a restore through `zdtm criu-ns`
succeeds and the workload passes. Prints one JSON object.
"""
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from zdtm.procs import become_subreaper, reap, wait_gone

criu, exe, work = sys.argv[1], sys.argv[2], Path(sys.argv[3])
out = {}
become_subreaper()
pidfile, outfile = work / "w.pid", work / "w.out"
subprocess.run([exe, f"--pidfile={pidfile}", f"--outfile={outfile}"], check=True, cwd=work)
pid = int(pidfile.read_text())
out["pid"] = pid
imgs = work / "img"
imgs.mkdir()
dump = subprocess.run([criu, "dump", "-t", str(pid), "-D", str(imgs), "-o", "dump.log", "-v4"])
out["dump_rc"] = dump.returncode
wait_gone([pid], 10)
reap(pid)

# Take the pid: make the kernel hand it to our next child.
occupier = None
with open("/proc/sys/kernel/ns_last_pid", "r+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    for _ in range(20):
        f.seek(0)
        f.write(str(pid - 1))
        f.flush()
        child = subprocess.Popen(["sleep", "120"])
        if child.pid == pid:
            occupier = child
            break
        child.kill()
        child.wait()
out["occupied"] = occupier is not None

plain = subprocess.run([criu, "restore", "-D", str(imgs), "-o", "restore-plain.log", "-v4", "-d",
                        "--pidfile", str(work / "plain.pid")])
out["plain_rc"] = plain.returncode
out["plain_log_errors"] = [l for l in (imgs / "restore-plain.log").read_text().splitlines() if "Error" in l][:5]

ns = subprocess.run([sys.executable, "-m", "zdtm.criu_ns", "--criu-bin", criu, "restore", "-D", str(imgs),
                     "-o", "restore-ns.log", "-v4", "-d", "--pidfile", str(work / "ns.pid")])
out["criu_ns_rc"] = ns.returncode
if ns.returncode == 0:
    restored = int((work / "ns.pid").read_text())
    out["restored_host_pid"] = restored
    with open(f"/proc/{restored}/status") as f:
        out["restored_nspid"] = [l.split()[1:] for l in f if l.startswith("NSpid:")][0]
    os.kill(restored, signal.SIGTERM)
    left = wait_gone([restored], 20)
    deadline = time.monotonic() + 10
    while not outfile.exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    out["verdict"] = outfile.read_text().strip().splitlines()[-1] if outfile.exists() else None
if occupier:
    occupier.kill()
    occupier.wait()
# Reap whatever we adopted (the pseudo-init exits once its tree is gone).
deadline = time.monotonic() + 10
while time.monotonic() < deadline:
    try:
        if os.waitpid(-1, os.WNOHANG) == (0, 0):
            time.sleep(0.01)
    except ChildProcessError:
        break
print(json.dumps(out))
