"""The guest's initramfs: a static busybox, the few modules needed to reach
the host's root over 9p, and an init that mounts it and switches to it.

Written in Python (a newc cpio is a header per file), so that building one
needs neither cpio nor root-owned temporary trees. The init:
  1. mounts /proc, /sys, /dev and loads the 9p modules (insmod, in
     dependency order computed here from the kernel's modules.dep);
  2. mounts the host's root read-only (tag `hostroot`) and the results dir
     read-write (tag `results`, at the same path as on the host), a tmpfs on
     /tmp and /run, devpts, /dev/shm and the cgroup v1 hierarchies (not on
     /var/tmp: a clone in a 0700 dir keeps its state and cache there);
  3. switch_root's into it and runs stage 2 as pid 1 (STAGE2), which runs
     the results dir's guest-command.sh with every fd above 2 closed (a
     leaked fd makes criu refuse to dump), writes its exit status and
     reboots (qemu runs with -no-reboot: the guest's end is qemu's).
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..config import PROJECT_DIR, default_cache_dir

BUSYBOX = "/bin/busybox"
GUEST_DIR = "/run/zdtm-guest"     # busybox and stage 2 after switch_root (a tmpfs)
BOOT_MARK = "zdtm-guest: command starts"
END_MARK = "zdtm-guest: command ended"
# modules the init needs before the host's root is there (builtin in some kernels)
EARLY_MODULES = ("virtio_pci", "9pnet_virtio", "9p")

INIT = r"""#!/bin/busybox sh
bb=/bin/busybox
$bb mkdir -p /proc /sys /dev /newroot
$bb mount -t proc proc /proc
$bb mount -t sysfs sysfs /sys
$bb mount -t devtmpfs devtmpfs /dev
for m in @MODULES@; do $bb insmod /modules/$m || echo "zdtm-guest: insmod $m failed"; done
fail() { echo "zdtm-guest: $*"; $bb sleep 1; echo b > /proc/sysrq-trigger; }
$bb mount -t 9p -o trans=virtio,version=9p2000.L,ro,cache=loose,msize=512000 hostroot /newroot \
    || fail "cannot mount the host's root over 9p"
# host dirs under /tmp the guest runs from (a checkout cloned there): kept
# through the tmpfs mounted on /tmp
keep="@KEEP@"
for p in $keep; do $bb mkdir -p /keep$p && $bb mount --bind /newroot$p /keep$p; done
$bb mount -t tmpfs -o mode=1777 tmpfs /newroot/tmp
for p in $keep; do $bb mkdir -p /newroot$p && $bb mount --move /keep$p /newroot$p \
    || fail "cannot keep $p through the guest's /tmp"; done
$bb mount -t tmpfs -o mode=755 tmpfs /newroot/run
$bb mkdir -p /newroot@RESULTS@ 2>/dev/null     # under a tmpfs just mounted (/tmp), or there already
$bb mount -t 9p -o trans=virtio,version=9p2000.L,msize=512000 results /newroot@RESULTS@ \
    || fail "cannot mount the results dir over 9p"
$bb mkdir -p /newroot@GUEST_DIR@
$bb cp /bin/busybox /stage2 /newroot@GUEST_DIR@/
for d in proc sys dev; do $bb mount --move /$d /newroot/$d; done
exec $bb switch_root /newroot @GUEST_DIR@/busybox sh @GUEST_DIR@/stage2
"""

STAGE2 = r"""bb=@GUEST_DIR@/busybox
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
$bb mkdir -p /dev/pts /dev/shm
$bb mount -t devpts -o newinstance,ptmxmode=0666,mode=620 devpts /dev/pts
$bb mount -t tmpfs -o mode=1777 tmpfs /dev/shm
# what udev would make: /dev/rtc, and the static nodes of modules that load on open
[ -e /dev/rtc0 ] && $bb ln -sf rtc0 /dev/rtc
$bb mkdir -p /dev/net && [ -e /dev/net/tun ] || $bb mknod -m 666 /dev/net/tun c 10 200
[ -e /dev/fuse ] || $bb mknod -m 666 /dev/fuse c 10 229
$bb mount -t tmpfs -o mode=755 cgroup /sys/fs/cgroup
for c in $($bb awk '!/^#/ && $4 == 1 {print $1}' /proc/cgroups); do
    $bb mkdir -p /sys/fs/cgroup/$c && $bb mount -t cgroup -o $c cgroup /sys/fs/cgroup/$c 2>/dev/null \
        || $bb rmdir /sys/fs/cgroup/$c     # memory: v2 only in newer kernels
