"""`zdtm`: a thin command line over the pytest plugin and the engine.

`zdtm run` *is* pytest with the plugin's options, so CI and people run the
same engine and get pytest's exit codes.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import check
from .config import KEEP_IMG_MODES, Settings
from .desc import DescError
from .engine import Engine
from .suite import PROJECT_DIR, Suite, SuiteError

PACKAGE_DIR = Path(__file__).resolve().parent


def _common(p):
    p.add_argument("--criu-bin", metavar="PATH", help="criu binary (default: provisioned or from PATH)")
    p.add_argument("--suite", metavar="FILE", help="suite description (default: desc/suite.yaml)")
    p.add_argument("--zdtm-dir", metavar="DIR", help="state dir for builds and run artifacts")
    p.add_argument("--upstream", action="append", default=[], metavar="DIR",
                   help="also an existing ZDTM tree: a criu checkout (its test/zdtm/static and "
                        "transition become upstream/static/NAME, upstream/transition/NAME)")


def _suite(args) -> Suite:
    suite = Suite.load(args.suite)
    for d in args.upstream:
        suite.add_upstream(d)
    return suite


def _engine(args) -> Engine:
    settings = Settings(criu_bin=args.criu_bin, identity=getattr(args, "identity", "auto"))
    if args.zdtm_dir:
        settings.state_dir = Path(args.zdtm_dir).resolve()
    return Engine(settings, _suite(args), log=lambda m: print(f"zdtm: {m}", file=sys.stderr))


def cmd_run(args) -> int:
    import pytest
    suite = _suite(args)
    pytest_args = []
    if args.test:
        for name in args.test:
            w = suite.find(name)
            if w is None:
                print(f"zdtm run: no test named '{name}' in {suite.file} (see `zdtm list`)", file=sys.stderr)
                return 4
            pytest_args.append(str(w.source))
    else:
        pytest_args.append(str(PACKAGE_DIR))
    for regex in args.filter or []:
        pytest_args += ["--zdtm-filter", regex]
    for regex in args.exclude or []:
        pytest_args += ["--zdtm-exclude", regex]
    pytest_args += ["--zdtm-flavor", args.flavor, "--zdtm-iters", str(args.iters), "--keep-img", args.keep_img,
                    "--zdtm-identity", args.identity, "-rfEs", "-p", "no:cacheprovider"]
    if args.norst:
        pytest_args.append("--zdtm-norst")
    if args.criu_ns:
        pytest_args.append("--zdtm-criu-ns")
    if args.criu_bin:
        pytest_args += ["--criu-bin", args.criu_bin]
    if args.suite:
        pytest_args += ["--zdtm-suite", args.suite]
    if args.zdtm_dir:
        pytest_args += ["--zdtm-dir", args.zdtm_dir]
    for d in args.upstream:
        pytest_args += ["--zdtm-upstream", d]
    if args.parallel and args.parallel != "1":
        pytest_args += ["-n", args.parallel]
    if args.junitxml:
        pytest_args += ["--junitxml", args.junitxml]
    if args.exitfirst:
        pytest_args.append("-x")
    pytest_args += args.pytest_args or []
    # The plugin's package is already imported (we are it): nothing to rewrite.
    quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    return int(pytest.main(["--rootdir", str(PROJECT_DIR), *quiet, *pytest_args]))


def cmd_list(args) -> int:
    suite = _suite(args)
    bad = 0
    rows = []
    for w in suite.workloads:
        if not args.info:
            print(w.name)
            continue
        try:
            d = w.load_desc()
            rows.append((w.name, w.kind, " ".join(d.flavors), " ".join(sorted(d.flags)) or "-",
                         " ".join(d.features) or "-", " ".join(d.opts + d.dopts + d.ropts) or "-"))
        except DescError as e:
            bad += 1
            rows.append((w.name, w.kind, "DESC ERROR", str(e), "", ""))
    if args.info:
        header = ("test", "lang", "flavors", "flags", "features", "criu opts")
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        for r in [header] + rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        by_root, by_kind = {}, {}
        for w in suite.workloads:
            by_root[w.root.name] = by_root.get(w.root.name, 0) + 1
            by_kind[w.kind] = by_kind.get(w.kind, 0) + 1
        print(f"\n{len(suite.workloads)} workloads: "
              + ", ".join(f"{n} {k}" for k, n in sorted(by_root.items())) + "; "
              + ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items()))
              + (f"; {bad} with a broken .desc" if bad else ""))
    return 1 if bad else 0


def cmd_check(args) -> int:
    engine = _engine(args)
    criu = engine.resolve_criu()
    facts = check.gather(criu, engine.suite_features(), args.identity, engine.criu_error)
    print(facts.to_json() if args.json else check.render(facts))
    return 1 if facts.fatal else 0


def cmd_clean(args) -> int:
    engine = _engine(args)
    for path in engine.clean(everything=args.all):
        print(f"removed {path}")
    return 0


def cmd_bench(args) -> int:
    from .bench import main as bench_main
    return bench_main(args)


def cmd_provision(args) -> int:
    if args.source:
        from .provision import ProvisionError, provision_criu_source
        try:
            print(provision_criu_source(log=lambda m: print(f"zdtm: {m}", file=sys.stderr)))
        except ProvisionError as e:
            print(f"zdtm provision --source: {e}", file=sys.stderr)
            return 1
        return 0
    engine = _engine(args)
    criu = engine.resolve_criu()
    if not criu:
        print(f"zdtm provision: {engine.criu_error}", file=sys.stderr)
        return 1
    print(criu)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zdtm", description="CRIU checkpoint/restore tests (ZDTM protocol)")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = sub.add_parser("run", help="run tests (pytest underneath; exit codes as pytest's)")
    _common(r)
    r.add_argument("-t", "--test", action="append", metavar="NAME", help="test to run, e.g. static/pipe00 (repeatable)")
    r.add_argument("-a", "--all", action="store_true", help="run every test (the default without -t)")
    r.add_argument("-T", "--filter", action="append", metavar="REGEX", help="only tests whose name matches")
    r.add_argument("-x", "--exclude", action="append", metavar="REGEX", help="skip tests whose name matches")
    r.add_argument("-f", "--flavor", default="all",
                   help="flavors: h[,ns,uns], all (every flavor a test allows: the default) or best")
    r.add_argument("--iters", type=int, default=1, help="C/R cycles per test")
    r.add_argument("--norst", action="store_true", help="dump with --leave-running, no restore")
    r.add_argument("--criu-ns", action="store_true", help="run criu through zdtm criu-ns")
    r.add_argument("--keep-img", choices=KEEP_IMG_MODES, default="failed")
    r.add_argument("--identity", default="auto", help="auto, root-criu, owner-dump or as-root")
    r.add_argument("-p", "--parallel", default="1", metavar="N", help="parallel workers (N or auto)")
    r.add_argument("--junitxml", metavar="FILE")
    r.add_argument("--exitfirst", action="store_true", help="stop at the first failure")
    r.add_argument("pytest_args", nargs="*", help="passed to pytest after --")
    r.set_defaults(func=cmd_run)

    ls = sub.add_parser("list", help="list the suite's tests")
    _common(ls)
    ls.add_argument("--info", action="store_true", help="with flavors, flags, features and options")
    ls.set_defaults(func=cmd_list)

    c = sub.add_parser("check", help="what this machine and kernel can do")
    _common(c)
    c.add_argument("--json", action="store_true")
    c.add_argument("--identity", default="auto")
    c.set_defaults(func=cmd_check)

    cl = sub.add_parser("clean", help="remove run artifacts and builds")
    _common(cl)
    cl.add_argument("--all", action="store_true", help="also the provisioned criu")
    cl.set_defaults(func=cmd_clean)

    b = sub.add_parser("bench", help="measure the harness's overhead per test")
    _common(b)
    b.add_argument("--runs", type=int, default=15, help="runs of the trivial workload")
    b.add_argument("--no-suite", action="store_true", help="skip the -n 1 vs -n 2 suite timing")
    b.set_defaults(func=cmd_bench)

    # Listed for --help; main() hands its arguments to zdtm.criu_ns untouched.
    sub.add_parser("criu-ns", help="criu drop-in: restore into a fresh pid+mount namespace "
                                   "([--criu-bin PATH] ACTION criu-args...)")

    pv = sub.add_parser("provision", help="find or install criu; print its path")
    _common(pv)
    pv.add_argument("--source", action="store_true",
                    help="also fetch the provisioned criu's source (its test/zdtm is upstream's ZDTM tree, "
                         "for --upstream); print its path")
    pv.set_defaults(func=cmd_provision)
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["criu-ns"]:
        from .criu_ns import main as criu_ns_main
        return criu_ns_main(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except SuiteError as e:
        print(f"zdtm: {e}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        return 2


if __name__ == "__main__":
    sys.exit(main())
