"""The page modes with real criu: --page-server, --dedup, --noauto-dedup,
--lazy-pages, --remote-lazy-pages, --lazy-migrate. For each, one test
proves it happened (the page server received the pages, the holes were
punched, the daemon transferred the pages, ...), one that its helper
dying, or what it checks going wrong, fails the test in a named phase
with nothing left running."""
import os
import signal
from pathlib import Path

import pytest

from conftest import tasks_mentioning
from zdtm.config import Settings
from zdtm.cycle import TestRun
from zdtm.desc import Desc
from zdtm.modes import active_modes, variant_name
from zdtm.modes._lazy import SERVE_PIPE_BYTES, transferred
from zdtm.modes.dedup import DedupMode, pages_usage
from zdtm.modes.lazy_migrate import LazyMigrateMode
from zdtm.modes.lazy_pages import LazyPagesMode
from zdtm.modes.noauto_dedup import NoAutoDedupMode
from zdtm.modes.page_server import PageServerMode
from zdtm.modes.plain import PlainMode
from zdtm.modes.remote_lazy_pages import RemoteLazyPagesMode

PIPE_MAX = Path("/proc/sys/fs/pipe-max-size")


@pytest.fixture
def engine(trivial_engine):
    trivial_engine.settings.criu_timeout = 30      # a hang is bounded, the test stays short
    return trivial_engine


@pytest.fixture
def serving_pipes():
    """criu's page server needs 4 MiB pipes: without CAP_SYS_RESOURCE (this
    machine) fs.pipe-max-size must allow them; raised for the test only."""
    before = int(PIPE_MAX.read_text())
    if before < SERVE_PIPE_BYTES:
        PIPE_MAX.write_text(str(SERVE_PIPE_BYTES))
    yield
    if before < SERVE_PIPE_BYTES:
        PIPE_MAX.write_text(str(before))


def run_test(engine, *modes, flavor="h"):
    r = TestRun(engine, engine.suite.workloads[0], flavor, modes=[PlainMode(engine.settings), *modes]).run()
    return r, Path(r.artifacts)


def settings_with(engine, **opts):
    engine.settings.mode_options.update(opts)
    return engine.settings


def assert_clean(reachable_dir):
    assert not tasks_mentioning(reachable_dir)


def kill_helper(server):
    os.kill(server.helper.proc.pid, signal.SIGKILL)
    server.helper.proc.wait()


# ---- options and ids ---------------------------------------------------------------
def test_the_options_choose_the_page_modes():
    s = Settings(mode_options={"page_server": True, "dedup": True})
    assert variant_name("uns", active_modes(s)) == "uns-dedup-page-server"
    s = Settings(mode_options={"lazy_pages": True, "remote_lazy_pages": True})
    assert [m.name for m in active_modes(s)] == ["plain", "remote-lazy-pages"]     # it runs the daemon
    assert variant_name("h", active_modes(Settings(mode_options={"noauto_dedup": True}))) == "h-noauto-dedup"


# ---- --page-server -----------------------------------------------------------------
def test_page_server_receives_the_pages(engine, reachable_dir):
    r, art = run_test(engine, PageServerMode(settings_with(engine, page_server=True)))
    assert r.outcome == "passed", r.summary()
    log = (art / "page-server-1.log").read_text()
    port = int(log.split("Using ")[1].split()[0])
    dump = next(c for c in r.criu_commands if " dump " in c)
    assert f"--page-server --address 127.0.0.1 --port {port}" in dump
    assert "Accepted connection from 127.0.0.1" in log and "page-xfer: Adding" in log, log[-2000:]
    assert list((art / "img" / "1").glob("pages-*.img"))
    assert_clean(reachable_dir)


class DyingPageServer(PageServerMode):
    def adjust_call(self, call, action, step):
        super().adjust_call(call, action, step)
        if action == "dump":
            kill_helper(self.server)


