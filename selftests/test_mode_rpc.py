"""--rpc (criu over its RPC, zdtm/criu_rpc.py) and --criu-config (criu's
options in a config file), with real criu; their failure paths with a criu
whose RPC server (criu swrk) dies or hangs, and with a config criu rejects."""
import json
import re
import subprocess

from conftest import PROJECT, tasks_mentioning
from zdtm.config import default_cache_dir

TRIVIAL = dict(copy_from="trivial.c")


def _result(suite, name: str, variant: str) -> dict:
    """The test's entry in the run's report.json (a skip has no result.json)."""
    tests = json.loads((suite.latest() / "report.json").read_text())["tests"]
    return next(t for t in tests if t["id"] == f"static/{name}[{variant}]")


def _art(suite, name: str, variant: str):
    return suite.latest() / "static" / name / variant


def _fake_criu(dir_, real: str, swrk: str) -> str:
    """criu itself, but `criu swrk FD` (the RPC server) does `swrk` instead."""
    path = dir_ / "fake-criu"
    path.write_text(f"#!/bin/sh\nif [ \"$1\" = swrk ]; then {swrk}; fi\nexec '{real}' \"$@\"\n")
    path.chmod(0o755)
    return str(path)


# ---- --rpc ---------------------------------------------------------------------------
def test_rpc_drives_criu_over_swrk_in_every_flavor(mini_suite):
    mini_suite.add("trivial", **TRIVIAL)
    res = mini_suite.run("-t", "static/trivial", "-f", "h,ns,uns", "--rpc", "--iters", "2", "-p", "2")
    assert res.returncode == 0, res.stdout[-4000:]
    for flavor in ("h", "ns", "uns"):
        variant = f"{flavor}-iters2-rpc"
        r = _result(mini_suite, "trivial", variant)
        assert r["outcome"] == "passed", r
        assert "criu driven over its RPC" in r["identity"]
        art = _art(mini_suite, "trivial", variant)
        cmds = (art / "criu-commands.txt").read_text().splitlines()
        assert len(cmds) == 4 and all("/criu_rpc.py" in c for c in cmds), cmds
        dump = (art / "dump-2.log.out").read_text()
        assert "criu dump over RPC (criu swrk), request:" in dump and "type: DUMP" in dump, dump
        assert "images_dir_fd:" in dump and 'log_file: "dump-2.log"' in dump, dump
        # criu wrote its log where the request said (a name in work_dir_fd)
        assert "Dumping finished successfully" in (art / "dump-2.log").read_text()
        restore = (art / "restore-2.log.out").read_text()
        assert "type: RESTORE" in restore, restore
        # the restore's pidfile was written by the client from criu's answer
        pid = re.search(r"restored, root pid (\d+)", restore).group(1)
        assert (art / "restore-2.pid").read_text().strip() == pid


