"""`zdtm bench --against-zdtm-py TREE`: both harnesses on one criu source
tree, one criu binary and one flavor, side by side in one invocation.

CRIU's own test/zdtm.py needs pycriu generated into the tree and a few -dev
packages to build its tests; this sets that up first (once: what exists is
reused), then times a run of zdtm.py and a run of this harness, and prints the
counts, each test whose verdicts differ, and the wall-time ratio.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .guards.hostpaths import remove_left

ZDTM_PY_PACKAGES = ("protobuf-compiler", "libprotobuf-dev", "protobuf-c-compiler", "libprotobuf-c-dev", "libaio-dev", "libcap-dev",
                    "pkg-config", "libnl-3-dev", "libnl-route-3-dev", "libnet1-dev", "libbsd-dev", "libdrm-dev",
                    "libgnutls28-dev", "python3-protobuf")
SYSTEM_PATH = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin"      # Debian's python3, not pyenv's


def _run(argv, what: str, **kw) -> subprocess.CompletedProcess:
    res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                         text=True, **kw)
    if res.returncode != 0:
        raise SystemExit(f"zdtm bench: {what} failed ({' '.join(map(str, argv))}):\n{res.stdout[-3000:]}")
    return res


def ensure_packages() -> None:
    missing = [p for p in ZDTM_PY_PACKAGES if subprocess.run(
        ["dpkg-query", "-W", "-f=${Status}", p], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        text=True).stdout.strip() != "install ok installed"]
    if missing:
        print(f"zdtm bench: installing {' '.join(missing)} (zdtm.py builds its tests with them)", flush=True)
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": SYSTEM_PATH}
        _run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *missing], "apt-get install", env=env)


def generate_pycriu(tree: Path, version: str) -> None:
    """lib/pycriu as criu's Makefile would generate it (zdtm.py imports it)."""
    lib = tree / "lib" / "pycriu"
    images = lib / "images"
    if (images / "pb.py").exists():
        return
    protos = sorted(p.name for p in (tree / "images").glob("*.proto"))
    _run(["protoc", "-I", str(tree / "images"), "-I", "/usr/include", f"--python_out={images}", *protos],
         "protoc (images)")
    _run(["protoc", "-I", str(tree / "images"), f"--python_out={lib}", "rpc.proto"], "protoc (rpc)")
    _run([sys.executable, str(tree / "scripts" / "magic-gen.py"), str(tree / "criu" / "include" / "magic.h"),
          str(images / "magic.py")], "magic-gen.py")
    mods = sorted(p.stem for p in images.glob("*_pb2.py") if p.stem != "opts_pb2")
    (images / "pb.py").write_text("".join(f"from .{m} import *\n" for m in mods))
    (lib / "version.py").write_text(f"__version__ = '{version}'\n")


def _zdtm_py_verdicts(report_dir: Path) -> dict:
    out = {}
    for tap in sorted(report_dir.glob("criu-testreport*.tap")):
        for line in tap.read_text().splitlines():
            m = re.match(r"(not ok|ok) \d+ - (\S+)(?: # (SKIP|flavor)?)?", line)
            if m:
                name = m.group(2).removeprefix("zdtm/")
                out[name] = "skipped" if m.group(3) == "SKIP" else "passed" if m.group(1) == "ok" else "failed"
    return out


NR_HUGEPAGES = Path("/proc/sys/vm/nr_hugepages")


def run_zdtm_py(tree: Path, criu: str, flavor: str, jobs: str) -> tuple:
    """zdtm.py raises vm.nr_hugepages for its run and leaves it so: given back
    after, and what it leaves in /tmp removed."""
    before = NR_HUGEPAGES.read_text()
    tmp_before = set(Path("/tmp").glob("zdtm_*"))
    try:
        return _run_zdtm_py(tree, criu, flavor, jobs)
    finally:
        NR_HUGEPAGES.write_text(before)
        # what its mnt_ext_* tests leave under fixed names in /tmp
        for path in sorted(set(Path("/tmp").glob("zdtm_*")) - tmp_before):
            why = remove_left(path)
            if why:
                print(f"zdtm bench: zdtm.py left {path}: {why}", flush=True)


def _run_zdtm_py(tree: Path, criu: str, flavor: str, jobs: str) -> tuple:
    report = Path(tempfile.mkdtemp(prefix="zdtm-py-report-"))
    t = time.monotonic()
    subprocess.run(["/usr/bin/python3", "zdtm.py", "run", "-a", "-f", flavor, "-p", jobs, "--keep-going",
                    "--criu-bin", criu, "--report", str(report)], cwd=tree / "test", stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT, env={"PATH": SYSTEM_PATH, "HOME": "/root"})
    try:
        return time.monotonic() - t, _zdtm_py_verdicts(report)
    finally:
        shutil.rmtree(report, ignore_errors=True)
        # zdtm.py leaves each test's output, pidfile and files (sockets,
        # fifos) in the tree: removed, as its Makefile's cleanout does, so
        # that the tree is a source tree again (copies of it work).
        subprocess.run(["make", "-s", "-C", str(tree / "test" / "zdtm"), "cleanout"], stdin=subprocess.DEVNULL,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def run_ours(tree: Path, criu: str, flavor: str, jobs: str) -> tuple:
    with tempfile.TemporaryDirectory(prefix="zdtm-bench-") as tmp:
        report = Path(tmp) / "report.json"
        t = time.monotonic()
        subprocess.run([sys.executable, "-m", "zdtm", "run", "--upstream", str(tree), "-T", "^upstream/",
                        "-f", flavor, "-p", jobs, "--criu-bin", criu, "--json-report", str(report)],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        wall = time.monotonic() - t
        tests = json.loads(report.read_text())["tests"] if report.exists() else []
    return wall, {t["test"].removeprefix("upstream/"): t["outcome"] for t in tests}


def compare(theirs: dict, ours: dict) -> list:
    rows = []
    for name in sorted(set(theirs) | set(ours)):
        a, b = theirs.get(name, "-"), ours.get(name, "-")
        if a != b and not (a == "skipped" and b == "-"):
            rows.append(f"  {name:<42} zdtm.py {a:<8} zdtm {b}")
    return rows


def _counts(v: dict) -> str:
    return ", ".join(f"{sum(1 for o in v.values() if o == k)} {k}" for k in ("passed", "failed", "skipped"))


def main(tree: str, criu: str, version: str, flavor: str, jobs: str) -> int:
    tree = Path(tree).resolve()
    ensure_packages()
    generate_pycriu(tree, version)
    t = time.monotonic()
    _run(["make", "-j", jobs, "-C", str(tree / "test" / "zdtm")], "building zdtm.py's tests")
    print(f"zdtm.py's tests built in {time.monotonic() - t:.0f} s", flush=True)
    theirs_wall, theirs = run_zdtm_py(tree, criu, flavor, jobs)
    ours_wall, ours = run_ours(tree, criu, flavor, jobs)
    print(f"criu {criu} ({version}), tree {tree}, flavor {flavor}, -p {jobs}")
    print(f"  zdtm.py  {theirs_wall:7.1f} s   {_counts(theirs)}")
    print(f"  zdtm     {ours_wall:7.1f} s   {_counts(ours)}")
    print(f"  wall-time ratio zdtm / zdtm.py: {ours_wall / max(theirs_wall, 1e-6):.2f}")
    rows = compare(theirs, ours)
    print(f"{len(rows)} tests with different verdicts" + (":" if rows else ""))
    print("\n".join(rows))
    return 0
