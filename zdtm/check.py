"""What this machine and kernel can do, and the choices that follow.

`zdtm check` prints it; the plugin runs it once per session (cached on disk
per kernel boot and criu binary, so xdist workers don't repeat it) and turns
what is missing into skips with reasons.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import platform
import re
import subprocess
from dataclasses import asdict, dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Optional

from .config import WORKLOAD_UID
from .provision.pycriu import find_pycriu

# Capabilities criu (or the harness acting for it) relies on.
CAPS = {
    "CAP_CHOWN": 0, "CAP_DAC_OVERRIDE": 1, "CAP_DAC_READ_SEARCH": 2, "CAP_FOWNER": 3,
    "CAP_KILL": 5, "CAP_SETGID": 6, "CAP_SETUID": 7, "CAP_SETPCAP": 8, "CAP_NET_ADMIN": 12,
    "CAP_SYS_CHROOT": 18, "CAP_SYS_PTRACE": 19, "CAP_SYS_ADMIN": 21, "CAP_SYS_RESOURCE": 24,
    "CAP_CHECKPOINT_RESTORE": 40,
}
DEVICES = ("/dev/rtc", "/dev/net/tun", "/dev/ptmx")
CHECK_TIMEOUT = 60

STRATEGIES = {
    "root-criu": "workloads run as uid {uid}; criu runs as root for dump and restore",
    "owner-dump": "workloads run as uid {uid}; root lacks CAP_SYS_RESOURCE, so criu dumps as the "
                  "workload's owner (--unprivileged) and restores as root",
    "as-root": "workloads run as root (as if suid): criu can dump another uid's task neither as root "
               "nor as its owner here",
}


def _cap_set(field_name: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field_name + ":"):
                return int(line.split()[1], 16)
    return 0


def _read(path: str) -> Optional[str]:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def kernel_taint() -> int:
    """The kernel's taint flags (0: clean)."""
    try:
        return int(_read("/proc/sys/kernel/tainted") or 0)
    except ValueError:
        return 0


def _run(argv, timeout=CHECK_TIMEOUT):
    try:
        res = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout)
        return res.returncode, res.stdout
    except FileNotFoundError as e:
        return None, str(e)
    except subprocess.TimeoutExpired:
        return None, f"timed out after {timeout}s"


@dataclass
class MachineFacts:
    kernel: str = ""
    machine: str = ""
    criu: Optional[str] = None
    criu_version: Optional[str] = None
    criu_check_ok: bool = False
    criu_check_output: str = ""
    criu_error: Optional[str] = None
    features: dict = field(default_factory=dict)       # name -> bool
    userns: bool = False
    userns_detail: str = ""
    is_root: bool = False
    caps_effective: list = field(default_factory=list)
    caps_missing: list = field(default_factory=list)   # of CAPS, not in the effective set
    caps_unobtainable: list = field(default_factory=list)  # not in the bounding set either
    tainted: int = 0
    cgroup: str = ""
    devices: dict = field(default_factory=dict)
    kdat_cache: bool = False      # criu can cache its kernel facts in /run (tmpfs only)
    strategy: str = ""
    strategy_reason: str = ""
    pycriu: str = ""              # for upstream's hooks (import pycriu)
    crit: Optional[str] = None

    # ---- decisions -------------------------------------------------------
    @property
    def fatal(self) -> Optional[str]:
        """Why no checkpoint can work at all, or None."""
        if not self.is_root:
            return "the harness must run as root"
        if not self.criu:
            return self.criu_error or "criu not found"
        if not self.criu_check_ok:
            tail = "; ".join(self.criu_check_output.strip().splitlines()[-3:])
            return f"`{self.criu} check` failed: {tail}"
        return None

    def feature_missing(self, names) -> Optional[str]:
        missing = [n for n in names if not self.features.get(n, False)]
        if missing:
            return f"criu check --feature {' '.join(missing)}: not supported here"
        return None

    def strategy_text(self) -> str:
        return STRATEGIES.get(self.strategy, self.strategy).format(uid=WORKLOAD_UID)

    def flavor_identities(self) -> dict:
        """How non-suid workloads are run and checkpointed, per flavor."""
        return {f: identity(self.strategy, False, f).text for f in ("h", "ns", "uns")}

    def to_json(self) -> str:
        d = asdict(self)
        d["flavor_identities"] = self.flavor_identities()
        d["fatal"] = self.fatal
        d["strategy_text"] = self.strategy_text()
        return json.dumps(d, indent=2, sort_keys=True)


