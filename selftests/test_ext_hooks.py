"""criu's extension points as the harness offers them to a test: the .desc
key `action_script` (a script beside the test, run by criu at each stage of
dump and restore, as whoever runs criu)."""
from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from zdtm.build import BuildError, Builder
from zdtm.desc import DescError, parse_desc
from zdtm import action_script
from zdtm import workload

# Appends the stage and who runs it to a file in the images dir; criu execs
# it directly (no shell), so the #! line matters.
STAGE_LOGGER = """\
#!/bin/sh
echo "$CRTOOLS_SCRIPT_ACTION $(id -u)" >> "$CRTOOLS_IMAGE_DIR/stages.txt"
"""


def _desc(text: str):
    return parse_desc(Path("/x/t.desc"), text)


def test_action_script_key_names_a_file_beside_the_test():
    assert _desc("{'action_script': 'my-hook.sh'}").action_script == "my-hook.sh"
    assert _desc("{}").action_script is None
    for bad in ("'../x.sh'", "'/bin/true'", "'a/b.sh'", "3", "''"):
        with pytest.raises(DescError) as e:
            _desc("{'action_script': %s}" % bad)
        assert str(e.value).startswith("/x/t.desc:1: 'action_script' must name a file beside the test")


def _workload(tmp: Path) -> workload.Workload:
    (tmp / "t.c").write_text("int main(void) { return 0; }\n")
    return workload.Workload("static/t", tmp / "t.c", None, workload.TestRoot("static", tmp))


def test_the_script_runs_from_a_copy_every_uid_can_execute(tmp_path):
    wl = _workload(tmp_path)
    (tmp_path / "t.sh").write_text(STAGE_LOGGER)
    os.chmod(tmp_path / "t.sh", 0o600)          # as a checkout may leave it
    opts = action_script.criu_opts(Builder(tmp_path / "state"), wl, _desc("{'action_script': 't.sh'}"))
    assert opts[0] == "--action-script"
    staged = Path(opts[1])
    assert staged.is_absolute() and staged.read_text() == STAGE_LOGGER
    assert stat.S_IMODE(staged.stat().st_mode) == 0o755
    assert stat.S_IMODE(staged.parent.stat().st_mode) == 0o755
    assert action_script.criu_opts(Builder(tmp_path / "state"), wl, _desc("{}")) == []


def test_a_missing_or_shebangless_script_is_a_build_error_naming_it(tmp_path):
    wl = _workload(tmp_path)
    builder = Builder(tmp_path / "state")
    with pytest.raises(BuildError, match=r"static/t: .desc 'action_script' names .*/gone.sh, which cannot be read"):
        action_script.criu_opts(builder, wl, _desc("{'action_script': 'gone.sh'}"))
    (tmp_path / "plain.sh").write_text("echo hi\n")
    with pytest.raises(BuildError, match=r"plain.sh does not start with '#!'"):
        action_script.criu_opts(builder, wl, _desc("{'action_script': 'plain.sh'}"))


def test_criu_runs_the_script_on_dump_and_restore(mini_suite):
    """With real criu: every stage of a dump and a restore reaches the
    script, as the uid that runs criu there (owner-dump: the workload's
    for the dump, from a checkout it could not read)."""
    mini_suite.add("staged", copy_from="trivial.c", desc="{'action_script': 'staged.sh'}")
    (mini_suite.tests / "staged.sh").write_text(STAGE_LOGGER)
    os.chmod(mini_suite.tests / "staged.sh", 0o700)
    res = mini_suite.run("-t", "static/staged", "--keep-img", "always", check=0)
    art = mini_suite.latest() / "static" / "staged" / "h"
    commands = (art / "criu-commands.txt").read_text()
    assert commands.count("--action-script") == 2, commands
    stages = [line.split() for line in (art / "img" / "1" / "stages.txt").read_text().splitlines()]
    names = [s[0] for s in stages]
    # (setup-namespaces only comes with new namespaces, not in h)
    for expected in ("pre-dump", "post-dump", "pre-restore", "post-restore", "pre-resume"):
        assert expected in names, (expected, stages, res.stdout)
    assert names.index("post-dump") < names.index("pre-restore")
    result = (art / "result.json").read_text()
    if '"identity": "owner-dump"' in result:
        assert {uid for name, uid in stages if name.endswith("dump")} == {"18943"}
        assert {uid for name, uid in stages if not name.endswith("dump")} == {"0"}


# ---- the .desc keys peer and plugin_mounts ----------------------------------

def test_peer_and_plugin_mounts_keys():
    d = _desc("{'peer': 't.peer', 'plugin_mounts': 'a b-2'}")
    assert (d.peer, d.plugin_mounts) == ("t.peer", ("a", "b-2"))
    with pytest.raises(DescError, match=r"'peer' must name a file beside the test"):
        _desc("{'peer': '../t.peer'}")
    with pytest.raises(DescError, match=r"'plugin_mounts': 'a/b' is not a plain name"):
        _desc("{'plugin_mounts': 'a/b'}")


def _result(suite, name):
    art = suite.latest() / "static" / name / "h"
    return json.loads((art / "result.json").read_text()), art


def _add_peer(suite, name: str, script: str) -> None:
    suite.add(name, copy_from="trivial.c", desc=f"{{'peer': '{name}.peer'}}")
    peer = suite.tests / f"{name}.peer"
    peer.write_text(script)
    os.chmod(peer, 0o755)


def test_the_peer_runs_outside_the_tree_while_the_test_runs(mini_suite):
    """It gets the work dir, must say ready, is stopped by SIGTERM at the
    end (after the test's tasks), and what it forked goes with it."""
    _add_peer(mini_suite, "served", """#!/bin/sh
echo "cwd $(pwd) work $ZDTM_WORK_DIR flavor $ZDTM_FLAVOR" >&2
sleep 600 &
trap 'echo stopped >&2; exit 0' TERM
echo ready
while :; do sleep 1; done
""")
    mini_suite.run("-t", "static/served", check=0)
    result, art = _result(mini_suite, "served")
    log = (art / "peer.log").read_text()
    assert result["outcome"] == "passed"
    work = os.path.realpath(art / "work")
    assert f"cwd {work} work {work} flavor h" in log and log.rstrip().endswith("stopped"), log


def test_a_peer_that_never_serves_or_fails_to_stop_fails_the_test(mini_suite):
    _add_peer(mini_suite, "mute", "#!/bin/sh\necho 'no such service' >&2\nexit 1\n")
    _add_peer(mini_suite, "stubborn", "#!/bin/sh\ntrap 'echo cannot undo >&2; exit 3' TERM\n"
                                      "echo ready\nwhile :; do sleep 1; done\n")
    mini_suite.run("-t", "static/mute", "-t", "static/stubborn", check=1)
    mute, _ = _result(mini_suite, "mute")
    assert (mute["outcome"], mute["phase"]) == ("failed", "start")
    assert mute["message"] == ("peer mute.peer did not become ready (said nothing, expected 'ready'): "
                               "no such service")
    stubborn, _ = _result(mini_suite, "stubborn")
    assert (stubborn["outcome"], stubborn["phase"]) == ("failed", "cleanup")
    assert stubborn["message"] == "peer stubborn.peer exited with 3 when told to stop: cannot undo"
