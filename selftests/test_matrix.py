"""zdtm matrix: kernels.yaml, the initramfs, the merged report, and real
guests: one kernel booted with one test, a guest that panics and one that
hangs (each a result, within its bounds)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from zdtm.matrix import initramfs, kernels as kmod
from zdtm.matrix.cli import run_args
from zdtm.matrix.guest import Guest, qemu_available
from zdtm.matrix.junit import junit
from zdtm.matrix.runner import KernelRun, _synthetic, run_args_with_defaults, summarize
from zdtm.reports import merge as rmerge

from conftest import PROJECT, run_zdtm

KERNEL = "6.12"          # the kernel the real boots use (Debian's, fetched once into the cache)


def test_kernels_file_lists_the_required_kernels():
    specs = kmod.load_specs()
    default = {s.name: s for s in kmod.select(specs, [])}
    assert {"6.1", "6.12", "newest", "host"} <= set(default)
    assert default["newest"].suite == "sid" and default["host"].host
    assert [s.name for s in kmod.select(specs, ["6.1"])] == ["6.1"]
    with pytest.raises(kmod.KernelError, match="no kernel named nope .*kernels: 6.1"):
        kmod.select(specs, ["nope"])


@pytest.mark.parametrize("text, error", [
    ("kernels: []\n", "non-empty list 'kernels'"),
    ("kernels:\n  - name: a\n    package: linux-image-amd64\n", "kernel 1 \\(a\\): package linux-image-amd64 needs a suite"),
    ("kernels:\n  - name: a\n    host: true\n    bzimage: /x\n", "exactly one of"),
    ("kernels:\n  - name: a\n    host: true\n    colour: red\n", "unknown key\\(s\\) colour"),
    ("kernels:\n  - {name: a, host: true}\n  - {name: a, host: true}\n", "two kernels named 'a'"),
])
def test_a_bad_kernels_file_is_one_error_naming_it(tmp_path, text, error):
    f = tmp_path / "kernels.yaml"
    f.write_text(text)
    with pytest.raises(kmod.KernelError, match=f"{f}.*{error}"):
        kmod.load_specs(f)


def test_a_local_kernel_needs_its_depmoded_modules(tmp_path):
    image = tmp_path / "bzImage"
    image.write_bytes(b"x")
    spec = kmod.KernelSpec("mine", bzimage=str(image), modules=str(tmp_path / "mods"))
    with pytest.raises(kmod.KernelError, match="kernel mine: modules .* is not a directory"):
        kmod.prepare(spec, tmp_path, print)
    (tmp_path / "mods" / "6.9.0").mkdir(parents=True)
    (tmp_path / "mods" / "6.9.0" / "modules.dep").write_text("")
    k = kmod.prepare(spec, tmp_path, print)
    assert k.release == "6.9.0" and k.vmlinuz == image


def test_matrix_arguments_go_to_zdtm_run_and_default_to_the_smoke_selection():
    assert run_args(["--kernel", "6.1", "-t", "static/pipe00", "--out=/x", "-j", "2", "--offline"]) == \
        ["-t", "static/pipe00"]
    assert run_args_with_defaults([]) == ["--plan", str(PROJECT / "desc" / "smoke.yaml"), "-f", "h,ns,uns"]
    assert run_args_with_defaults(["-t", "static/rtc", "-f", "h"]) == ["-t", "static/rtc", "-f", "h"]


def test_the_smoke_plan_loads_and_names_existing_tests():
    from zdtm.plan import load_plan
    lines = load_plan(PROJECT / "desc" / "smoke.yaml")
    tests = {t for line in lines for t in line.tests}
    assert {"static/rtc", "live/mem_dirty"} <= tests
    assert any("pre" in line.mode_options for line in lines) and any("snaps" in line.mode_options for line in lines)
    for t in tests:
        root, name = t.split("/")
        assert list((PROJECT / "tests" / root).glob(name + ".*")), f"{t} does not exist"


def test_module_order_loads_dependencies_first(tmp_path):
    (tmp_path / "modules.dep").write_text(
        "kernel/fs/9p/9p.ko: kernel/net/9p/9pnet.ko kernel/fs/netfs/netfs.ko\n"
        "kernel/net/9p/9pnet_virtio.ko: kernel/net/9p/9pnet.ko\n"
        "kernel/net/9p/9pnet.ko:\nkernel/fs/netfs/netfs.ko:\n")
    order = initramfs.module_order(tmp_path)
    assert order.index("kernel/net/9p/9pnet.ko") < order.index("kernel/net/9p/9pnet_virtio.ko")
    assert order.index("kernel/fs/netfs/netfs.ko") < order.index("kernel/fs/9p/9p.ko")
    assert len(order) == 4      # virtio_pci builtin here: not in modules.dep


@pytest.mark.skipif(not shutil.which("busybox"), reason="busybox not installed (install-system-deps --matrix)")
def test_the_initramfs_is_a_cpio_busybox_reads(tmp_path):
    mods = tmp_path / "lib" / "modules" / "6.9.0"
    (mods / "kernel").mkdir(parents=True)
    (mods / "kernel" / "9p.ko").write_bytes(b"\x7fELF fake")
    (mods / "modules.dep").write_text("kernel/9p.ko:\n")
    kernel = kmod.Kernel(kmod.KernelSpec("k", host=True), release="6.9.0", modules=mods)
    out = initramfs.build(kernel, tmp_path / "initrd", Path("/results"), "box", "/results/modprobe")
    listing = subprocess.run(["busybox", "cpio", "-t"], stdin=open(out, "rb"), capture_output=True, text=True)
    assert {"init", "stage2", "bin/busybox", "modules/9p.ko", "dev/console"} <= set(listing.stdout.split())
    extracted = tmp_path / "x"
    extracted.mkdir()
    subprocess.run(["busybox", "cpio", "-i", "init"], stdin=open(out, "rb"), cwd=extracted, check=True,
                   capture_output=True)
    init = (extracted / "init").read_text()
    assert "insmod /modules/$m" in init and "for m in 9p.ko;" in init and "/newroot/results" in init


def _doc_of(*runs):
    docs = [_synthetic(r, "box", has_report=False) for r in runs]
    return rmerge.merge(docs)


def test_a_kernel_that_does_not_boot_or_panics_is_a_failed_row_of_its_column():
    runs = [KernelRun("6.1", "6.1.0-1-amd64", "boot-hang", "tcg (KVM probe failed)", None, 180.0,
                      "no guest command after 180 s", "/r/6.1"),
            KernelRun("new", "7.0-amd64", "panic", "tcg", 4.2, 30.0, "Kernel panic - not syncing: x", "/r/new"),
            KernelRun("old", "", "fetch-failed", message="kernel old: no linux-image-amd64 in woody")]
    doc = _doc_of(*runs)
    rows = {(t["id"], t["kernel"]): t for t in doc["tests"]}
    assert rows[("matrix/boot[h]", "6.1.0-1-amd64")]["outcome"] == "failed"
    assert "console: /r/6.1/console.log" in rows[("matrix/boot[h]", "6.1.0-1-amd64")]["message"]
    assert rows[("matrix/boot[h]", "7.0-amd64")]["outcome"] == "passed"       # it booted, then panicked
    assert "Kernel panic" in rows[("matrix/run[h]", "7.0-amd64")]["message"]
    assert rows[("matrix/boot[h]", "old")]["phase"] == "fetch"
    summary = summarize(doc, runs)
    assert [s["status"] for s in summary] == ["boot-hang", "panic", "fetch-failed"]
    assert "matrix/boot" in rmerge.markdown(doc)


def test_the_merged_junit_merges_again(tmp_path):
    doc = _doc_of(KernelRun("a", "6.1", "ok", "tcg", 5.0, 60.0, "", "/r/a"),
                  KernelRun("b", "6.12", "hang", "tcg", 5.0, 60.0, "killed", "/r/b"))
    f = tmp_path / "junit.xml"
    f.write_text(junit(doc))
    again = rmerge.load(str(f))
    assert sorted((t["id"], t["kernel"], t["outcome"]) for t in again["tests"]) == \
        sorted((t["id"], t["kernel"], t["outcome"]) for t in doc["tests"])


# ---------------------------------------------------------------- real guests

needs_qemu = pytest.mark.skipif(bool(qemu_available()), reason=f"no guests here: {qemu_available()}")


@pytest.fixture(scope="module")
def kernel():
    spec = kmod.select(kmod.load_specs(), [KERNEL])[0]
    from zdtm.config import default_cache_dir
    return kmod.prepare(spec, default_cache_dir(), print)


def _no_qemu_left(results: Path):
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        assert not ("qemu-system" in cmd and str(results) in cmd), f"qemu left running: {pid}"


@needs_qemu
def test_one_kernel_runs_one_test_and_the_merged_report_has_its_column(reachable_dir, kernel):
    out = reachable_dir / "m"
    res = run_zdtm("matrix", "--kernel", KERNEL, "--out", out, "--accel", "tcg", "-t", "static/rtc",
                   "--timeout", "400", timeout=600)
    assert res.returncode == 0, res.stdout + (out / KERNEL / "guest.log").read_text()
    doc = json.loads((out / "report.json").read_text())
    got = {(t["id"], t["kernel"]): t["outcome"] for t in doc["tests"]}
    assert got == {("static/rtc[h]", kernel.release): "passed", ("matrix/boot[h]", kernel.release): "passed"}
    summary = json.loads((out / "summary.json").read_text())["kernels"][0]
    assert summary["status"] == "ok" and summary["accel"].startswith("tcg") and 0 < summary["boot_seconds"] < 60
    assert "root-criu" in (out / KERNEL / "check.txt").read_text()      # no owner-dump workaround in a guest
    assert f"| {KERNEL} | {kernel.release} | ok | tcg |" in (out / "report.md").read_text()
    assert rmerge.load(str(out / "junit.xml"))["tests"]
    _no_qemu_left(out)


@needs_qemu
@pytest.mark.parametrize("command, status, shown", [
    ("echo c > /proc/sysrq-trigger\n", "panic", "Kernel panic"),
    ("sleep 600\n", "hang", "still running after 15 s"),
])
def test_a_guest_that_panics_or_hangs_is_a_result_within_bounds(reachable_dir, kernel, command, status, shown):
    results = reachable_dir / status
    res = Guest(kernel, results, command, boot_timeout=60, run_timeout=15, memory_mb=256, accel="tcg").run()
    assert res.status == status and shown in res.message, res
    assert res.wall_seconds < 60
    assert (results / "console.log").stat().st_size > 0
    _no_qemu_left(results)
