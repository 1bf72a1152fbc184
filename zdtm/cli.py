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
from .config import PROJECT_DIR
from .desc import DescError
from .engine import Engine
from .matrix.cli import add_matrix_command
from .options import OptionError, add_cli_arguments, pytest_args, settings_from
from .soak import soak
from .suite import SuiteError

PACKAGE_DIR = Path(__file__).resolve().parent


def _engine(args) -> Engine:
    return Engine.from_settings(settings_from(lambda dest: getattr(args, dest, None)),
                                log=lambda m: print(f"zdtm: {m}", file=sys.stderr))


def cmd_run(args) -> int:
    if args.repeat > 1:
        return soak(_without_repeat(args.argv), args.repeat, args.alternate)
    import pytest
    suite = _engine(args).suite
    for name in args.tests:
        if suite.find(name) is None:
            print(f"zdtm run: no test named '{name}' in {suite.file} (see `zdtm list`)", file=sys.stderr)
            return 4
    # The suite's collector yields the named tests (--zdtm-test): given their
    # source files instead, pytest would list and offer every file of their
    # directories to the collection hooks (3300 in upstream's static/).
    argv = [str(PACKAGE_DIR)]
    argv += pytest_args(args, "run") + ["-rfEs", "-p", "no:cacheprovider"]
    if args.parallel and args.parallel != "1":
        argv += ["-n", args.parallel]
    if args.junitxml:
        argv += ["--junitxml", args.junitxml]
    if args.exitfirst:
        argv.append("-x")
    argv += args.pytest_args or []
    # The plugin's package is already imported (we are it): nothing to rewrite.
    quiet = ["-W", "ignore::pytest.PytestAssertRewriteWarning"]
    return int(pytest.main(["--rootdir", str(PROJECT_DIR), *quiet, *argv]))


def cmd_ci(args) -> int:
    """`zdtm run` over a plan (by default desc/ci.yaml: the zdtm.py lines of
    CRIU's CI) and, unless given, the provisioned criu's own test tree."""
    from .plan import PlanError, load_plan
    args.plan = args.plan or str(PROJECT_DIR / "desc" / "ci.yaml")
    try:
        lines = load_plan(args.plan, args.plan_lines)
    except PlanError as e:
        print(f"zdtm ci: {e}", file=sys.stderr)
        return 4
    if args.list_lines:
        for line in lines:
            extra = f"  [{line.unsupported}]" if line.unsupported else ""
            print(f"{line.name:28} {line.args}{extra}")
        return 0
    if not args.upstream:
        from .provision import ProvisionError, provision_criu_source
        try:
            args.upstream = [str(provision_criu_source(log=lambda m: print(f"zdtm: {m}", file=sys.stderr)))]
        except ProvisionError as e:
            print(f"zdtm ci: no upstream tree to run (give --upstream DIR): {e}", file=sys.stderr)
            return 4
    return cmd_run(args)


def cmd_modes(args) -> int:
    """The C/R modes: their options, what they do, and whether they can run here."""
    from .modes import MODES
    from .config import Settings
    engine = _engine(args)
    criu = engine.resolve_criu()
    for cls in MODES:
        if not cls.options:
            continue
        mode = cls(Settings())
        reason = engine.mode_unavailable(mode) if criu else "no criu"
        raised = ", ".join(f"{k.replace('/', '.')}={v}" for k, v in mode.host_sysctls.items())
        if reason and raised and any(k.replace("/", ".") in reason for k in mode.host_sysctls):
            reason = None       # what it lacks is a host setting the run raises for itself
        flags = " ".join(f for opt in cls.options for f in opt.cli[-1:])
        print(f"{flags:40} {cls.description}")
        state = "unavailable here: " + reason if reason else "available here"
        if not reason and raised:
            state += f" (a run with it sets {raised}, and the last run gives the old values back)"
        print(f"{'':40} {state}")
    return 0


