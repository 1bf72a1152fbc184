"""Pre-dumps and snapshots (--pre, --snaps), criu's stats (--show-stats)
and the page-count check of every dump, streaming (--stream), with real
criu: each proves its mode happened, and its failure path fails the test in
the phase named, with nothing left running."""
import json
import os
import subprocess
from pathlib import Path

import pytest

from conftest import tasks_mentioning
from zdtm import stats
from zdtm.check import check_feature
from zdtm.cycle import TestRun
from zdtm.modes.base import Mode
from zdtm.modes.plain import PlainMode
from zdtm.modes.pre_dump import PreDumpMode
from zdtm.modes.show_stats import ShowStatsMode
from zdtm.modes.snaps import SnapshotsMode
from zdtm.modes.stream import StreamMode, find_streamer


@pytest.fixture
def engine(trivial_engine):
    return trivial_engine


def _run(engine, flavor, *modes):
    return TestRun(engine, engine.suite.workloads[0], flavor, modes=[PlainMode(engine.settings), *modes]).run()


def _art(r) -> Path:
    return Path(r.artifacts)


def _report(suite) -> list:
    return json.loads((suite.latest() / "report.json").read_text())["tests"]


def _soft_dirty(criu) -> bool:
    return check_feature(criu, "mem_dirty_track")


# ---- --show-stats and the page-count check --------------------------------------------
def test_show_stats_shows_what_crit_shows_and_the_page_counts_hold(engine, reachable_dir):
    r = _run(engine, "uns", ShowStatsMode(engine.settings))
    assert r.outcome == "passed", r.summary()
    images = _art(r) / "img" / "1"
    titles = [t for t, _ in r.sections]
    assert any(t.startswith("criu dump 1 stats (stats-dump): ") for t in titles), titles
    assert any(t.startswith("criu restore 1 stats (stats-restore): ") for t in titles), titles
    shown = json.loads(dict(r.sections)[next(t for t in titles if t.startswith("criu dump 1 stats"))])
    dump = shown["entries"][0]["dump"]
    # The pages criu said it wrote are what the pages images hold ...
    assert dump["pages_written"] > 0
    assert (dump["pages_written"] + dump["shpages_written"]) * stats.PAGE_SIZE == stats.pages_bytes(images)
    # ... and the restore put them back.
    restored = json.loads(dict(r.sections)[next(t for t in titles if t.startswith("criu restore 1"))])
    assert restored["entries"][0]["restore"]["pages_restored"] == dump["pages_written"]
    assert (_art(r) / "stats-dump-1.txt").exists() and (_art(r) / "stats-restore-1.txt").exists()
    crit = engine.facts.crit
    if crit and os.access(crit, os.X_OK):       # the same as upstream's crit decodes
        out = subprocess.run([crit, "show", str(images / "stats-dump")], capture_output=True, text=True, check=True)
        assert json.loads(out.stdout) == shown
    assert not tasks_mentioning(reachable_dir)


class PagesCorrupter(Mode):
    """Cuts 100 bytes off a pages image right after the dump (before the
    plain mode's check)."""
    name = "corrupt-pages"

    def after_dump(self, step):
        pages = sorted(step.images.glob("pages-*.img"))[0]
        os.truncate(pages, pages.stat().st_size - 100)


def test_a_page_count_mismatch_fails_the_dump_with_both_numbers(engine, reachable_dir):
    r = TestRun(engine, engine.suite.workloads[0], "h",
                modes=[PagesCorrupter(engine.settings), PlainMode(engine.settings)]).run()
    assert (r.outcome, r.phase) == ("failed", "dump"), r.summary()
    assert "page counts mismatch after criu dump 1: stats-dump says" in r.message, r.message
    written = stats.read_stats(_art(r) / "img" / "1", "dump")["dump"]["pages_written"]
    assert f"says {written} pages written" in r.message
    assert f"= {written - 1} pages + {stats.PAGE_SIZE - 100} bytes" in r.message
    assert not tasks_mentioning(reachable_dir)