def test_a_page_server_that_dies_fails_the_dump_naming_it(engine, reachable_dir):
    r, _ = run_test(engine, DyingPageServer(settings_with(engine, page_server=True)))
    assert (r.outcome, r.phase) == ("failed", "dump"), r.summary()
    assert "criu page-server" in r.message and "had ended: criu page-server was killed by SIGKILL" in r.message
    assert_clean(reachable_dir)


# ---- --dedup -----------------------------------------------------------------------
def test_dedup_punches_the_pages_images(engine, reachable_dir):
    r, art = run_test(engine, DedupMode(settings_with(engine, dedup=True)))
    assert r.outcome == "passed", r.summary()
    assert all("--auto-dedup" in c for c in r.criu_commands)
    size, allocated = pages_usage(art / "img" / "1")
    assert size > 0 and allocated < size, (size, allocated)
    assert_clean(reachable_dir)


class NoHoleDedup(DedupMode):
    def restore_opts(self, step):
        return []           # the restore forgets --auto-dedup


def test_a_restore_that_punched_nothing_fails_dedup(engine, reachable_dir):
    r, _ = run_test(engine, NoHoleDedup(settings_with(engine, dedup=True)))
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert "punched no hole in the pages images" in r.message
    assert_clean(reachable_dir)


# ---- --noauto-dedup ----------------------------------------------------------------
def test_noauto_dedup_punches_the_parent_images(engine, reachable_dir):
    r, art = run_test(engine, NoAutoDedupMode(settings_with(engine, noauto_dedup=True)))
    assert r.outcome == "passed", r.summary()
    assert sum(" dedup " in c for c in r.criu_commands) == 1
    assert any("--leave-running" in c and "/img/1-parent " in c for c in r.criu_commands)
    size, allocated = pages_usage(art / "img" / "1-parent")
    assert size > 0 and allocated < size, (size, allocated)
    assert "Punch!" in (art / "dedup-1.log").read_text()
    assert not (art / "img" / "1" / "parent").exists()
    assert_clean(reachable_dir)


class ParentLost(NoAutoDedupMode):
    def after_dump(self, step):
        for p in step.images.with_name("1-parent").glob("pagemap-*.img"):
            p.unlink()      # the parent's pagemaps gone: criu dedup finds nothing to do
        super().after_dump(step)


def test_a_dedup_that_did_nothing_fails(engine, reachable_dir):
    r, _ = run_test(engine, ParentLost(settings_with(engine, noauto_dedup=True)))
    assert (r.outcome, r.phase) == ("failed", "dedup"), r.summary()
    assert "criu dedup punched no hole in the parent's pages images" in r.message
    assert_clean(reachable_dir)


# ---- --lazy-pages ------------------------------------------------------------------
def test_lazy_pages_daemon_serves_the_pages(engine, reachable_dir):
    r, art = run_test(engine, LazyPagesMode(settings_with(engine, lazy_pages=True)))
    assert r.outcome == "passed", r.summary()
    assert any(" restore " in c and "--lazy-pages" in c for c in r.criu_commands)
    pages = transferred((art / "lazy-pages-1.log").read_text())
    assert pages and all(copied == total > 0 for copied, total in pages), pages
    assert_clean(reachable_dir)


class DyingDaemon(LazyPagesMode):
    def before_restore(self, step):
        super().before_restore(step)
        kill_helper(self.helpers[0])


def test_a_lazy_pages_daemon_that_dies_fails_the_restore_naming_it(engine, reachable_dir):
    r, _ = run_test(engine, DyingDaemon(settings_with(engine, lazy_pages=True)))
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert "criu lazy-pages daemon: criu lazy-pages was killed by SIGKILL" in r.message
    assert_clean(reachable_dir)


# ---- --remote-lazy-pages -----------------------------------------------------------
def test_remote_lazy_pages_come_from_the_page_server(engine, reachable_dir, serving_pipes):
    r, art = run_test(engine, RemoteLazyPagesMode(settings_with(engine, remote_lazy_pages=True)))
    assert r.outcome == "passed", r.summary()
    ps = (art / "page-server-lazy-1.log").read_text()
    assert "Accepted connection from 127.0.0.1" in ps
    lazy = (art / "lazy-pages-1.log").read_text()
    pages = transferred(lazy)
    assert pages and all(copied == total > 0 for copied, total in pages), pages
    assert_clean(reachable_dir)


