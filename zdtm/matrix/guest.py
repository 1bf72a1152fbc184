"""One guest: boot a kernel under qemu with the host's root, run a command,
and say what happened, always within bounds.

Why a runner of our own rather than virtme-ng (the established one): under
TCG here, a plain qemu `-kernel/-initrd` with a small busybox initramfs
reaches the first guest command in 4-6 s (measured: 6.1, 6.12, 7.2) against
virtme-ng's 13-19 s (it boots through its own init and needs udev for its
virtio-serial ports, one of which leaked into the guest command and made criu refuse to dump), and
this runner needs nothing but qemu, busybox-static and kmod. It shares the
host's root read-only over 9p and the results dir read-write (zdtm.matrix.
initramfs), so the guest runs this very checkout, its .venv and the
provisioned criu.

Bounds: the boot (until the guest command starts) and the whole run each
have a timeout; a guest that panics (panic=-1: it reboots, and qemu runs with
-no-reboot), hangs or never boots is killed if needed and is a result for
its kernel, with the console log. KVM is used when it boots the kernel
(probed once per host and guest kernel, remembered in the kernel's cache
entry), TCG otherwise (`-accel tcg,thread=single`: a multi-threaded TCG oopsed
a 6.12 guest during criu's ptrace setup).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Optional

from . import initramfs

QEMU = "qemu-system-x86_64"
CMDLINE = ("console=ttyS0 panic=-1 loglevel=4 mitigations=off random.trust_cpu=on "
           "rdinit=/init tsc=reliable")
PANIC = re.compile(r"Kernel panic - not syncing.*|BUG: .*|Oops: .*")
KVM_PROBE_TIMEOUT = 30.0


@dataclass
class GuestResult:
    kernel: str
    status: str = "not-run"          # ok | command-failed | panic | hang | boot-failed | boot-hang | error
    accel: str = ""
    why_accel: str = ""
    boot_seconds: Optional[float] = None     # qemu start -> the guest command starts
    wall_seconds: float = 0.0
    exit_status: Optional[int] = None
    message: str = ""
    console: str = ""
    qemu_argv: list = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1) + "\n"


def qemu_available() -> Optional[str]:
    """None if guests can be booted here, else why not."""
    missing = [t for t in (QEMU, "busybox") if not shutil.which(t)]
    if missing:
        return (f"{' and '.join(missing)} not installed (scripts/install-system-deps --matrix installs "
                f"qemu-system-x86 and busybox-static)")
    return None


def qemu_argv(kernel, initrd: Path, results: Path, accel: str, memory_mb: int, console: Path) -> list:
    accel_args = ["-accel", "kvm", "-cpu", "host"] if accel == "kvm" else \
        ["-accel", "tcg,thread=single", "-cpu", "max"]
    return [QEMU, *accel_args, "-smp", "1", "-m", str(memory_mb), "-nodefaults", "-no-reboot",
            "-display", "none", "-monitor", "none", "-serial", f"file:{console}", "-nic", "none",
            "-rtc", "base=utc",
            "-kernel", str(kernel.vmlinuz), "-initrd", str(initrd), "-append", CMDLINE,
            "-virtfs", "local,path=/,mount_tag=hostroot,security_model=passthrough,readonly=on,multidevs=remap",
            "-virtfs", f"local,path={results},mount_tag=results,security_model=passthrough,multidevs=remap"]


class Guest:
    """A kernel's guest run: results/ gets console.log, qemu.log, guest.log
    (the command's output), exit-status, guest.json."""

    def __init__(self, kernel, results: Path, command: str, boot_timeout: float, run_timeout: float,
                 memory_mb: int = 2048, accel: str = "auto", log=None):
        self.kernel, self.results, self.command = kernel, results, command
        self.boot_timeout, self.run_timeout, self.memory_mb = boot_timeout, run_timeout, memory_mb
        self.accel, self.log = accel, log or (lambda m: None)

    def prepare(self) -> Path:
        self.results.mkdir(parents=True, exist_ok=True)
        os.chmod(self.results, 0o755)
        for stale in ("exit-status", "guest.log", "console.log"):
            (self.results / stale).unlink(missing_ok=True)
        (self.results / "guest-command.sh").write_text(self.command)
        modprobe = self.results / "modprobe"
        root = _modules_root(self.kernel)
        modprobe.write_text(f"#!/bin/sh\nexec /usr/sbin/modprobe {'-d ' + str(root) if root else ''} \"$@\"\n")
        os.chmod(modprobe, 0o755)
        return initramfs.build(self.kernel, self.results / "initramfs.cpio", self.results,
                               socket.gethostname(), str(modprobe))

    def run(self) -> GuestResult:
        res = GuestResult(self.kernel.name, console=str(self.results / "console.log"))
        t0 = time.monotonic()
        try:
            initrd = self.prepare()
            res.accel, res.why_accel = self._choose_accel(initrd)
            self.log(f"matrix: {self.kernel.name}: booting {self.kernel.release} with {res.accel} ({res.why_accel})")
            self._boot(initrd, res.accel, self.boot_timeout, self.run_timeout, res)
        except (OSError, subprocess.SubprocessError) as e:
            res.status, res.message = "error", f"{type(e).__name__}: {e}"
        res.wall_seconds = round(time.monotonic() - t0, 1)
        (self.results / "guest.json").write_text(res.to_json())
        return res

    def _choose_accel(self, initrd: Path) -> tuple:
        if self.accel == "tcg":
            return "tcg", "asked for"
        if self.accel == "kvm":
            return "kvm", "asked for"
        if not os.access("/dev/kvm", os.R_OK | os.W_OK):
            return "tcg", "no usable /dev/kvm"
        cache = _probe_file(self.kernel)
        try:
            known = json.loads(cache.read_text()) if cache else {}
        except (OSError, ValueError):
            known = {}
        host = os.uname().release
        if host not in known:
            known[host] = self._probe_kvm(initrd)
            if cache:
                try:
                    cache.write_text(json.dumps(known, indent=1) + "\n")
                except OSError:
                    pass
        ok, why = known[host]
        return ("kvm", why) if ok else ("tcg", why)

    def _probe_kvm(self, initrd: Path) -> tuple:
        """Does this kernel boot under KVM here? A boot to a no-op command."""
        probe = Guest(self.kernel, self.results / "kvm-probe", "exit 0\n", KVM_PROBE_TIMEOUT, KVM_PROBE_TIMEOUT,
                      256, "kvm")
        probe_initrd = probe.prepare()
        res = GuestResult(self.kernel.name)
        probe._boot(probe_initrd, "kvm", KVM_PROBE_TIMEOUT, KVM_PROBE_TIMEOUT, res)
        qemu_said = [ln for ln in _read(probe.results / "qemu.log").splitlines() if ln.strip()]
        shutil.rmtree(probe.results, ignore_errors=True)        # the answer is kept, not the probe's run
        if res.status == "ok":
            return True, f"KVM boots {self.kernel.release} here (probed)"
        why = qemu_said[0] if qemu_said else f"{res.status}: {res.message}"
        return False, f"KVM does not boot it here: {why[:160]}"

    def _boot(self, initrd: Path, accel: str, boot_timeout: float, run_timeout: float, res: GuestResult) -> None:
        console = self.results / "console.log"
        argv = qemu_argv(self.kernel, initrd, self.results, accel, self.memory_mb, console)
        res.qemu_argv = argv
        t0 = time.monotonic()
        with open(self.results / "qemu.log", "w") as qlog:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=qlog, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        try:
            self._watch(proc, console, t0, boot_timeout, run_timeout, res)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        self._verdict(proc.returncode, console, res)

    def _watch(self, proc, console: Path, t0: float, boot_timeout: float, run_timeout: float,
               res: GuestResult) -> None:
        """Wait for qemu to end, noting when the guest command started; kill it
        past the bounds (the verdict comes from what the console shows)."""
        while proc.poll() is None:
            time.sleep(0.5)
            now = time.monotonic() - t0
            if res.boot_seconds is None and initramfs.BOOT_MARK in _read(console):
                res.boot_seconds = round(now, 1)
            if res.boot_seconds is None and now > boot_timeout:
                res.status, res.message = "boot-hang", f"no guest command after {boot_timeout:.0f} s"
                return
            if now > run_timeout:
                res.status, res.message = "hang", f"still running after {run_timeout:.0f} s (killed)"
                return

    def _verdict(self, returncode: int, console: Path, res: GuestResult) -> None:
        text = _read(console)
        if res.boot_seconds is None and initramfs.BOOT_MARK in text:
            res.boot_seconds = 0.0
        panic = PANIC.search(text)
        status_file = self.results / "exit-status"
        if panic and "Kernel panic" in panic.group(0):
            res.status, res.message = "panic", panic.group(0).strip()
        elif res.status in ("hang", "boot-hang"):
            res.message += f"; last console line: {_last_line(text)!r}"
        elif res.boot_seconds is None:
            res.status = "boot-failed"
            res.message = f"qemu exited {returncode} before the guest command: {_last_line(text)!r}" + \
                (f"; qemu: {_read(self.results / 'qemu.log').strip()[-300:]}" if returncode else "")
        elif not status_file.is_file():
            res.status, res.message = "hang", f"qemu exited {returncode} before the command ended"
        else:
            res.exit_status = int(status_file.read_text().strip() or -1)
            res.status = "ok"
            if panic:
                res.message = f"the console shows {panic.group(0).strip()!r}"


def _read(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except OSError:
        return ""


def _last_line(text: str) -> str:
    lines = [ln for ln in text.splitlines() if ln.strip()]
    return lines[-1][-200:] if lines else "(empty console)"


def _modules_root(kernel) -> Optional[Path]:
    """The root `modprobe -d` wants (ROOT/lib/modules/<release>), if the
    kernel's modules are laid out so."""
    if kernel.modules and kernel.modules.parent.name == "modules" and kernel.modules.parent.parent.name == "lib":
        return kernel.modules.parent.parent.parent
    return None


def _probe_file(kernel) -> Optional[Path]:
    """Where the KVM probe's answer is kept: the kernel's cache entry."""
    root = _modules_root(kernel)
    if root and os.access(root.parent, os.W_OK) and kernel.source:
        return root.parent / "kvm-probe.json"
    return None
