"""--rpc: criu driven over its RPC (`criu swrk FD`), not its command line.

Every criu call keeps its identity (setpriv ... for an owner's dump) and its
other wrappers (criu-ns, outside): only the criu binary is replaced by the
RPC client zdtm/criu_rpc.py, run by the system's python3 with the
provisioned pycriu's rpc_pb2. The client turns criu's command line into a
criu_req, prints it to criu's output (ACTION-N.log.out in the artifacts:
the proof the RPC was used) and exits with criu's verdict. Options the RPC
has no field for make the test a skip, known from the .desc beforehand.
A .desc's action script is run by the client on criu's notify messages.
"""
from __future__ import annotations

import os
import socket
import subprocess
from functools import lru_cache
from pathlib import Path
from typing import Optional

from .. import criu_rpc
from ..build import Builder, digest
from ..config import WORKLOAD_GID, WORKLOAD_UID
from ..provision.common import ProvisionError
from ..provision.pycriu import find_pycriu, provision_pycriu, system_python
from .base import Mode, switch

CLIENT = Path(criu_rpc.__file__).resolve()


@lru_cache(maxsize=None)
def staged_client(state_dir: Path) -> Path:
    """The client as the workload's owner can read it: a copy in the build
    cache (the checkout itself may be closed to other uids)."""
    content = CLIENT.read_bytes()

    def stage(tmp: Path):
        (tmp / CLIENT.name).write_bytes(content)
        os.chmod(tmp / CLIENT.name, 0o644)
        os.chmod(tmp, 0o755)
    return Builder(state_dir).build_once("criu_rpc-" + digest(content), stage) / CLIENT.name


def rpc_client(site: str, state_dir: Path, store_fd: Optional[int] = None) -> list:
    """What replaces the criu binary's path (which it then takes as its first argument)."""
    extra = ["--pidfd-store-fd", str(store_fd)] if store_fd is not None else []
    return [system_python(), "-I", str(staged_client(state_dir)), "--pycriu", site, *extra]


class RpcMode(Mode):
    name = "rpc"
    order = 80
    id_suffix = "rpc"
    marker = "rpc"
    description = "criu driven over its RPC (criu swrk) by zdtm/criu_rpc.py"
    options = (switch("rpc", "drive criu over its RPC (criu swrk), not its command line"),)

    def __init__(self, settings):
        super().__init__(settings)
        self.pidfd_store: Optional[socket.socket] = None

    def _site(self) -> Optional[str]:
        found = find_pycriu(self.settings.cache_dir)
        return str(found.site) if found else None

    def unavailable(self, engine) -> Optional[str]:
        try:        # quick when present (upstream's hooks use the same)
            site = str(provision_pycriu(self.settings.cache_dir, log=lambda m: None).site)
        except ProvisionError as e:
            return f"the RPC client needs pycriu's rpc_pb2 of the provisioned criu: {str(e).splitlines()[0]}"
        # As the workload's owner too: an owner's dump runs the client with its uid.
        cmd = ["setpriv", f"--reuid={WORKLOAD_UID}", f"--regid={WORKLOAD_GID}", "--clear-groups",
               *rpc_client(site, self.settings.state_dir), "--self-check"]
        try:
            res = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                 stderr=subprocess.STDOUT, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as e:
            return f"the RPC client could not be started: {e}"
        if res.returncode != 0:
            return (f"the RPC client does not start as uid {WORKLOAD_UID} ({' '.join(cmd)}): "
                    + (res.stdout.strip().splitlines() or ["no output"])[-1])
        return None

    def skip_reason(self, desc, flavor: str) -> Optional[str]:
        if "crlib" in desc.flags:
            return "--rpc cannot pass --libdir to criu (criu's RPC has no field for plugins)"
        for extra in (desc.dopts, desc.ropts):
            reason = criu_rpc.refusal(list(desc.opts) + list(extra))
            if reason:
                return reason
        return None

    def identity_note(self) -> str:
        return "criu driven over its RPC (criu swrk) by zdtm/criu_rpc.py"

    def start(self, run) -> None:
        desc = run.desc
        if "--pidfd-store" in desc.opts + desc.dopts + desc.ropts:
            # One store for the whole test, as upstream's harness keeps it:
            # every dump of the test finds the pidfds the last one left.
            self.pidfd_store = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)

    def adjust_call(self, call, action: str, step) -> None:
        if self.pidfd_store is not None:
            call.pass_fds = (*call.pass_fds, self.pidfd_store.fileno())

    def criu_wrapper(self):
        site = self._site()
        store = self.pidfd_store.fileno() if self.pidfd_store is not None else None

        def through_rpc(argv: list, criu_bin: str) -> list:
            i = argv.index(criu_bin)
            return [*argv[:i], *rpc_client(site, self.settings.state_dir, store), *argv[i:]]
        return through_rpc

    def stop(self, run) -> list:
        if self.pidfd_store is not None:
            self.pidfd_store.close()
            self.pidfd_store = None
        return []

