"""The `zdtm matrix` command: its arguments, and the run's arguments passed
through to `zdtm run` on each kernel."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from ..options import add_cli_arguments

# matrix's own options: flag -> how many values follow
OWN = {"--kernel": 1, "--out": 1, "-o": 1, "-j": 1, "--jobs": 1, "--boot-timeout": 1,
       "--timeout": 1, "--accel": 1, "--memory": 1, "--offline": 0, "--list-kernels": 0, "--kernels-file": 1}


def add_matrix_command(sub, func) -> None:
    m = sub.add_parser("matrix", help="the selection (default: desc/smoke.yaml in h, ns, uns) on several kernels "
                                      "(desc/kernels.yaml) in qemu guests, in parallel, one merged report")
    m.add_argument("--kernel", action="append", default=[], metavar="NAME",
                   help="a kernel of desc/kernels.yaml (repeat; 'all' for every one; default: the default ones)")
    m.add_argument("-o", "--out", metavar="DIR", help="results dir (default: <state>/matrix/<time>)")
    m.add_argument("-j", "--jobs", type=int, default=0, metavar="N",
                   help="kernels at once (default: the cores; a TCG guest takes one)")
    m.add_argument("--boot-timeout", type=float, default=180.0, metavar="S",
                   help="seconds until the guest command starts (default 180)")
    m.add_argument("--timeout", type=float, default=1800.0, metavar="S",
                   help="seconds for a kernel's whole job, boot included (default 1800)")
    m.add_argument("--accel", choices=("auto", "kvm", "tcg"), default="auto",
                   help="auto: KVM where it boots the kernel (probed once, remembered), else TCG")
    m.add_argument("--memory", type=int, default=2048, metavar="MB", help="guest memory (default 2048)")
    m.add_argument("--offline", action="store_true", help="no apt: the newest cached build of each kernel")
    m.add_argument("--list-kernels", action="store_true", help="list desc/kernels.yaml and stop")
    m.add_argument("--kernels-file", metavar="FILE", help="another kernels file (default desc/kernels.yaml)")
    m.add_argument("-a", "--all", action="store_true", help="run every test (instead of the smoke selection)")
    add_cli_arguments(m, "run")
    m.set_defaults(func=func)


def run_args(argv: list) -> list:
    """The arguments given to `zdtm matrix` that are zdtm run's."""
    out, skip = [], 0
    for a in argv:
        if skip:
            skip -= 1
        elif a.split("=")[0] in OWN:
            skip = 0 if "=" in a else OWN[a.split("=")[0]]
        else:
            out.append(a)
    return out


def cmd_matrix(args, engine) -> int:
    from . import kernels as kmod
    from .runner import Matrix, MatrixOptions
    log = lambda m: print(m, file=sys.stderr, flush=True)     # noqa: E731
    kfile = Path(args.kernels_file) if args.kernels_file else kmod.KERNELS_FILE
    try:
        if args.list_kernels:
            for s in kmod.load_specs(kfile):
                where = "host" if s.host else (f"{s.package} ({s.suite})" if s.package else s.bzimage)
                print(f"{s.name:12} {where}{'' if s.default else '  [not default]'}{'  ' + s.note if s.note else ''}")
            return 0
        if not engine.resolve_criu():
            log(f"zdtm matrix: no criu to test: {engine.criu_error}")
            return 4
        state = engine.settings.state_dir
        out = Path(args.out).resolve() if args.out else state / "matrix" / time.strftime("%Y%m%d-%H%M%S")
        opts = MatrixOptions(kernels=args.kernel, run_args=run_args(args.argv), out=out, jobs=args.jobs,
                             boot_timeout=args.boot_timeout, timeout=args.timeout, accel=args.accel,
                             memory_mb=args.memory, offline=args.offline, kernels_file=kfile)
        return Matrix(opts, engine.settings.cache_dir, log).run()
    except kmod.KernelError as e:
        log(f"zdtm matrix: {e}")
        return 4