def test_page_counts_are_skipped_where_the_pages_are_not_local(tmp_path):
    (tmp_path / "stats-dump").write_bytes(bytes.fromhex("4059105506330957040000000a023807"))   # 7 pages
    assert stats.read_stats(tmp_path, "dump") == {"dump": {"pages_written": 7}}
    assert "stats-dump says 7 pages written" in stats.page_count_problem(tmp_path, "x")
    from zdtm.modes.plain import pages_are_local
    assert not pages_are_local(["criu", "dump", "--stream"], tmp_path)
    assert not pages_are_local(["criu", "dump", "--page-server"], tmp_path)    # no pages here: elsewhere
    (tmp_path / "pages-1.img").write_bytes(b"\0" * 7 * stats.PAGE_SIZE)
    assert pages_are_local(["criu", "dump", "--page-server"], tmp_path)        # a page server sharing the dir
    assert stats.page_count_problem(tmp_path, "x") is None


# ---- --pre and --snaps ----------------------------------------------------------------
def test_pre_dumps_really_happen(mini_suite, real_criu):
    """The proof: 2 pre-dumps, the dump finding their pages in its parents.
    It needs soft-dirty, which this kind of machine lacks (a kernel-matrix
    guest has it)."""
    if not _soft_dirty(real_criu):
        pytest.skip("criu check --feature mem_dirty_track fails here (no soft-dirty): --pre cannot run")
    mini_suite.add("trivial", copy_from="trivial.c")
    res = mini_suite.run("--pre", "2", "--show-stats", "--keep-img", "always", "-f", "h,uns")
    assert res.returncode == 0, res.stdout[-4000:]
    for flavor in ("h-pre-show-stats", "uns-pre-show-stats"):
        art = mini_suite.latest() / "static" / "trivial" / flavor
        cmds = (art / "criu-commands.txt").read_text()
        assert cmds.count(" pre-dump ") == 2 and "--prev-images-dir ../1.pre2 --track-mem" in cmds, cmds
        assert os.readlink(art / "img" / "1" / "parent") == "../1.pre2"
        dump = stats.read_stats(art / "img" / "1", "dump")["dump"]
        assert dump["pages_skipped_parent"] > 0, dump        # the pages were in the pre-dumps
    assert not tasks_mentioning(mini_suite.base)


def test_pre_and_snaps_are_skips_naming_soft_dirty_where_it_is_missing(mini_suite, real_criu):
    mini_suite.add("trivial", copy_from="trivial.c")
    missing = not _soft_dirty(real_criu)
    for args in (["--pre", "2:0.1"], ["--pre", "1", "--snaps"]):
        res = mini_suite.run(*args, "-f", "h,ns,uns")
        tests = _report(mini_suite)
        if not missing:
            assert res.returncode == 0 and all(t["outcome"] == "passed" for t in tests), res.stdout[-3000:]
            continue
        assert len(tests) == 3 and all(t["outcome"] == "skipped" for t in tests), tests
        name = "--snaps" if "--snaps" in args else "--pre"
        assert all(t["message"].startswith(f"{name}: criu check --feature mem_dirty_track fails here")
                   for t in tests), tests
    assert not tasks_mentioning(mini_suite.base)


class UntrackedSnapshots(SnapshotsMode):
    """Snapshots without --track-mem (which needs soft-dirty): criu dumps
    the first into its own dir, and refuses the second, whose parent holds
    no dump uptime (criu saves it only when tracking memory)."""
    track_mem = ()

    def unavailable(self, engine):
        return None


class ForcedPreDumps(PreDumpMode):
    def unavailable(self, engine):
        return None


