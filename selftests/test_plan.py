"""Test plans (zdtm.plan, `--plan`, `zdtm ci`): lines in zdtm.py's words, each
its own tests and C/R modes, all run in one session with the real criu."""
import json
import textwrap

import pytest

from conftest import PROJECT, run_zdtm
from zdtm.plan import PlanError, load_plan, parse_line


def test_a_line_is_zdtm_py_arguments():
    line = parse_line({"name": "x", "args": "-a -p 2 --keep-going -t zdtm/static/env00 -T 'zdtm/static/socket-tcp*-local' "
                                            "-x maps04 -f h,uns --iter 3 --norst -k always --report rep"}, "here")
    assert line.tests == ["upstream/static/env00"]
    assert line.filters == ["upstream/static/socket-tcp*-local"]
    assert line.excludes == ["maps04"]
    assert line.flavors == ("h", "uns")
    assert line.mode_options == {"iters": 3, "norst": True}
    assert line.unsupported is None
    assert line.selects("upstream/static/env00", "env00") is False         # -t and -T both apply
    line = parse_line({"name": "y", "args": "-t zdtm/static/env00"}, "here")
    assert line.selects("upstream/static/env00", "env00")
    assert not line.selects("static/env00", "env00")        # ours: not the upstream tree's


def test_what_zdtm_cannot_do_is_named_not_dropped():
    line = parse_line({"name": "tls", "args": "-t zdtm/static/env00 --no-such-mode --tls"}, "here")
    assert line.unsupported == "zdtm has no --no-such-mode --tls"


@pytest.mark.parametrize("text, message", [
    ("lines: [{args: -a}]", "each line needs a name and args"),
    ("lines: [{name: a, args: -a, colour: red}]", "unknown key(s) colour"),
    ("lines: [{name: a, args: -a, expect: maybe}]", "expect must be pass or fail"),
    ("lines: [{name: a, args: -a}, {name: a, args: -a}]", "two lines named 'a'"),
    ("lines: [{name: a, args: \"-f nosuch\"}]", "unknown flavor 'nosuch'"),
    ("lines: [{name: a, args: \"-t 'unclosed\"}]", "No closing quotation"),
    ("tree: elsewhere\nlines: []", "tree must be upstream"),
    ("nothing: here", "expected a mapping with a list 'lines'"),
])
def test_a_broken_plan_says_where(tmp_path, text, message):
    f = tmp_path / "plan.yaml"
    f.write_text(text)
    with pytest.raises(PlanError) as e:
        load_plan(f)
    assert message in str(e.value) and str(f) in str(e.value)


def test_unknown_line_name_lists_the_lines(tmp_path):
    f = tmp_path / "plan.yaml"
    f.write_text("lines: [{name: a, args: -a}, {name: b, args: -a}]")
    with pytest.raises(PlanError, match="no line named c .lines: a, b."):
        load_plan(f, ["c"])


def test_the_shipped_plan_is_criu_ci(tmp_path):
    """desc/ci.yaml parses, and has the lines of run-ci-tests.sh that drive zdtm.py."""
    lines = {line.name: line for line in load_plan(PROJECT / "desc" / "ci.yaml")}
    assert {"all", "criu-config", "lazy-pages", "remote-lazy-pages", "sibling", "join-ns", "rpc", "empty-ns",
            "fault-136-crash", "fcg-frozen", "rootless", "stream"} <= set(lines)
    assert lines["fault-136-crash"].expect == "fail"
    assert lines["mntns-compat-mode"].requires == "move_mount_set_group"
    assert lines["empty-ns"].mode_options.get("iters") == 2


def test_one_session_runs_each_line_in_its_modes(mini_suite, tmp_path):
    """Two lines ask for the same test in two modes, a third names a mode
    zdtm lacks, a fourth needs a criu feature that no criu has: one session,
    distinct ids, the modes really applied, the others one skip each."""
    mini_suite.add("pipe00", copy_from="trivial.c")
    plan = tmp_path / "plan.yaml"
    plan.write_text(textwrap.dedent("""\
        tree: any
        lines:
          - {name: twice, args: -t static/pipe00 -f h --iters 2}
          - {name: norst, args: -t static/pipe00 -f h --norst}
          - {name: again, args: -t static/pipe00 -f h --iters 2}
          - {name: future, args: -t static/pipe00 --teleport}
          - {name: needs, args: -t static/pipe00, requires: no_such_feature}
          - {name: streamed, args: -t static/pipe00 -f h --stream --criu-image-streamer-dir /nonexistent}
        """))
    res = mini_suite.run("--plan", plan)
    assert res.returncode == 0, res.stdout
    assert "2 passed, 3 skipped" in res.stdout
    assert "plan line streamed: --stream: " in res.stdout      # a mode that cannot run here: one skip
    assert "plan line future: zdtm has no --teleport" in res.stdout
    assert "plan line needs: criu check --feature no_such_feature" in res.stdout
    report = json.loads((mini_suite.latest() / "report.json").read_text())
    ran = {t["id"] for t in report["tests"] if t["outcome"] == "passed"}
    assert ran == {"static/pipe00[h-iters2]", "static/pipe00[h-norst]"}
    art = mini_suite.latest() / "static" / "pipe00"
    assert (art / "h-iters2" / "restore-2.log").exists()
    assert (art / "h-norst" / "dump-1.log").exists() and not (art / "h-norst" / "restore-1.log").exists()


def test_zdtm_ci_lists_its_lines():
    res = run_zdtm("ci", "--list-lines", check=0)
    assert "fault-136-crash" in res.stdout and "zdtm.py" not in res.stdout.splitlines()[0]
