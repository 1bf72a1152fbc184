"""The pytest plugin: workloads become pytest items, one per (test, flavor).

`pytest zdtm` (the package directory) collects the whole suite described in
desc/suite.yaml; `pytest tests/static/pipe00.c` collects one workload.
"""
from __future__ import annotations

import os
import re
import signal
import statistics
import sys
import threading
from pathlib import Path
from typing import Optional

import pytest
from _pytest import junitxml  # xml_key: the junit reporter, to name our cases

from .cycle import TestResult, TestRun
from .desc import FLAVORS, KNOWN_FLAGS
from .engine import Engine
from .journal import reap_dead_runs
from .kinds import KINDS
from .modes import MODES, active_modes, variant_name
from .options import OptionError, add_pytest_options, settings_from
from .plan import PlanError, PlanLine, load_plan
from .procs import children
from .reports import Reporter
from .safeio import check_trusted_dir
from .shard import load_durations, schedule_durations, split, store_durations
from .suite import SuiteError, Workload

try:
    from pytest_html import extras as _html_extras
except ImportError:          # pytest-html is optional for the engine
    _html_extras = None

ENGINE = pytest.StashKey[Engine]()
REPORTER = pytest.StashKey[Reporter]()
PLAN_SKIPS = pytest.StashKey[dict]()
DURATIONS = pytest.StashKey[dict]()
PACKAGE_DIR = Path(__file__).resolve().parent


def pytest_addoption(parser):
    add_pytest_options(parser.getgroup("zdtm", "zdtm: CRIU checkpoint/restore tests"))


def _register_markers(config) -> None:
    for flag in sorted(KNOWN_FLAGS):
        config.addinivalue_line("markers", f"{flag}: zdtm tests whose .desc has the '{flag}' flag")
    for flavor in FLAVORS:
        config.addinivalue_line("markers", f"{flavor}: zdtm tests run in the '{flavor}' flavor")
    for root in ("static", "live", "transition"):
        config.addinivalue_line("markers", f"{root}: zdtm {root} workloads")
    for kind in KINDS:
        config.addinivalue_line("markers", f"{kind.name}: zdtm workloads of kind {kind.name}")
    for mode in MODES:
        if mode.marker:
            config.addinivalue_line("markers", f"{mode.marker}: zdtm tests run in mode {mode.name}: "
                                               f"{mode.description}")
    config.addinivalue_line("markers", "zdtm: every zdtm checkpoint/restore test")
    config.addinivalue_line("markers", "zdtm_plan_line: a --plan line none of whose tests can run here (a skip)")


