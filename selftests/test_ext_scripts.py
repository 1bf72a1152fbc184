"""criu's extension points of issue 13 part B, with real criu: action
scripts (and their RPC notify callbacks), --force-irmap through criu's
irmap scan, --cpu-cap against a cpuinfo.img forged with crit, a
--restore-sibling root with a pdeath signal (over RPC too), and crit's
decoding of a failed test's images in its report. The workloads are the
suite's own (tests/static), run in a mini suite."""
import json
import re
import shutil
import subprocess

import pytest

from conftest import PROJECT, tasks_mentioning
from zdtm import crit_report, criu_rpc
from zdtm.config import default_cache_dir

STATIC = PROJECT / "tests" / "static"


def _site() -> str:
    """pycriu of the provisioned criu's version, provisioned if this worker's
    tests have not done it yet (a clean clone has none)."""
    from zdtm.provision.pycriu import provision_pycriu
    return str(provision_pycriu(default_cache_dir(), log=lambda *a: None).site)


def _copy(suite, *names) -> None:
    for name in names:
        for path in STATIC.glob(name + ".*"):
            shutil.copy(path, suite.tests / path.name)


def _result(suite, name: str, variant: str) -> dict:
    tests = json.loads((suite.latest() / "report.json").read_text())["tests"]
    return next(t for t in tests if t["id"] == f"static/{name}[{variant}]")


def _art(suite, name: str, variant: str):
    return suite.latest() / "static" / name / variant


# ---- the RPC client's pieces -------------------------------------------------------------
def test_cpu_cap_is_criu_s_bits_and_none_is_refused_over_rpc():
    # criu/config.c: the caps named are added to the default fpu,ins (1|4)
    assert criu_rpc.cpu_cap_bits("fpu") == 5 and criu_rpc.cpu_cap_bits("cpu") == 7
    assert criu_rpc.cpu_cap_bits("all") == 7 and criu_rpc.cpu_cap_bits(None) == 7
    assert criu_rpc.cpu_cap_bits("^ins") == 1 and criu_rpc.cpu_cap_bits("fpu,^ins") == 1
    assert "criu's RPC always writes and checks the cpuinfo image" in criu_rpc.refusal(["--cpu-cap=none"])
    assert "'bogus' is none of" in criu_rpc.refusal(["--cpu-cap=bogus"])
    assert criu_rpc.refusal(["--cpu-cap=all", "--action-script", "/x.sh"]) == ""


def test_notify_runs_the_scripts_with_criu_s_environment(tmp_path):
    rpc = criu_rpc._load_rpc(_site())
    trace = tmp_path / "trace"
    script = tmp_path / "s.sh"
    script.write_text(f"#!/bin/sh\necho \"$CRTOOLS_SCRIPT_ACTION $CRTOOLS_INIT_PID $CRTOOLS_IMAGE_DIR\" >> {trace}\n"
                      "[ \"$CRTOOLS_SCRIPT_ACTION\" != post-restore ]\n")
    script.chmod(0o755)
    req = criu_rpc.Request(rpc, "restore")
    for name, value in criu_rpc.split_options(["-D", str(tmp_path), "--action-script", str(script), "-d"]):
        req.add(name, value)
    assert req.opts.notify_scripts and req.scripts == [str(script)]
    answers = [criu_rpc._on_notify(rpc, req, rpc.criu_notify(script=s, **kw))
               for s, kw in (("pre-restore", {}), ("setup-namespaces", {"pid": 42}), ("query-ext-files", {}),
                             ("post-restore", {"pid": 42}))]
    assert [a.notify_success for a in answers] == [True, True, True, False]   # the script fails post-restore
    assert all(a.type == rpc.NOTIFY for a in answers)
    # no pid before criu says it; query-ext-files runs no script (criu asks RPC clients only)
    assert trace.read_text().splitlines() == [f"pre-restore  {tmp_path}", f"setup-namespaces 42 {tmp_path}",
                                              f"post-restore 42 {tmp_path}"]


