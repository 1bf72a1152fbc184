"""--fault N: criu's fault injection (CRIU_FAULT=N in criu's environment,
as zdtm.py's --fault), for the codes of criu/include/fault-injection.h.

The fatal codes (1-6, before the header's "not fatal" mark) each break one
action: 1 FI_DUMP_EARLY (criu SIGKILLs itself after infecting), 3
FI_DUMP_PAGES and 5 FI_PARASITE_CONNECT break the dump; 2
FI_RESTORE_ROOT_ONLY, 4 FI_RESTORE_OPEN_LINK_REMAP (only where the test has
a link-remap file) and 6 FI_POST_RESTORE break the restore. That action
must fail (a crash counts: the fault fired); it is then retried without the
fault and must pass. If it passed with the fault, the test fails: "fault N
did not fire". The other action keeps CRIU_FAULT (as zdtm.py) and must pass.

The other codes (127-138: 127 FI_VDSO_TRAMPOLINES sits below the "not
fatal" mark, whatever its number) change how criu works without breaking
it: every action must pass as it is, without a retry. A crash then is the
test's failure (136 FI_DUMP_CRASH aborts a dump that fails anyway: CI's
vfork00, a crfail test, must fail with it).

criu runs with a soft RLIMIT_CORE of 0 in this mode (the hard one is left: a restore could
not raise it again without CAP_SYS_RESOURCE, and the tree would get it): its expected crashes leave no
core files (zdtm.py does not look for them under --fault).
"""
from __future__ import annotations

from ..config import Option
from ..outcome import PhaseFailure, Skip
from ..procs import descendants, wait_gone
from .base import Mode

#: fatal code: (name, the action it breaks)
FATAL = {1: ("FI_DUMP_EARLY", "dump"), 2: ("FI_RESTORE_ROOT_ONLY", "restore"), 3: ("FI_DUMP_PAGES", "dump"),
         4: ("FI_RESTORE_OPEN_LINK_REMAP", "restore"), 5: ("FI_PARASITE_CONNECT", "dump"),
         6: ("FI_POST_RESTORE", "restore")}
NON_FATAL = {127: "FI_VDSO_TRAMPOLINES", 128: "FI_CHECK_OPEN_HANDLE", 129: "FI_NO_MEMFD",
             130: "FI_NO_BREAKPOINTS", 131: "FI_PARTIAL_PAGES", 132: "FI_HUGE_ANON_SHMEM_ID",
             133: "FI_CANNOT_MAP_VDSO", 134: "FI_CORRUPT_EXTREGS", 135: "FI_DONT_USE_PAGEMAP_SCAN",
             136: "FI_DUMP_CRASH", 137: "FI_COMPEL_INTERRUPT_ONLY_MODE", 138: "FI_PLUGIN_CUDA_FORCE_ENABLE"}
NS_LAST_PID = "/proc/sys/kernel/ns_last_pid"


def _fault_code(value) -> int:
    code = int(value)
    if code not in FATAL and code not in NON_FATAL:
        raise ValueError(f"--fault {value}: not a code of criu's fault-injection.h "
                         f"(fatal 1-6, not fatal 127-138)")
    return code


def _no_core(argv: list, criu_bin: str) -> list:
    return ["prlimit", "--core=0:", "--", *argv]


def _nft_lock_left(desc, criu) -> bool:
    """A dump killed after criu's nftables network lock was set, of a test
    restored into a net namespace of its own (--join-ns), where the killed
    criu's lock stays (net_lock_socket_nftables, restored in place, passes)."""
    opts = " ".join(desc.opts + desc.dopts)
    return ("--network-lock nftables" in opts and "--join-ns" in desc.ropts and criu.crashed
            and "net: Lock network" in criu.log_text())