class _Interrupt:
    """SIGINT, SIGTERM and SIGHUP all stop the run the way Ctrl-C does
    (KeyboardInterrupt: every running test cleans up, pytest exits 2),
    whatever disposition was inherited (a shell starting us in the background
    leaves SIGINT ignored). The first signal interrupts; later ones are
    noted and ignored, so they cannot cut a clean-up short. The xdist
    controller passes the signal on to its workers, which run the tests."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self, config):
        self.config = config
        self.received = None
        self.forward = not hasattr(config, "workerinput") and bool(getattr(config.option, "numprocesses", None))

    def install(self) -> None:
        for sig in self.SIGNALS:
            signal.signal(sig, self.handle)

    def handle(self, signum, frame):
        name = signal.Signals(signum).name
        if self.forward:
            for pid in children(os.getpid()):      # the xdist workers
                try:
                    os.kill(pid, signum)
                except ProcessLookupError:
                    pass
        if self.received is not None:
            sys.stderr.write(f"zdtm: {name} received while stopping after {self.received}; still cleaning up\n")
            return
        self.received = name
        raise KeyboardInterrupt(name)


def _only_looking(config) -> bool:
    """--help, --collect-only: no run, no run dir, no reports."""
    return bool(config.getoption("help", False) or config.getoption("collectonly", False)
                or config.getoption("version", False))


@pytest.hookimpl(tryfirst=True)          # before pytest-html reads --html
def pytest_configure(config):
    _register_markers(config)
    try:
        settings = settings_from(lambda dest: config.getoption(dest, None))
        engine = Engine.from_settings(settings, log=lambda m: print(f"zdtm: {m}", flush=True))
        if settings.plan:
            engine.plan = load_plan(settings.plan, settings.plan_lines)
    except (OptionError, SuiteError, PlanError) as e:
        raise pytest.UsageError(str(e)) from None
    workerinput = getattr(config, "workerinput", None)
    if workerinput and workerinput.get("zdtm_run_dir"):
        settings.run_dir = Path(workerinput["zdtm_run_dir"])
    config.stash[ENGINE] = engine
    if _wants_suite(config) and threading.current_thread() is threading.main_thread():
        _Interrupt(config).install()
    if _wants_suite(config) and not hasattr(config, "workerinput") and not _only_looking(config):
        shard = "/".join(map(str, settings.shard)) if settings.shard else None
        reporter = Reporter(engine, settings.report_json, settings.report_tap, shard)
        reporter.use_html(config)
        config.stash[REPORTER] = reporter
        config.pluginmanager.register(_ReportHooks(reporter), "zdtm-reports")
    config.pluginmanager.register(_NoPythonModulesForWorkloads(), "zdtm-no-py-modules")
    config.pluginmanager.register(_JunitNames(config), "zdtm-junit-names")
    if config.pluginmanager.hasplugin("xdist"):
        config.pluginmanager.register(_XdistHooks(), "zdtm-xdist")


class _ReportHooks:
    """The controller sees every test's report (xdist workers send theirs)."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter

    def pytest_runtest_logreport(self, report):
        self.reporter.add(report)

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item, call):
        report = yield
        artifacts = getattr(getattr(item, "result", None), "artifacts", "")
        if call.when == "call" and artifacts and _html_extras is not None:
            # pytest-html: a link to the test's artifacts dir
            report.extras = getattr(report, "extras", []) + [_html_extras.url(f"file://{artifacts}",
                                                                              name="artifacts")]
        return report


class _XdistHooks:
    @pytest.hookimpl(optionalhook=True)
    def pytest_configure_node(self, node):
        engine = node.config.stash[ENGINE]
        if _wants_suite(node.config):
            node.workerinput["zdtm_run_dir"] = str(engine.run_dir)
            # Read once, here: every worker must order the same items the same way.
            if DURATIONS not in node.config.stash:
                node.config.stash[DURATIONS] = schedule_durations(engine.settings.state_dir)
            node.workerinput["zdtm_durations"] = node.config.stash[DURATIONS]


def _wants_suite(config) -> bool:
    """Does this invocation name the suite or a workload in it?"""
    engine = config.stash[ENGINE]
    roots = [r.path for r in engine.suite.roots]
    for arg in config.args:
        p = Path(arg.split("::")[0]).resolve()
        if p == PACKAGE_DIR or any(p == r or r in p.parents or p in r.parents for r in roots):
            return True
    return False


def pytest_report_header(config):
    if not _wants_suite(config) or hasattr(config, "workerinput"):
        return None
    engine = config.stash[ENGINE]
    f = engine.facts
    lines = [f"zdtm: kernel {f.kernel}, criu {f.criu or 'MISSING'}"
             + (f" ({f.criu_version})" if f.criu_version else ""),
             f"zdtm: identity: {f.strategy}: {f.strategy_text()}",
             f"zdtm: flavors {','.join(engine.settings.flavors)}; artifacts under {engine.settings.state_dir}/runs"]
    return lines


def pytest_sessionstart(session):
    config = session.config
    if hasattr(config, "workerinput") or not _wants_suite(config):
        return
    engine = config.stash[ENGINE]
    try:
        check_trusted_dir(engine.settings.state_dir, "the state dir")
    except PermissionError as e:
        raise pytest.UsageError(f"zdtm: {e}") from None
    fatal = engine.facts.fatal
    if fatal:
        raise pytest.UsageError(f"zdtm: no checkpoint/restore can run here: {fatal} (see `zdtm check`)")
    xml = config.stash.get(junitxml.xml_key, None)
    if xml is not None:         # zdtm report reads the kernel of a JUnit file here
        xml.add_global_property("zdtm_kernel", engine.facts.kernel)
    for line in engine.raise_sysctls(engine.host_sysctls(_run_modes(engine))):
        print(f"zdtm: {line}", flush=True)
    # What runs killed outright left behind (their tasks, mounts, rules).
    for line in reap_dead_runs():
        print(f"zdtm: {line}", flush=True)