@pytest.mark.parametrize("flavor", ["h", "uns"])
def test_a_failing_snapshot_fails_the_dump_phase_naming_it(engine, reachable_dir, flavor):
    settings = engine.settings.with_mode_options({"snaps": True, "pre": "2"})
    r = _run(engine, flavor, UntrackedSnapshots(settings))
    assert (r.outcome, r.phase) == ("failed", "dump"), r.summary()
    assert r.message == "snapshot dump 2 of 2 (iteration 1): criu dump exited with 1", r.message
    assert any("Pid-reuse detection failed: no parent inventory" in l for l in r.criu_error_lines), r.criu_error_lines
    img = _art(r) / "img"
    assert (img / "1.snap1" / "inventory.img").exists()          # the first snapshot, in its own dir
    assert os.readlink(img / "1.snap2" / "parent") == "../1.snap1"
    cmds = r.criu_commands
    assert len(cmds) == 2 and all(" dump " in c and "--leave-running" in c for c in cmds), cmds
    assert f"--images-dir {img}/1.snap2 " in cmds[1] and "--prev-images-dir ../1.snap1" in cmds[1], cmds
    assert not tasks_mentioning(reachable_dir)


def test_a_failing_pre_dump_fails_the_dump_phase_naming_it(engine, reachable_dir, real_criu):
    if _soft_dirty(real_criu):
        pytest.skip("criu pre-dump works here; its failure is forced only without soft-dirty")
    settings = engine.settings.with_mode_options({"pre": "2"})
    r = _run(engine, "uns", ForcedPreDumps(settings))
    assert (r.outcome, r.phase) == ("failed", "dump"), r.summary()
    # criu 4.2.1 pre-dumps without soft-dirty into a BUG_ON (mem.c): SIGABRT
    assert r.message.startswith("pre-dump 1 of 2 (iteration 1): criu pre-dump "), r.message
    assert r.criu_error_lines, r.summary()
    assert len(r.criu_commands) == 1 and " pre-dump " in r.criu_commands[0]     # no dump after it
    assert not tasks_mentioning(reachable_dir)


def test_the_owners_chain_is_sealed_for_a_root_restore_and_relinked(reachable_dir):
    """After the dump, the owner's chain (img/1.pre1 <- 1.pre2 <- 1) loses
    its links (checked to be criu's) and each pre-dump dir is sealed (root's
    copy); after the cycle sealed the dump's dir, root's links are made."""
    from types import SimpleNamespace
    from zdtm.config import Settings, WORKLOAD_GID, WORKLOAD_UID
    from zdtm.images import seal
    from zdtm.outcome import PhaseFailure
    img = reachable_dir / "img"
    dirs = [img / "1.pre1", img / "1.pre2", img / "1"]
    for i, d in enumerate(dirs):
        d.mkdir(parents=True)
        (d / "pages-1.img").write_bytes(b"x")
        if i:
            os.symlink(f"../{dirs[i - 1].name}", d / "parent")
        for p in (d, d / "pages-1.img"):
            os.lchown(p, WORKLOAD_UID, WORKLOAD_GID)
    mode = PreDumpMode(Settings(mode_options={"pre": "2"}))
    mode.chain = dirs[:2]
    run = SimpleNamespace(modes=[mode], driver=SimpleNamespace(untrusted_images=lambda last: True))
    step = SimpleNamespace(run=run, images=dirs[2], last=True)
    mode.after_dump(step)
    assert not any(os.path.lexists(d / "parent") for d in dirs)
    assert all(d.stat().st_uid == 0 and d.stat().st_mode & 0o777 == 0o755 for d in dirs[:2])
    seal(dirs[2])                                   # the cycle's, before the restore
    mode.before_restore(step)
    assert [os.readlink(d / "parent") for d in dirs[1:]] == ["../1.pre1", "../1.pre2"]
    assert all(os.lstat(d / "parent").st_uid == 0 for d in dirs[1:])
    assert (dirs[2] / "parent" / "parent" / "pages-1.img").read_bytes() == b"x"
    # A link that is not criu's (the owner planted another) fails the dump.
    os.unlink(dirs[2] / "parent")
    os.symlink("/etc", dirs[2] / "parent")
    with pytest.raises(PhaseFailure, match="parent: criu's link to the previous images ../1.pre2 expected, "
                                           "found /etc"):
        mode.after_dump(step)