# ---- action scripts, with real criu --------------------------------------------------------
def test_every_stage_once_in_order_on_the_command_line_and_over_rpc(mini_suite):
    _copy(mini_suite, "action_script00", "action_script_fail")
    res = mini_suite.run("-t", "static/action_script00", "-t", "static/action_script_fail", "-p", "2")
    assert res.returncode == 0, res.stdout[-4000:]
    res = mini_suite.run("-t", "static/action_script00", "-t", "static/action_script_fail", "--rpc", "-p", "2")
    assert res.returncode == 0, res.stdout[-4000:]
    art = _art(mini_suite, "action_script00", "h-rpc")
    notified = re.findall(r"zdtm.criu_rpc: notify ([a-z-]+)", (art / "dump-1.log.out").read_text()
                          + (art / "restore-1.log.out").read_text())
    assert notified == ["pre-dump", "query-ext-files", "post-dump", "pre-restore", "post-restore", "pre-resume",
                        "post-resume"], notified
    assert _result(mini_suite, "action_script_fail", "h-rpc")["outcome"] == "passed"
    log = (_art(mini_suite, "action_script_fail", "h-rpc") / "dump-1.log").read_text()
    assert "RPC client reported script error" in log and "Pre dump script failed" in log


def test_a_script_failing_at_restore_fails_the_restore_and_leaves_nothing(mini_suite):
    mini_suite.add("late", copy_from="trivial.c", desc="{'action_script': 'late.sh'}")
    (mini_suite.tests / "late.sh").write_text("#!/bin/sh\n[ \"$CRTOOLS_SCRIPT_ACTION\" != post-restore ]\n")
    res = mini_suite.run("-t", "static/late")
    assert res.returncode == 1, res.stdout[-3000:]
    r = _result(mini_suite, "late", "h")
    assert (r["outcome"], r["phase"]) == ("failed", "restore"), r
    assert "One of more action scripts failed" in (_art(mini_suite, "late", "h") / "restore-1.log").read_text()


# ---- --force-irmap -------------------------------------------------------------------------
def test_irmap_finds_the_watched_paths_and_the_image_carries_them(mini_suite):
    _copy(mini_suite, "irmap00")
    # FI_CHECK_OPEN_HANDLE (128): every handle unopenable, as where open_by_handle_at
    # is refused (upstream's criu-fault.sh line); on 6.10+ kernels criu opens them.
    res = mini_suite.run("-t", "static/irmap00", "-f", "h,uns", "--fault", "128", "--keep-img", "always", "-p", "2")
    assert res.returncode == 0, res.stdout[-4000:]
    for variant in ("h-fault128", "uns-fault128"):
        art = _art(mini_suite, "irmap00", variant)
        log = (art / "dump-1.log").read_text()
        assert re.search(r"irmap: \tScanned /etc/passwd\n.*Dumping /etc/passwd as path for handle", log), variant
        assert "irmap: \tFound /etc in cache" in log or "Scanned /etc\n" in log, variant
        summary = crit_report.decode_dir(art / "img" / "1", art / "decoded", _site(), "/usr/bin/python3")
        assert "files.img" in summary["decoded"], summary
        files = json.loads((art / "decoded" / "files.img.json").read_text())
        paths = sorted(w["f_handle"]["path"] for e in files["entries"] if "ify" in e for w in e["ify"]["wd"])
        assert paths == ["/etc", "/etc/passwd"], paths


# ---- --cpu-cap against a forged cpuinfo.img ------------------------------------------------
def _forging_script(suite, name: str) -> None:
    """A post-dump action script asking, in cpuinfo.img, for an xsave
    feature no CPU has (bit 62). criu validates the image before its
    pre-restore stage, so the dump side forges it (in uns, as root)."""
    (suite.tests / f"{name}.script").write_text(f"""#!/usr/bin/python3 -I
import os, sys
sys.path.insert(0, {_site()!r})
import pycriu
if os.environ["CRTOOLS_SCRIPT_ACTION"] == "post-dump":
    path = os.path.join(os.environ["CRTOOLS_IMAGE_DIR"], "cpuinfo.img")
    with open(path, "rb") as f:
        img = pycriu.images.load(f)
    img["entries"][0]["x86_entry"][0]["xfeatures_mask"] |= 1 << 62
    with open(path, "wb") as f:
        pycriu.images.dump(img, f)
""")
    (suite.tests / f"{name}.script").chmod(0o755)