class FaultMode(Mode):
    name = "fault"
    order = 70
    marker = "fault"
    description = "criu fault injection (CRIU_FAULT): a fatal fault must fail its action, then a retry pass"
    options = (Option("fault", "inject criu fault N (CRIU_FAULT=N; criu/include/fault-injection.h)",
                      cli=("--fault",), pytest="--zdtm-fault", type=str, metavar="N", mode=True,
                      convert=_fault_code),)

    def __init__(self, settings):
        super().__init__(settings)
        self.code = settings.mode_option("fault")
        self.fatal = self.code in FATAL
        self.target = FATAL[self.code][1] if self.fatal else None
        self.fault_name = FATAL[self.code][0] if self.fatal else NON_FATAL.get(self.code, "?")
        self.fired: dict = {}          # (iteration, action) -> how criu failed
        self._pids: list = []
        self._last_pid = None

    @classmethod
    def enabled(cls, settings) -> bool:
        return settings.mode_option("fault") is not None

    @property
    def id_suffix(self) -> str:
        return f"fault{self.code}"

    def identity_note(self) -> str:
        kind = f"fatal, breaks the {self.target}" if self.fatal else "not fatal"
        return f"CRIU_FAULT={self.code} ({self.fault_name}, {kind})"

    def criu_wrapper(self):
        return _no_core

    def outside_ignore(self, flavor: str) -> tuple:
        # Faults change the tasks' maps by design, as zdtm.py accepts under
        # every --fault: criu killed or failing while its parasite is in the
        # tasks (1, 5) leaves the blob mapped (/memfd:CRIUMFD), which the
        # retried dump keeps; 127 restores the vdso with trampolines (a new
        # anonymous mapping).
        return ("maps",)

    def adjust_call(self, call, action: str, step) -> None:
        if action in ("dump", "restore") and (step.n, action) not in self.fired:
            call.env["CRIU_FAULT"] = str(self.code)

    def before_dump(self, step) -> None:
        self._pids = descendants(step.run.root_pid)

    def before_restore(self, step) -> None:
        try:
            with open(NS_LAST_PID) as f:
                self._last_pid = f.read()
        except OSError:
            self._last_pid = None

    def retry(self, step, action: str) -> bool:
        criu = step.criu
        if not self.fatal or action != self.target or criu.timed_out or (step.n, action) in self.fired:
            return False
        self.fired[(step.n, action)] = criu.status()
        step.run.result.sections.append((f"--fault {self.code}: the fault fired",
                                         f"{criu.status()} with CRIU_FAULT={self.code} ({self.fault_name}); "
                                         f"criu {action} is run again without it"))
        if action == "restore":
            self._free_pids(step)
        elif _nft_lock_left(step.run.desc, criu):
            raise Skip(f"--fault {self.code}: criu {action}, killed by the fault after locking the network with "
                       f"nftables ('net: Lock network' in its log), leaves its lock table in place (nothing "
                       f"can undo it for the killed criu) in the net namespace the test is restored into "
                       f"(--join-ns); its connection then stays blocked after the retry (upstream "
                       f"netns_lock_nftables: its hook's connect times out)")
        return True

    def _free_pids(self, step) -> None:
        """What the failed restore made is gone, and criu gets no pid of the
        tree (as zdtm.py: ns_last_pid back to what it was before)."""
        run = step.run
        if run.flavor.same_pids_after_restore and self._pids:
            left = wait_gone(self._pids, 10.0, run.engine.reaper)
            if left:
                raise PhaseFailure("restore", f"--fault {self.code}: tasks {left} of the failed restore still "
                                              f"hold the tree's pids", criu=step.criu)
        if self._last_pid is not None:
            try:
                with open(NS_LAST_PID, "w") as f:
                    f.write(self._last_pid)
            except OSError:
                pass

    def _check_fired(self, step, action: str) -> None:
        if self.fatal and action == self.target and (step.n, action) not in self.fired:
            raise PhaseFailure(action, f"fault {self.code} did not fire: criu {action} passed with "
                                       f"CRIU_FAULT={self.code} ({self.fault_name})", criu=step.criu)

    def after_dump(self, step) -> None:
        self._check_fired(step, "dump")

    def after_restore(self, step) -> None:
        self._check_fired(step, "restore")