@dataclass(frozen=True)
class Identity:
    as_root: bool           # the workload stays root
    driver: str             # criu driver name (zdtm.criu)
    text: str               # stated by `zdtm check`, recorded per test
    drop_ids: bool = False  # the ns init drops to the workload's ids


def identity(strategy: str, suid: bool, flavor: str, nouser: bool = False, why: str = "") -> Identity:
    """Who a workload runs as and which criu driver checkpoints it.
    nouser: criu must run as root for this test (upstream's flag, TCP options,
    or `why`: state only a privileged criu dumps)."""
    if suid:
        return Identity(True, "root", "root (suid test); criu runs as root")
    if nouser and strategy == "owner-dump" and flavor != "uns":
        return Identity(True, "root", "root instead of uid 18943: criu must run as root for this test ("
                                      + (why or "flag nouser, or TCP options")
                                      + "), and root's criu cannot dump uid 18943 here (no CAP_SYS_RESOURCE)")
    if flavor == "uns":
        # Host root owns the user namespace, so it has every capability
        # over the tasks in it, CAP_SYS_RESOURCE included.
        return Identity(False, "root", "uid 18943 inside the user namespace; criu runs as host root, "
                                       "which owns the user namespace")
    if strategy == "as-root":
        return Identity(True, "root", "root instead of uid 18943 (strategy as-root); criu runs as root")
    if strategy == "owner-dump" and flavor == "ns":
        return Identity(False, "owner-dump-ns",
                        "uid 18943, the ns init too (it drops to the workload's ids after setting up the "
                        "namespaces); criu dumps as uid 18943 with every capability but CAP_SYS_RESOURCE "
                        "(--unprivileged), restores as root", drop_ids=True)
    if strategy == "owner-dump":
        return Identity(False, "owner-dump", "uid 18943; criu dumps as uid 18943 (--unprivileged), "
                                             "restores as root")
    return Identity(False, "root", "uid 18943; criu runs as root")


def criu_version(criu: str) -> Optional[str]:
    rc, out = _run([criu, "--version"])
    m = re.search(r"Version:\s*(\S+)", out or "")
    return m.group(1) if rc == 0 and m else None


def check_feature(criu: str, name: str) -> bool:
    rc, _ = _run([criu, "check", "--feature", name])
    return rc == 0


def net_prio_missing() -> Optional[str]:
    """Why there is no net_prio cgroup v1 hierarchy here, or None."""
    text = _read("/proc/self/cgroup") or ""
    if any(len(p) == 3 and "net_prio" in p[1].split(",") for p in (line.split(":") for line in text.splitlines())):
        return None
    return "net_prio is not mounted as a cgroup v1 hierarchy here (/proc/self/cgroup has no net_prio line)"


def pid1_ns_denied() -> Optional[str]:
    """Why root cannot open pid 1's namespaces here, or None."""
    try:
        os.close(os.open("/proc/1/ns/cgroup", os.O_RDONLY))
    except OSError as e:
        return (f"root cannot open /proc/1/ns/cgroup here ({e.strerror}: pid 1, {_read('/proc/1/comm') or '?'}, "
                f"is not ptrace-accessible to it)")
    return None


@lru_cache(maxsize=None)
def link_type_missing(kind: str) -> Optional[str]:
    """Why the kernel cannot make a network link of this type (ip link add
    ... type KIND in a throwaway network namespace), or None."""
    rc, out = _run(["unshare", "--net", "ip", "link", "add", "zdtmprobe0", "type", kind], timeout=10)
    if rc != 0 and "Unknown device type" in out:
        return f"the kernel here has no '{kind}' network link type (ip link add ... type {kind}: Unknown device type)"
    return None


def binfmt_misc_unmounted() -> Optional[str]:
    """Why entries registered in the host's binfmt_misc do not outlive a
    mount namespace here, or None."""
    if " binfmt_misc " in (_read("/proc/self/mountinfo") or ""):
        return None
    return ("the host keeps no binfmt_misc mount (a normal host has systemd's /proc/sys/fs/binfmt_misc), "
            "so its entries die with the last mount of it")