def _run_modes(engine) -> list:
    """Every mode this run may use (the run's, each plan line's)."""
    sets = [engine.settings.with_mode_options(line.mode_options) for line in engine.plan] or [engine.settings]
    return [mode for s in sets for mode in active_modes(s)]


def pytest_sessionfinish(session):
    config = session.config
    engine = config.stash.get(ENGINE, None)
    if engine is not None:
        engine.end_session()
    reporter = config.stash.get(REPORTER, None)
    if reporter is not None:
        engine.release_sysctls()
        reporter.finish()
        # what the test itself cost: its wait for host-wide locks (an excl
        # test waits for the other workers' tests) depends on its neighbours
        measured = {t.id: max(t.duration - t.timings.get("wait", 0.0), 0.0)
                    for t in reporter.results.tests if t.outcome != "skipped"}
        if measured:
            store_durations(engine.settings.state_dir, measured)


def pytest_collect_directory(path, parent):
    if path.resolve() == PACKAGE_DIR:
        return SuiteCollector.from_parent(parent, path=path)
    return None


def pytest_collect_file(file_path, parent):
    w = parent.config.stash[ENGINE].suite.workload_for(file_path)
    if w is None:
        return None
    return WorkloadFile.from_parent(parent, path=file_path, workload=w)


class _NoPythonModulesForWorkloads:
    """A Python workload named on the command line is a workload, not a
    pytest test module: drop the Module pytest's python plugin makes of it."""

    @pytest.hookimpl(wrapper=True)
    def pytest_collect_file(self, file_path, parent):
        collected = yield
        if parent.config.stash[ENGINE].suite.workload_for(file_path) is None:
            return collected
        return [c for c in collected if not isinstance(c, pytest.Module)]


class SuiteCollector(pytest.Directory):
    """The zdtm package directory stands for the whole suite."""

    def collect(self):
        engine = self.config.stash[ENGINE]
        named = engine.suite.named(engine.settings.tests)
        for w in engine.suite.workloads:
            if engine.settings.tests and w.name not in named:
                continue        # not deselected: never collected (zdtm run -t)
            yield WorkloadFile.from_parent(self, path=w.source, workload=w)
        skips = _plan_skips(self.config)
        for line in engine.plan:
            if skips[line.name]:
                yield PlanLineItem.from_parent(self, name=f"plan/{line.name}", line=line, reason=skips[line.name])


def _plan_skips(config) -> dict:
    """{line name: why none of its tests can run here, or None}, decided once."""
    if PLAN_SKIPS not in config.stash:
        engine = config.stash[ENGINE]
        config.stash[PLAN_SKIPS] = {line.name: _plan_skip(engine, line) for line in engine.plan}
    return config.stash[PLAN_SKIPS]


def _plan_skip(engine, line: PlanLine) -> Optional[str]:
    """Why none of a plan line's tests can run here (then it is one skip)."""
    if line.unsupported:
        return f"plan line {line.name}: {line.unsupported} (zdtm.py's arguments: {line.args})"
    missing = engine.facts.feature_missing([line.requires]) if line.requires else None
    if not missing and engine.resolve_criu():
        # a mode this machine cannot run at all (no soft-dirty for --pre)
        modes = active_modes(engine.settings.with_mode_options(line.mode_options))
        missing = next(filter(None, (engine.mode_unavailable(m) for m in modes)), None)
    return f"plan line {line.name}: {missing}" if missing else None


class PlanLineItem(pytest.Item):
    """A plan line none of whose tests can run here: one skip that says why."""

    def __init__(self, *, line: PlanLine, reason: str, **kw):
        super().__init__(**kw)
        self.line, self.reason = line, reason
        self.add_marker("zdtm_plan_line")

    def runtest(self):
        raise pytest.skip.Exception(self.reason, _use_item_location=True)

    def reportinfo(self):
        return self.path, 0, self.nodeid