def _without_repeat(argv: list) -> list:
    """This command's arguments, less the soak's own."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a in ("--repeat", "--alternate"):
            skip = True
        elif not a.startswith(("--repeat=", "--alternate=")):
            out.append(a)
    return out


def cmd_list(args) -> int:
    suite = _engine(args).suite
    bad = 0
    rows = []
    for w in suite.workloads:
        if not args.info:
            print(w.name)
            continue
        try:
            d = w.load_desc()
            rows.append((w.name, w.kind.name, " ".join(d.flavors), " ".join(sorted(d.flags)) or "-",
                         " ".join(d.features) or "-", " ".join(d.opts + d.dopts + d.ropts) or "-"))
        except DescError as e:
            bad += 1
            rows.append((w.name, w.kind.name, "DESC ERROR", str(e), "", ""))
    if args.info:
        header = ("test", "lang", "flavors", "flags", "features", "criu opts")
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        for r in [header] + rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip())
        by_root, by_kind = {}, {}
        for w in suite.workloads:
            by_root[w.root.name] = by_root.get(w.root.name, 0) + 1
            by_kind[w.kind.name] = by_kind.get(w.kind.name, 0) + 1
        print(f"\n{len(suite.workloads)} workloads: "
              + ", ".join(f"{n} {k}" for k, n in sorted(by_root.items())) + "; "
              + ", ".join(f"{n} {k}" for k, n in sorted(by_kind.items()))
              + (f"; {bad} with a broken .desc" if bad else ""))
    return 1 if bad else 0


def cmd_check(args) -> int:
    engine = _engine(args)
    criu = engine.resolve_criu()
    facts = check.gather(criu, engine.suite_features(), engine.settings.identity, engine.criu_error)
    print(facts.to_json() if args.json else check.render(facts))
    return 1 if facts.fatal else 0


def cmd_clean(args) -> int:
    engine = _engine(args)
    for line in engine.clean(everything=args.all):
        print(line)
    return 0


def cmd_bench(args) -> int:
    from .bench import main as bench_main
    return bench_main(args)


def cmd_report(args) -> int:
    from .reports import merge as m
    try:
        doc = m.merge([m.load(src) for src in args.sources])
    except m.ReportError as e:
        print(f"zdtm report: {e}", file=sys.stderr)
        return 4
    from .matrix.junit import junit
    outputs = {"markdown": m.markdown, "html": m.html, "json": lambda d: json.dumps(d, indent=1) + "\n",
               "junit": junit}
    wrote = False
    for fmt, render in outputs.items():
        target = getattr(args, fmt)
        if target:
            text = render(doc)
            sys.stdout.write(text) if target == "-" else Path(target).write_text(text)
            wrote = wrote or target == "-"
    if not wrote:
        sys.stdout.write(m.terminal(doc))
    return 1 if m.counts(doc)["failed"] else 0


def cmd_matrix(args) -> int:
    from .matrix.cli import cmd_matrix as matrix
    return matrix(args, _engine(args))


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


def _command(sub, name: str, func, help: str):
    p = sub.add_parser(name, help=help)
    add_cli_arguments(p, name)
    p.set_defaults(func=func)
    return p


def _run_shape(r) -> None:
    """The arguments of a run that are not settings (zdtm run, zdtm ci)."""
    r.add_argument("-a", "--all", action="store_true", help="run every test (the default without -t)")
    r.add_argument("-p", "--parallel", default="1", metavar="N", help="parallel workers (N or auto)")
    r.add_argument("--junitxml", metavar="FILE")
    r.add_argument("--exitfirst", action="store_true", help="stop at the first failure")
    r.add_argument("--repeat", type=int, default=1, metavar="N",
                   help="soak: run the selection N times, each a fresh run, then a table of the tests that "
                        "did not pass every time (exit 1 if any)")
    r.add_argument("--alternate", choices=("criu-ns",), default="",
                   help="with --repeat: every other round in this mode")
    r.add_argument("pytest_args", nargs="*", help="passed to pytest after --")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="zdtm", description="CRIU checkpoint/restore tests (ZDTM protocol)")
    sub = p.add_subparsers(dest="cmd", required=True)

    r = _command(sub, "run", cmd_run, "run tests (pytest underneath; exit codes as pytest's)")
    _run_shape(r)

    ci = sub.add_parser("ci", help="CRIU's CI locally: every zdtm.py line of its run-ci-tests.sh (desc/ci.yaml: "
                                   "tests x C/R modes) in one session, on the provisioned criu's own test tree")
    add_cli_arguments(ci, "run")
    _run_shape(ci)
    ci.add_argument("--list-lines", action="store_true", help="list the plan's lines and stop")
    ci.set_defaults(func=cmd_ci)

    _command(sub, "modes", cmd_modes, "list the C/R modes, their options and whether they can run here")

    ls = _command(sub, "list", cmd_list, "list the suite's tests")
    ls.add_argument("--info", action="store_true", help="with flavors, flags, features and options")

    c = _command(sub, "check", cmd_check, "what this machine and kernel can do")
    c.add_argument("--json", action="store_true")

    cl = _command(sub, "clean", cmd_clean, "remove run artifacts and builds")
    cl.add_argument("--all", action="store_true", help="also the provisioned criu")

    b = _command(sub, "bench", cmd_bench, "measure the harness's overhead per test")
    b.add_argument("--runs", type=int, default=15, help="runs of the trivial workload")
    b.add_argument("--no-suite", action="store_true", help="skip the -n 1 vs -n 2 suite timing")
    b.add_argument("--against-zdtm-py", metavar="TREE",
                   help="instead: run CRIU's own test/zdtm.py and this harness on one criu source tree (e.g. "
                        "$(zdtm provision --source)), one criu, one flavor; print both, the differing verdicts "
                        "and the wall-time ratio")
    b.add_argument("-f", "--flavor", default="uns", help="with --against-zdtm-py: the flavor (default uns)")
    b.add_argument("-p", "--jobs", default="2", help="with --against-zdtm-py: parallel jobs (default 2)")

    rp = sub.add_parser("report", help="render a past run, or merge several (shards, machines, kernels)")
    rp.add_argument("sources", nargs="+", metavar="RUN-DIR|FILE",
                    help="a run dir (its report.json), a report.json, or a JUnit XML file")
    rp.add_argument("--markdown", metavar="FILE", help="the table as Markdown (- for stdout)")
    rp.add_argument("--html", metavar="FILE", help="the table as a self-contained HTML page (- for stdout)")
    rp.add_argument("--json", metavar="FILE", help="the merged JSON document (- for stdout)")
    rp.add_argument("--junit", metavar="FILE", help="the merged results as JUnit XML, a suite per kernel "
                                                    "(- for stdout)")
    rp.set_defaults(func=cmd_report)

    add_matrix_command(sub, cmd_matrix)

    # Listed for --help; main() hands its arguments to zdtm.criu_ns untouched.
    sub.add_parser("criu-ns", help="criu drop-in: restore into a fresh pid+mount namespace "
                                   "([--criu-bin PATH] ACTION criu-args...)")

    pv = _command(sub, "provision", cmd_provision, "find or install criu; print its path")
    pv.add_argument("--source", action="store_true",
                    help="also fetch the provisioned criu's source (its test/zdtm is upstream's ZDTM tree, "
                         "for --upstream); print its path")
    return p


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["criu-ns"]:
        from .criu_ns import main as criu_ns_main
        return criu_ns_main(argv[1:])
    args = build_parser().parse_args(argv)
    args.argv = argv[1:]
    try:
        return args.func(args)
    except OptionError as e:
        print(f"zdtm {args.cmd}: {e}", file=sys.stderr)
        return 4
    except SuiteError as e:
        print(f"zdtm: {e}", file=sys.stderr)
        return 4
    except KeyboardInterrupt:
        return 2


if __name__ == "__main__":
    sys.exit(main())