def tun_closed_to_others() -> Optional[str]:
    """Why a user namespace's root cannot open /dev/net/tun here (a mode
    closed to others), or None (open to all, or no such device)."""
    try:
        mode = os.stat("/dev/net/tun").st_mode & 0o777
    except OSError:
        return None
    if mode & 0o006 == 0o006:
        return None
    return f"/dev/net/tun is mode {mode:04o} here"


def _is_tmpfs(path: str) -> bool:
    """criu keeps /run/criu.kdat only on a tmpfs (so a reboot invalidates it)."""
    best, fstype = "", ""
    with open("/proc/self/mounts") as f:
        for line in f:
            _, mnt, typ = line.split()[:3]
            if (path == mnt or path.startswith(mnt.rstrip("/") + "/")) and len(mnt) > len(best):
                best, fstype = mnt, typ
    return fstype == "tmpfs"


def _userns() -> tuple:
    max_ns = _read("/proc/sys/user/max_user_namespaces")
    if max_ns == "0":
        return False, "user.max_user_namespaces = 0"
    rc, out = _run(["unshare", "--user", "--map-root-user", "true"], timeout=10)
    if rc != 0:
        return False, f"unshare --user failed: {out.strip()}"
    return True, f"max_user_namespaces = {max_ns}"


def _python_tools(facts: MachineFacts) -> None:
    """pycriu and crit for upstream's hooks: the provisioned ones (read from
    the cache each time: provisioning them later must show)."""
    found = find_pycriu()
    if not found:
        facts.pycriu, facts.crit = ("not provisioned (`zdtm provision --source` fetches them); "
                                    "upstream's hooks that import pycriu are skipped"), None
        return
    facts.pycriu, facts.crit = found.describe(), str(found.crit)
    ours = found.version.split(":")[-1].rsplit("-", 1)[0]
    if facts.criu_version and facts.criu_version != ours:
        facts.pycriu += f"; NOTE: made for criu {ours}, the criu under test is {facts.criu_version}"


def _decide_strategy(facts: MachineFacts, forced: str) -> None:
    if forced and forced != "auto":
        if forced not in STRATEGIES:
            raise ValueError(f"unknown identity strategy '{forced}' (known: auto, {', '.join(STRATEGIES)})")
        facts.strategy, facts.strategy_reason = forced, "chosen by --identity"
        return
    if "CAP_SYS_RESOURCE" not in facts.caps_missing:
        facts.strategy, facts.strategy_reason = "root-criu", "root has every capability criu needs"
        return
    unpriv_ok = bool(facts.criu_version) and _version_tuple(facts.criu_version) >= (3, 16)
    if "CAP_CHECKPOINT_RESTORE" not in facts.caps_unobtainable and unpriv_ok:
        facts.strategy = "owner-dump"
        facts.strategy_reason = ("CAP_SYS_RESOURCE is not in root's bounding set, so root criu cannot "
                                 "dump another uid's task; the kernel has CAP_CHECKPOINT_RESTORE")
        return
    facts.strategy = "as-root"
    facts.strategy_reason = "CAP_SYS_RESOURCE is missing and criu --unprivileged is not usable"


def _version_tuple(v: str) -> tuple:
    return tuple(int(x) for x in re.findall(r"\d+", v)[:3])


def gather(criu: Optional[str], features=(), identity: str = "auto", criu_error: str = None) -> MachineFacts:
    u = os.uname()
    f = MachineFacts(kernel=u.release, machine=platform.machine(), criu=criu, criu_error=criu_error)
    f.is_root = os.geteuid() == 0
    eff, bnd = _cap_set("CapEff"), _cap_set("CapBnd")
    f.caps_effective = [n for n, b in CAPS.items() if eff >> b & 1]
    f.caps_missing = [n for n, b in CAPS.items() if not eff >> b & 1]
    f.caps_unobtainable = [n for n, b in CAPS.items() if not bnd >> b & 1]
    f.tainted = kernel_taint()
    f.cgroup = "v2" if os.path.exists("/sys/fs/cgroup/cgroup.controllers") else "v1"
    f.devices = {d: os.path.exists(d) for d in DEVICES}
    f.kdat_cache = _is_tmpfs("/run")
    f.userns, f.userns_detail = _userns()
    if criu:
        f.criu_version = criu_version(criu)
        rc, out = _run([criu, "check"])
        f.criu_check_ok = rc == 0
        f.criu_check_output = out
        if f.criu_check_ok:
            f.features = {name: check_feature(criu, name) for name in sorted(set(features))}
    _decide_strategy(f, identity)
    _python_tools(f)
    return f