class WorkloadFile(pytest.File):
    def __init__(self, *, workload: Workload, **kw):
        super().__init__(**kw)
        self.workload = workload

    def collect(self):
        engine = self.config.stash[ENGINE]
        try:
            desc = self.workload.load_desc()
            allowed, marks = desc.flavors, sorted(desc.flags)
        except Exception:
            # The item reports the .desc error when it runs.
            allowed, marks = None, []
        skips = _plan_skips(self.config)
        lines = [line for line in engine.plan if not skips[line.name]] or [None]
        seen = set()
        for line in lines:
            if line is not None and not line.selects(self.workload.name, self.workload.source.stem):
                continue
            for flavor in self._flavors(engine, line, allowed):
                item = self._item(engine, flavor, line, marks)
                if item.nodeid not in seen:     # two lines may ask for the same test and modes
                    seen.add(item.nodeid)
                    yield item

    @staticmethod
    def _flavors(engine, line: Optional[PlanLine], allowed) -> list:
        wanted = (line.flavors if line is not None and line.flavors else None) or engine.settings.flavors
        if allowed is None:
            return [f if f != "best" else "h" for f in wanted]
        if wanted == ("best",):
            # the most isolated flavor the test allows (uns > ns > h)
            return [f for f in ("uns", "ns", "h") if f in allowed][:1]
        return [f for f in wanted if f in allowed]

    def _item(self, engine, flavor: str, line: Optional[PlanLine], marks: list) -> "ZdtmItem":
        mode_options = line.mode_options if line is not None else {}
        modes = active_modes(engine.settings.with_mode_options(mode_options))
        variant = variant_name(flavor, modes)
        item = ZdtmItem.from_parent(self, name=f"{self.workload.name}[{variant}]",
                                    nodeid=f"{self.workload.name}[{variant}]",
                                    workload=self.workload, flavor=flavor, plan_line=line)
        for m in ["zdtm", flavor, self.workload.root.leaf, self.workload.kind.name, *marks,
                  *[mode.marker for mode in modes if mode.marker]]:
            item.add_marker(m)
        if line is not None and line.expect == "fail":
            item.add_marker(pytest.mark.xfail(strict=True, reason=f"plan line {line.name}: expected to fail "
                                                                  f"({line.args})"))
        return item


class _JunitNames:
    """junit: our cases get classname "zdtm.static", name "pipe00[h]"
    (pytest's own mangling gives classname "" and "static.pipe00[h]").
    A report hook, not the item: with xdist the junit file is the controller's."""

    def __init__(self, config):
        self.config = config

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_logreport(self, report):
        xml = self.config.stash.get(junitxml.xml_key, None)
        if xml is None or "::" in report.nodeid or "zdtm" not in report.keywords:
            return
        group, _, name = report.nodeid.rpartition("/")
        reporter = xml.node_reporter(report)
        reporter.add_attribute("classname", ".".join(["zdtm", *filter(None, group.split("/"))]))
        reporter.add_attribute("name", name)


class ZdtmFailure(Exception):
    def __init__(self, result: TestResult):
        super().__init__(result.message)
        self.result = result


class ZdtmItem(pytest.Item):
    def __init__(self, *, workload: Workload, flavor: str, plan_line: Optional[PlanLine] = None, **kw):
        super().__init__(**kw)
        self.workload = workload
        self.flavor = flavor
        self.plan_line = plan_line      # the plan line that asked for it (--plan), if any
        self.result = None

    def runtest(self):
        engine = self.config.stash[ENGINE]
        engine.start_session()
        settings = engine.settings.with_mode_options(self.plan_line.mode_options if self.plan_line else {})
        modes = active_modes(settings)
        result = TestRun(engine, self.workload, self.flavor, modes).run()
        self.result = result
        suffixes = [m.id_suffix for m in modes if m.id_suffix]
        self.user_properties += [("zdtm_test", self.workload.name), ("zdtm_flavor", self.flavor),
                                 ("zdtm_modes", ",".join(suffixes)), ("outcome", result.outcome),
                                 ("phase", result.phase or ""), ("message", result.message)]
        self.user_properties.append(("identity", result.identity))
        self.user_properties.append(("artifacts", result.artifacts))
        for warning in result.warnings:     # one property each, as junit allows
            self.user_properties.append(("warning", warning))
        for k, v in result.timings.items():
            self.user_properties.append((f"time_{k}", v))
        for title, text in result.sections:
            self.add_report_section("call", title, text)
        if result.outcome == "skipped":
            # Reported at the workload's source, not at this line.
            raise pytest.skip.Exception(result.message, _use_item_location=True)
        if result.outcome == "failed":
            raise ZdtmFailure(result)

    def repr_failure(self, excinfo, style=None):
        if isinstance(excinfo.value, ZdtmFailure):
            return excinfo.value.result.summary()
        return super().repr_failure(excinfo, style)

    def reportinfo(self):
        return self.path, 0, self.nodeid