def test_a_forged_cpuinfo_is_refused_unless_the_restore_checks_nothing(mini_suite):
    for name, ropt in (("forged_fpu", "fpu"), ("forged_none", "none")):
        shutil.copy(STATIC / "cpu_cap00.c", mini_suite.tests / f"{name}.c")
        (mini_suite.tests / f"{name}.desc").write_text(
            f"{{'dopts': '--cpu-cap=all', 'ropts': '--cpu-cap={ropt}', 'action_script': '{name}.script'}}")
        _forging_script(mini_suite, name)
    res = mini_suite.run("-t", "static/forged_fpu", "-t", "static/forged_none", "-f", "uns", "-p", "2")
    assert res.returncode == 1, res.stdout[-4000:]
    refused = _result(mini_suite, "forged_fpu", "uns")
    assert (refused["outcome"], refused["phase"]) == ("failed", "restore"), refused
    assert "CPU xfeatures has unsupported bits (0x4000000000000000)" in res.stdout, res.stdout[-4000:]
    # the report shows the forged image decoded, as crit shows it
    crit = json.loads((_art(mini_suite, "forged_fpu", "uns") / "crit-1" / "cpuinfo.img.json").read_text())
    mask = crit["entries"][0]["x86_entry"][0]["xfeatures_mask"]
    assert (int(mask, 0) if isinstance(mask, str) else mask) & (1 << 62), mask
    assert "crit: the images of 1" in res.stdout
    assert _result(mini_suite, "forged_none", "uns")["outcome"] == "passed"


# ---- restore-sibling and a pdeath signal ---------------------------------------------------
def test_a_pdeath_root_survives_criu_only_as_its_sibling(mini_suite):
    _copy(mini_suite, "pdeath00")
    res = mini_suite.run("-t", "static/pdeath00", "--rpc")
    assert res.returncode == 0, res.stdout[-4000:]
    restore = (_art(mini_suite, "pdeath00", "h-rpc") / "restore-1.log").read_text()
    assert re.search(r"Forking task with \d+ pid \(flags 0x[0-9a-f]*8[0-9a-f]{3}\)", restore), "no CLONE_PARENT"
    # restored as criu's child, the root gets its signal when criu exits
    (mini_suite.tests / "pdeath00.desc").write_text("{}")
    res = mini_suite.run("-t", "static/pdeath00")
    assert res.returncode == 1
    assert "the restored root's parent died" in _result(mini_suite, "pdeath00", "h")["message"]


# ---- crit in the report --------------------------------------------------------------------
def test_crit_sections_need_provisioned_crit_and_follow_no_symlink(tmp_path):
    img = tmp_path / "img" / "1"
    img.mkdir(parents=True)
    (img / "pstree.img").symlink_to("/etc/passwd")
    sections = crit_report.failure_sections(tmp_path, tmp_path / "img", tmp_path / "no-cache")
    assert sections[0][0] == "crit: not available" and "zdtm provision --source" in sections[0][1]
    summary = crit_report.decode_dir(img, tmp_path / "out", _site(), "/usr/bin/python3")
    assert summary["decoded"] == [] and "cannot open" in summary["errors"]["pstree.img"], summary
    assert not tasks_mentioning(tmp_path)


def test_crit_cli_decodes_a_dir(tmp_path):
    res = subprocess.run([str(PROJECT / ".venv" / "bin" / "python"), "-m", "zdtm.crit_report", str(tmp_path / "x")],
                         cwd=PROJECT, capture_output=True, text=True)
    assert res.returncode == 1 and "not a directory of criu images" in res.stderr
    with pytest.raises(crit_report.CritError, match="crit decoding .* exited with 1"):
        crit_report.decode_dir(tmp_path / "x", tmp_path / "out", _site(), "/usr/bin/python3")