def cached_gather(state_dir: Path, criu: Optional[str], features=(), identity="auto",
                  criu_error: str = None) -> MachineFacts:
    """gather(), remembered per boot, kernel, criu binary and feature list."""
    if not criu:
        return gather(criu, features, identity, criu_error)
    try:
        st = os.stat(criu)
    except OSError:
        return gather(criu, features, identity, criu_error)
    key = hashlib.sha1(json.dumps([_read("/proc/sys/kernel/random/boot_id"), os.uname().release,
                                   criu, st.st_mtime_ns, st.st_size, sorted(set(features)), identity,
                                   kernel_taint()]).encode()).hexdigest()[:16]
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / f"check-{key}.json"
    with open(state_dir / "check.lock", "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if path.exists():
            try:
                data = json.loads(path.read_text())
                for derived in ("fatal", "strategy_text", "flavor_identities"):
                    data.pop(derived, None)
                facts = MachineFacts(**data)
                _python_tools(facts)
                return facts
            except (ValueError, TypeError):
                pass
        facts = gather(criu, features, identity, criu_error)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(facts.to_json())
        os.replace(tmp, path)
        return facts


def render(facts: MachineFacts) -> str:
    def yn(ok):
        return "yes" if ok else "NO"
    rows = [
        ("kernel", f"{facts.kernel} ({facts.machine})"),
        ("criu", f"{facts.criu or 'NOT FOUND'}" + (f" (version {facts.criu_version})" if facts.criu_version else "")),
        ("criu check", "Looks good" if facts.criu_check_ok else
         "FAILED: " + "; ".join((facts.criu_check_output or facts.criu_error or "").strip().splitlines()[-2:])),
    ]
    for name, ok in sorted(facts.features.items()):
        rows.append((f"feature {name}", yn(ok)))
    rows += [
        ("running as root", yn(facts.is_root)),
        ("user namespaces", f"{yn(facts.userns)} ({facts.userns_detail})"),
        ("capabilities missing", ", ".join(facts.caps_missing) or "none"),
        ("  not even in bounding set", ", ".join(facts.caps_unobtainable) or "none"),
        ("kernel taint", str(facts.tainted) + (" (tainted)" if facts.tainted else " (clean)")),
        ("cgroup", facts.cgroup),
    ]
    for dev, present in facts.devices.items():
        rows.append((dev, "present" if present else "absent"))
    rows.append(("net_prio cgroup (v1)", net_prio_missing() or "mounted"))
    rows.append(("pid 1's namespaces", pid1_ns_denied() or "open to root"))
    rows.append(("binfmt_misc", binfmt_misc_unmounted() or "mounted"))
    rows.append(("sit links", link_type_missing("sit") or "yes"))
    tun = tun_closed_to_others()
    rows.append(("/dev/net/tun for user namespaces",
                 f"no: {tun}, a user namespace's root cannot open it (upstream tun_ns in uns is skipped)"
                 if tun else "yes" if os.path.exists("/dev/net/tun") else "no /dev/net/tun"))
    rows.append(("criu kerndat cache", "yes (/run is tmpfs)" if facts.kdat_cache else
                 "no: /run is not a tmpfs, so every criu call probes the kernel again (20-30 ms); "
                 "upstream tests in ns and uns get the run's cache in a tmpfs /run of their own mount namespace"))
    rows.append(("pycriu (upstream hooks)", facts.pycriu or "unknown"))
    rows.append(("crit", facts.crit or "not available"))
    rows.append(("identity strategy", f"{facts.strategy}: {facts.strategy_text()}"))
    rows.append(("  because", facts.strategy_reason))
    for flavor, text in facts.flavor_identities().items():
        rows.append((f"  flavor {flavor}", text))
    rows.append(("verdict", f"CANNOT RUN: {facts.fatal}" if facts.fatal else "checkpoint/restore can run"))
    width = max(len(k) for k, _ in rows)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in rows)