def test_rpc_refuses_what_it_cannot_pass(mini_suite, tmp_path):
    # known from the .desc: a skip naming the option
    mini_suite.add("fiemap", desc="{'dopts': '--ghost-fiemap'}", **TRIVIAL)
    res = mini_suite.run("-t", "static/fiemap", "--rpc")
    assert res.returncode == 0, res.stdout[-3000:]
    r = _result(mini_suite, "fiemap", "h-rpc")
    assert r["outcome"] == "skipped" and "--rpc cannot pass --ghost-fiemap to criu" in r["message"], r
    # the client itself: exit 2, said clearly, criu never started
    site = next(default_cache_dir().glob("pycriu-*/site"))
    res = subprocess.run(["/usr/bin/python3", "-I", str(PROJECT / "zdtm" / "criu_rpc.py"), "--pycriu", str(site),
                          "/nonexistent/criu", "dump", "-D", str(tmp_path), "--allow-uprobes"],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    assert res.returncode == 2, res.stdout
    assert "--rpc cannot pass --allow-uprobes to criu" in res.stdout


def test_rpc_server_that_dies_or_hangs_fails_the_phase_and_leaves_nothing(mini_suite, real_criu):
    mini_suite.add("trivial", **TRIVIAL)
    dies = _fake_criu(mini_suite.base, real_criu, "kill -SEGV $$")
    res = mini_suite.run("-t", "static/trivial", "--rpc", "--criu-bin", dies)
    assert res.returncode != 0
    r = _result(mini_suite, "trivial", "h-rpc")
    assert (r["outcome"], r["phase"]) == ("failed", "dump"), r
    assert "criu dump was killed by SIGSEGV" in r["message"], r       # criu's crash passed on
    out = (_art(mini_suite, "trivial", "h-rpc") / "dump-1.log.out").read_text()
    assert "criu swrk ended without answering the dump request" in out, out
    assert "criu swrk was killed by SIGSEGV" in out, out
    assert not tasks_mentioning(mini_suite.base)

    hangs = _fake_criu(mini_suite.base, real_criu, "exec sleep 600")
    res = mini_suite.run("-t", "static/trivial", "--rpc", "--criu-bin", hangs, "--criu-timeout", "3")
    assert res.returncode != 0
    r = _result(mini_suite, "trivial", "h-rpc")
    assert (r["outcome"], r["phase"]) == ("failed", "dump"), r
    assert "criu dump timed out after 3s" in r["message"], r
    assert not tasks_mentioning(mini_suite.base)      # the client and its swrk (sleep) were killed


# ---- --criu-config -----------------------------------------------------------------
def test_criu_config_passes_every_option_in_a_file(mini_suite):
    mini_suite.add("trivial", **TRIVIAL)
    res = mini_suite.run("-t", "static/trivial", "-f", "h,uns", "--criu-config", "-p", "2")
    assert res.returncode == 0, res.stdout[-4000:]
    for flavor in ("h", "uns"):
        art = _art(mini_suite, "trivial", f"{flavor}-criu-config")
        assert _result(mini_suite, "trivial", f"{flavor}-criu-config")["outcome"] == "passed"
        for cmd, action in zip((art / "criu-commands.txt").read_text().splitlines(), ("dump", "restore")):
            conf = art / f"{action}-1.conf"
            # nothing but --config after the action (the identity's setpriv before criu stays)
            assert cmd.endswith(f" {action} --config {conf}"), cmd
            text = conf.read_text()
            assert f"log-file {art / (action + '-1.log')}\n" in text and "verbosity=4\n" in text, text
            assert f"Parsing config file {conf}" in (art / f"{action}-1.log").read_text()
        assert "tree " in (art / "dump-1.conf").read_text()
    # with --criu-ns outside: what criu-ns reads stays on the command line
    res = mini_suite.run("-t", "static/trivial", "--criu-config", "--criu-ns")
    assert res.returncode == 0, res.stdout[-4000:]
    cmds = (_art(mini_suite, "trivial", "h-criu-config-criu-ns") / "criu-commands.txt").read_text()
    assert re.search(r"zdtm.criu_ns .* dump --config \S+/dump-1.conf --tree=\d+$", cmds, re.M), cmds


def test_criu_config_rejected_by_criu_fails_the_dump_with_its_words(mini_suite):
    mini_suite.add("bogus", desc="{'dopts': '--no-such-criu-option'}", **TRIVIAL)
    res = mini_suite.run("-t", "static/bogus", "--criu-config")
    assert res.returncode != 0
    r = _result(mini_suite, "bogus", "h-criu-config")
    assert (r["outcome"], r["phase"]) == ("failed", "dump"), r
    assert "criu dump exited with 1" in r["message"], r
    art = _art(mini_suite, "bogus", "h-criu-config")
    assert "no-such-criu-option\n" in (art / "dump-1.conf").read_text()
    said = (art / "dump-1.log.out").read_text() + r["message"]
    assert "no-such-criu-option" in said, said
    assert not tasks_mentioning(mini_suite.base)


def test_unit_config_lines_and_rpc_parse():
    from zdtm.criu_rpc import refusal, split_options
    from zdtm.modes.criu_config import config_lines, format_config
    args = ["-D", "/i", "-v4", "--tree", "5", "--external", "mnt[a b]:x", "--manage-cgroups=full",
            "--tcp-established", "--ghost-limit", "8M"]
    lines, rest = config_lines(args)
    assert rest == []
    assert format_config(lines) == ('images-dir /i\nverbosity=4\ntree 5\nexternal "mnt[a b]:x"\n'
                                    "manage-cgroups=full\ntcp-established\nghost-limit 8M\n")
    assert split_options(args)[:3] == [("images-dir", "/i"), ("verbosity", "4"), ("tree", "5")]
    assert refusal(args) == ""
    assert "--libdir" in refusal(["-L", "/x"])
    assert split_options(["--exec-cmd", "-d", "--", "/bin/x", "--reap"])[-1] == ("--", ["/bin/x", "--reap"])