def pytest_collection_modifyitems(session, config, items):
    settings = config.stash[ENGINE].settings
    named = config.stash[ENGINE].suite.named(settings.tests)
    filters = [re.compile(r) for r in settings.filters]
    excludes = [re.compile(r) for r in settings.excludes]
    keep, drop = [], []
    for item in items:
        if not isinstance(item, ZdtmItem):
            keep.append(item)
            continue
        name = item.workload.name
        explicit = name in named or session.isinitpath(item.path) \
            or (item.plan_line is not None and item.plan_line.names(name, item.workload.source.stem))
        ok = True
        if settings.tests and name not in named:
            ok = False
        if filters and not any(f.search(name) for f in filters):
            ok = False
        if any(e.search(name) for e in excludes):
            ok = False
        if item.get_closest_marker("noauto") and not explicit:
            ok = False
        (keep if ok else drop).append(item)
    if settings.shard:
        keep, drop = _shard(config, keep, drop)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
    durations = getattr(config, "workerinput", {}).get("zdtm_durations")
    if durations is not None:
        items[:] = schedule(items, durations)
    for kind in KINDS:
        kind.will_run(list({i.workload.name: i.workload for i in keep
                            if isinstance(i, ZdtmItem) and i.workload.kind.name == kind.name}.values()))


def schedule(items: list, durations: dict) -> list:
    """The order xdist hands tests out in: longest first (a long test last
    would be the run's tail), in rounds (each test's first variant, then its
    second...), so the flavors of one test, which never run at the same time
    (zdtm.hostwide test locks), are not next to each other for two workers
    to take together. Known durations come from earlier runs; others count
    as the median.
    Tests flagged excl come first, all of them: one runs with the host to
    itself, so the other workers wait for it, and an excl test waits for
    what they run. At the start they wait for each other's short excl
    tests only; later an excl test would wait for a long test to end."""
    ours = [i for i in items if isinstance(i, ZdtmItem)]
    known = [durations[i.nodeid] for i in ours if i.nodeid in durations]
    guess = statistics.median(known) if known else 1.0
    rounds: dict = {}
    key = {}
    for i in ours:
        n = rounds[i.workload.name] = rounds.get(i.workload.name, -1) + 1
        excl = i.get_closest_marker("excl") is not None
        key[i.nodeid] = (not excl, n, -durations.get(i.nodeid, guess), i.nodeid)
    return sorted(ours, key=lambda i: key[i.nodeid]) + [i for i in items if not isinstance(i, ZdtmItem)]


def _shard(config, keep: list, drop: list) -> tuple:
    """Only this shard's part of the selection (zdtm.shard)."""
    settings = config.stash[ENGINE].settings
    index, count = settings.shard
    ours = [i for i in keep if isinstance(i, ZdtmItem)]
    part = set(split([i.nodeid for i in ours], count,
                     load_durations(settings.state_dir, settings.durations_file))[index - 1])
    return ([i for i in keep if not isinstance(i, ZdtmItem) or i.nodeid in part],
            drop + [i for i in ours if i.nodeid not in part])


def pytest_unconfigure(config):
    reporter = config.stash.get(REPORTER, None)
    if reporter is not None:
        reporter.copy_html()      # pytest-html wrote it where --html said: the run dir keeps one too


def pytest_terminal_summary(terminalreporter, config):
    engine = config.stash.get(ENGINE, None)
    run_dir = engine.settings.run_dir if engine else None
    if run_dir is not None and not hasattr(config, "workerinput"):
        reporter = config.stash.get(REPORTER, None)
        for line in reporter.summary_lines() if reporter else []:
            terminalreporter.write_line(line)
        terminalreporter.write_line(f"zdtm: artifacts of this run: {run_dir}")