done
$bb mkdir -p /sys/fs/cgroup/unified && $bb mount -t cgroup2 cgroup2 /sys/fs/cgroup/unified
echo @MODPROBE@ > /proc/sys/kernel/modprobe
$bb hostname @HOSTNAME@
$bb ip link set lo up
cd /
echo "@BOOT_MARK@ after $($bb cut -d' ' -f1 /proc/uptime) s of guest uptime"
$bb sh -c 'for fd in $(ls /proc/$$/fd); do [ "$fd" -gt 2 ] && eval "exec $fd>&-"; done
           exec /bin/sh @RESULTS@/guest-command.sh' </dev/null >@RESULTS@/guest.log 2>&1
echo $? > @RESULTS@/exit-status
echo "@END_MARK@: exit status $($bb cat @RESULTS@/exit-status)"
$bb sync
$bb reboot -f
"""


def _newc(name: str, mode: int, data: bytes = b"", ino: int = 0, rdev: tuple = (0, 0)) -> bytes:
    fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev[0], rdev[1], len(name) + 1, 0]
    head = b"070701" + b"".join(b"%08X" % f for f in fields) + name.encode() + b"\0"
    head += b"\0" * (-len(head) % 4)
    return head + data + b"\0" * (-len(data) % 4)


def module_order(modules_dir: Path, wanted=EARLY_MODULES) -> list:
    """Paths (relative to modules_dir) of the wanted modules and their
    dependencies, dependencies first; builtin ones left out."""
    deps, by_name = {}, {}
    for line in (modules_dir / "modules.dep").read_text().splitlines():
        path, _, rest = line.partition(":")
        deps[path] = rest.split()
        by_name[Path(path).name.split(".ko")[0].replace("-", "_")] = path
    order: list = []

    def add(path: str) -> None:
        for dep in deps.get(path, []):
            add(dep)
        if path not in order:
            order.append(path)

    for name in wanted:
        if name in by_name:
            add(by_name[name])
    return order


def build(kernel, out: Path, results: Path, hostname: str, modprobe: str) -> Path:
    """Write the initramfs of this kernel and results dir to out."""
    busybox = shutil.which("busybox") or BUSYBOX
    keep = sorted({str(d) for d in (PROJECT_DIR, default_cache_dir()) if Path("/tmp") in Path(d).resolve().parents})
    subst = {"@RESULTS@": str(results), "@GUEST_DIR@": GUEST_DIR, "@BOOT_MARK@": BOOT_MARK,
             "@END_MARK@": END_MARK, "@HOSTNAME@": hostname, "@MODPROBE@": modprobe,
             "@KEEP@": " ".join(keep)}
    order = module_order(kernel.modules) if kernel.modules else []
    files = [("modules/" + Path(p).name, (kernel.modules / p).read_bytes(), 0o100644) for p in order]
    subst["@MODULES@"] = " ".join(Path(p).name for p in order)
    init, stage2 = INIT, STAGE2
    for key, value in subst.items():
        init, stage2 = init.replace(key, value), stage2.replace(key, value)
    parts = [_newc(d, 0o40755, ino=i + 1) for i, d in enumerate(("bin", "modules", "dev", "proc", "sys", "newroot"))]
    files += [("bin/busybox", Path(busybox).read_bytes(), 0o100755), ("init", init.encode(), 0o100755),
              ("stage2", stage2.encode(), 0o100644)]
    parts.append(_newc("dev/console", 0o20600, ino=50, rdev=(5, 1)))     # init's stdio, before devtmpfs
    parts += [_newc(name, mode, data, ino=100 + i) for i, (name, data, mode) in enumerate(files)]
    parts.append(_newc("TRAILER!!!", 0))
    out.write_bytes(b"".join(parts))
    return out