class DyingRemote(RemoteLazyPagesMode):
    def start_daemon(self, step):
        kill_helper(self.helpers[0])        # the page server, before the daemon connects
        super().start_daemon(step)


def test_a_remote_page_server_that_dies_fails_the_restore(engine, reachable_dir, serving_pipes):
    r, _ = run_test(engine, DyingRemote(settings_with(engine, remote_lazy_pages=True)))
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert "criu page-server --lazy-pages: criu page-server was killed by SIGKILL" in r.message, r.message
    assert_clean(reachable_dir)


def test_remote_lazy_pages_unavailable_is_a_named_skip(engine, reachable_dir):
    if int(PIPE_MAX.read_text()) >= SERVE_PIPE_BYTES:
        pytest.skip("fs.pipe-max-size already allows criu's page server")
    r, _ = run_test(engine, RemoteLazyPagesMode(settings_with(engine, remote_lazy_pages=True)))
    assert r.outcome == "skipped" and "fs.pipe-max-size" in r.message, r.message


# ---- --lazy-migrate ----------------------------------------------------------------
def test_lazy_migrate_the_dump_serves_the_pages(engine, reachable_dir, serving_pipes):
    r, art = run_test(engine, LazyMigrateMode(settings_with(engine, lazy_migrate=True)), flavor="ns")
    assert r.outcome == "passed", r.summary()
    dump = (art / "dump-1.log").read_text()
    assert "Lazy pages transfer finished successfully" in dump
    pages = transferred((art / "lazy-pages-1.log").read_text())
    assert pages and all(copied == total > 0 for copied, total in pages), pages
    assert_clean(reachable_dir)


class DyingLazyDump(LazyMigrateMode):
    def start_daemon(self, step):
        kill_helper(self.helpers[-1])       # the dump serving the pages
        super().start_daemon(step)


def test_a_lazy_dump_that_dies_fails_the_restore(engine, reachable_dir, serving_pipes):
    r, _ = run_test(engine, DyingLazyDump(settings_with(engine, lazy_migrate=True)), flavor="ns")
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert "criu dump --lazy-pages: criu dump was killed by SIGKILL" in r.message, r.message
    assert_clean(reachable_dir)


def test_lazy_modes_skip_what_they_cannot_run():
    mode = LazyMigrateMode(Settings(mode_options={"lazy_migrate": True}))
    assert "--criu-ns" in mode.skip_reason(Desc(), "h")
    assert mode.skip_reason(Desc(), "ns") is None
    assert LazyMigrateMode(Settings(mode_options={"lazy_migrate": True, "criu_ns": True})).skip_reason(Desc(), "h") \
        is None
    assert "nolazy" in LazyPagesMode(Settings()).skip_reason(Desc(flags=frozenset({"nolazy"})), "ns")
    assert "noremotelazy" in RemoteLazyPagesMode(Settings()).skip_reason(Desc(flags=frozenset({"noremotelazy"})), "ns")


class UnguardedRemote(RemoteLazyPagesMode):
    def unavailable(self, engine):
        return None         # run where criu's page server cannot serve: it dies mid-restore


def test_a_helper_dying_mid_restore_ends_the_restore_at_once(engine, reachable_dir):
    if int(PIPE_MAX.read_text()) >= SERVE_PIPE_BYTES:
        pytest.skip("fs.pipe-max-size lets criu's page server serve: nothing dies")
    r, _ = run_test(engine, UnguardedRemote(settings_with(engine, remote_lazy_pages=True)), flavor="ns")
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert r.message.startswith("criu restore was killed by SIGKILL"), r.message    # by the watchdog
    assert "criu lazy-pages daemon: criu lazy-pages exited with 1" in r.message, r.message
    assert r.timings["restore"] < 20, r.timings
    assert_clean(reachable_dir)