# ---- --stream -------------------------------------------------------------------------
def test_stream_through_criu_image_streamer(mini_suite):
    if not find_streamer(None):
        pytest.skip("criu-image-streamer is not on PATH (Debian does not package it)")
    mini_suite.add("trivial", copy_from="trivial.c")
    res = mini_suite.run("--stream", "--keep-img", "always", "-f", "h,uns")
    assert res.returncode == 0, res.stdout[-4000:]
    for flavor in ("h-stream", "uns-stream"):
        art = mini_suite.latest() / "static" / "trivial" / flavor
        assert (art / "img" / "1" / "img.stream").stat().st_size > 0
        assert "--stream" in (art / "criu-commands.txt").read_text()
    assert not tasks_mentioning(mini_suite.base)


FAKE_STREAMER = """\
#!/bin/sh
case "$*" in *--version*) echo "criu-image-streamer 0.0 (a fake)"; exit 0;; esac
echo "fake streamer: $MODE" >&2
[ "$MODE" = hang ] && exec sleep 600
exit 3
"""


@pytest.mark.parametrize("how", ["dies", "hangs"])
def test_a_streamer_that_dies_or_hangs_fails_the_dump_and_is_gone(mini_suite, how):
    fake = mini_suite.base / "streamer"
    fake.mkdir()
    script = fake / "criu-image-streamer"
    script.write_text(FAKE_STREAMER.replace("$MODE", "hang" if how == "hangs" else "die"))
    script.chmod(0o755)
    mini_suite.add("trivial", copy_from="trivial.c")
    res = mini_suite.run("--stream", "--criu-image-streamer-dir", fake, "--criu-timeout", "3", "-f", "h,uns")
    assert res.returncode == 1, res.stdout[-3000:]
    tests = _report(mini_suite)
    assert len(tests) == 2 and all((t["outcome"], t["phase"]) == ("failed", "dump") for t in tests), tests
    for t in tests:
        assert t["message"].startswith("criu-image-streamer (capture) is not starting: it "), t["message"]
        if how == "dies":
            assert "criu-image-streamer exited with 3" in t["message"] and "fake streamer: die" in t["message"]
        else:
            assert "said nothing within 3s" in t["message"], t["message"]
    assert not tasks_mentioning(mini_suite.base)
    assert "sleep 600" not in subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True).stdout


def test_stream_without_the_streamer_is_a_skip_naming_it(mini_suite):
    mini_suite.add("trivial", copy_from="trivial.c")
    res = mini_suite.run("--stream", "--criu-image-streamer-dir", mini_suite.base / "nowhere", "-f", "h,uns",
                         env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
    tests = _report(mini_suite)
    if find_streamer(None):
        pytest.skip("criu-image-streamer is installed here")
    assert res.returncode == 0 and len(tests) == 2, res.stdout[-3000:]
    assert all(t["outcome"] == "skipped" and t["message"].startswith("--stream: criu-image-streamer not found")
               for t in tests), tests


def test_mode_ids_and_options():
    from zdtm.config import Settings
    from zdtm.modes import active_modes, variant_name
    s = Settings(mode_options={"pre": "2:0.5", "show_stats": True, "stream": True})
    modes = active_modes(s)
    assert variant_name("uns", modes) == "uns-pre-show-stats-stream"
    pre = next(m for m in modes if m.name == "pre")
    assert (pre.count, pre.pause) == (2, 0.5)
    snaps = active_modes(Settings(mode_options={"snaps": True}))
    assert [m.name for m in snaps] == ["plain", "snaps"] and snaps[1].count == 1
    assert StreamMode.order == 95
