"""Who runs criu (--user, --rootless), the old mount engine
(--mntns-compat-mode) and criu plugins (--criu-plugin,
--mocked-cuda-checkpoint), with the real criu: each mode proven to have
happened (criu's own /proc status seen from an action script, criu's logs,
the images), and each failing clearly in its phase with nothing left."""

import os
import re
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from conftest import tasks_mentioning
from zdtm.config import WORKLOAD_UID
from zdtm.criu import rootless as rootless_driver
from zdtm.criu.owner import OwnerDumpDriver
from zdtm.cycle import TestRun
from zdtm.modes import active_modes, variant_name
from zdtm.modes import criu_plugin, mntns_compat, mocked_cuda
from zdtm.modes.plain import PlainMode
from zdtm.modes.rootless import RootlessMode
from zdtm.modes.user import UserMode
from zdtm.outcome import PhaseFailure

CAP_SYS_PTRACE, CAP_SETPCAP, CAP_CHECKPOINT_RESTORE = 19, 8, 40

# criu runs action scripts as its own child (sh -c SCRIPT): the script finds
# the criu process among its ancestors and keeps its /proc status.
STATUS_SCRIPT = """\
#!/bin/sh
p=$PPID
while [ "$p" -gt 1 ] && [ "$(cat /proc/$p/comm)" != criu ]; do
    p=$(awk '/^PPid:/ {print $2}' /proc/$p/status)
done
grep -E '^(Uid|CapInh|CapEff|CapAmb):' /proc/$p/status > "{out}/$CRTOOLS_SCRIPT_ACTION" 2>&1
exit 0
"""


@pytest.fixture
def engine(trivial_engine):
    return trivial_engine


def _run(engine, flavor, *modes):
    return TestRun(engine, engine.suite.workloads[0], flavor, modes=[PlainMode(engine.settings), *modes]).run()


def _watch_criu(reachable_dir) -> Path:
    """The trivial test's .desc runs STATUS_SCRIPT at each criu stage; the dir it writes into."""
    out = reachable_dir / "criu-status"
    out.mkdir()
    os.chmod(out, 0o777)
    script = reachable_dir / "criu-status.sh"
    script.write_text(STATUS_SCRIPT.replace("{out}", str(out)))
    os.chmod(script, 0o755)
    (reachable_dir / "suite" / "static" / "trivial.desc").write_text(f"{{'opts': '--action-script {script}'}}\n")
    return out


def _status(out: Path, stage: str) -> dict:
    lines = (out / stage).read_text().splitlines()
    return {k: v.split() for k, v in (line.split(":", 1) for line in lines)}


def _caps(hexmask: str) -> set:
    value = int(hexmask, 16)
    return {bit for bit in range(64) if value >> bit & 1}


def _no_leftovers(reachable_dir):
    assert not tasks_mentioning(reachable_dir)
    assert not subprocess.run(["pgrep", "-u", str(WORKLOAD_UID), "-f", str(reachable_dir)],
                              stdout=subprocess.PIPE).stdout


# ---- --user -----------------------------------------------------------------------
def test_user_mode_criu_dumps_as_a_regular_user(engine, reachable_dir):
    out = _watch_criu(reachable_dir)
    r = _run(engine, "h", UserMode(engine.settings))
    assert r.outcome == "passed", r.summary()
    assert r.flavor == "h-user" and "--user" in r.identity
    dump = _status(out, "post-dump")
    assert dump["Uid"] == [str(WORKLOAD_UID)] * 4, dump           # criu itself, seen from its child
    assert {CAP_CHECKPOINT_RESTORE, CAP_SYS_PTRACE} <= _caps(dump["CapEff"][0]) != _caps("1ffffffffff")
    assert _status(out, "post-restore")["Uid"] == ["0"] * 4         # zdtm.py's --user: root restores
    dump_cmd = next(c for c in r.criu_commands if " dump " in c)
    assert "--unprivileged" in dump_cmd and f"--reuid={WORKLOAD_UID}" in dump_cmd
    assert any("criu dump ran as uid 18943 with --unprivileged" in text for _, text in r.sections), r.sections
    _no_leftovers(reachable_dir)


def test_user_mode_dump_refused_fails_in_dump_and_leaves_nothing(engine, reachable_dir, monkeypatch):
    # criu as the regular user without CAP_CHECKPOINT_RESTORE: the dump is refused.
    monkeypatch.setattr(OwnerDumpDriver, "DUMP_CAPS", "+sys_ptrace")
    r = _run(engine, "h", UserMode(engine.settings))
    assert (r.outcome, r.phase) == ("failed", "dump"), r.summary()
    assert r.message.startswith("criu dump exited with"), r.message
    assert any("CAP_CHECKPOINT_RESTORE" in line for line in r.criu_error_lines), r.criu_error_lines
    _no_leftovers(reachable_dir)


def test_user_mode_proof_rejects_a_root_criu(tmp_path):
    """The check after a dump: images criu wrote as root are no regular user's dump."""
    (tmp_path / "inventory.img").write_bytes(b"")           # root-owned, as a root criu writes it
    criu = type("Run", (), {"argv": ["criu", "dump", "--unprivileged"], "command_line": lambda self: "criu dump"})()
    step = type("Step", (), {"criu": criu, "images": tmp_path, "n": 1})()
    with pytest.raises(PhaseFailure) as e:
        UserMode(None).after_dump(step)
    assert e.value.phase == "dump" and "did not run as uid 18943" in e.value.message and "owned by uid 0" in e.value.message


def test_user_mode_skips_as_zdtm_py(engine):
    mode = UserMode(engine.settings)
    desc = lambda **kw: replace(engine.suite.workloads[0].load_desc(), **kw)     # noqa: E731
    assert "suid test in user mode" in mode.skip_reason(desc(flags=frozenset({"suid"})), "h")
    assert "criu root prio needed" in mode.skip_reason(desc(flags=frozenset({"nouser"})), "h")
    assert "uns" in mode.skip_reason(desc(), "uns")
    assert mode.skip_reason(desc(), "ns") is None


# ---- --rootless -------------------------------------------------------------------
def test_rootless_criu_never_runs_as_root_and_has_only_its_file_caps(engine, reachable_dir):
    out = _watch_criu(reachable_dir)
    mode = RootlessMode(engine.settings)
    r = _run(engine, "h", mode)
    assert r.outcome == "passed", r.summary()
    assert r.flavor == "h-rootless"
    want = {CAP_CHECKPOINT_RESTORE, CAP_SYS_PTRACE} | ({CAP_SETPCAP} if not rootless_driver.bounding_set_full() else set())
    for stage in ("post-dump", "post-restore"):
        st = _status(out, stage)
        assert st["Uid"] == [str(WORKLOAD_UID)] * 4, (stage, st)
        assert _caps(st["CapEff"][0]) == want, (stage, st)        # the file's caps, nothing more
        assert _caps(st["CapAmb"][0]) == set() and _caps(st["CapInh"][0]) == set(), (stage, st)
    assert all("--unprivileged" in c and "criu-rootless-" in c for c in r.criu_commands), r.criu_commands
    assert [t for t, _ in r.sections if t.startswith("rootless criu")] == ["rootless criu (dump 1)",
                                                                           "rootless criu (restore 1)"]
    private = Path(r.criu_commands[0].split()[5])
    assert "cap_checkpoint_restore" in subprocess.run(["getcap", str(private)], stdout=subprocess.PIPE,
                                                      text=True).stdout
    assert not subprocess.run(["getcap", engine.criu_bin], stdout=subprocess.PIPE, text=True).stdout.strip()
    _no_leftovers(reachable_dir)


def test_rootless_criu_without_its_caps_fails_in_dump_and_leaves_nothing(engine, reachable_dir, monkeypatch):
    monkeypatch.setattr(rootless_driver, "file_caps", lambda: ("cap_sys_ptrace",))
    r = _run(engine, "h", RootlessMode(engine.settings))
    assert (r.outcome, r.phase) == ("failed", "dump"), r.summary()
    assert "criu dump exited with" in r.message
    assert any("CAP_CHECKPOINT_RESTORE" in line for line in r.criu_error_lines), r.criu_error_lines
    assert "rootless" in r.identity
    _no_leftovers(reachable_dir)


def test_rootless_runs_in_h_only(engine):
    mode = RootlessMode(engine.settings)
    desc = engine.suite.workloads[0].load_desc()
    assert mode.skip_reason(desc, "h") is None
    for flavor in ("ns", "uns"):
        assert "h only" in mode.skip_reason(desc, flavor)


# ---- --mntns-compat-mode ----------------------------------------------------------
def _restore_log(reachable_dir, variant):
    return next((reachable_dir / "state" / "runs").rglob(f"{variant}/restore-1.log")).read_text()


def test_mntns_compat_mode_restores_with_the_old_mount_engine(engine, reachable_dir):
    mode = mntns_compat.MntnsCompatMode(engine.settings)
    assert engine.mode_unavailable(mode) is None        # this kernel has move_mount_set_group
    r = _run(engine, "ns", mode)
    assert r.outcome == "passed", r.summary()
    assert any("--mntns-compat-mode" in c for c in r.criu_commands if " restore " in c)
    log = _restore_log(reachable_dir, "ns-mntns-compat")
    assert "mnt: Start with" in log and "mnt-v2:" not in log
    # The same test without the mode: criu's new engine, which the check tells apart.
    plain = _run(engine, "ns")
    assert plain.outcome == "passed", plain.summary()
    assert "mnt-v2:" in _restore_log(reachable_dir, "ns")
    _no_leftovers(reachable_dir)


class _NewEngineAnyway(mntns_compat.MntnsCompatMode):
    """Passes the option, then pins the new engine after it (criu: last wins)."""
    def adjust_call(self, call, action, step):
        super().adjust_call(call, action, step)
        if action == "restore":
            call.opts.append("--no-mntns-compat-mode")


def test_mntns_compat_mode_fails_the_restore_when_the_new_engine_ran(engine, reachable_dir):
    r = _run(engine, "ns", _NewEngineAnyway(engine.settings))
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert "log shows a new-engine line" in r.message and "mnt-v2:" in r.message, r.message
    _no_leftovers(reachable_dir)


# ---- --criu-plugin ----------------------------------------------------------------
def _plugin_mode(engine, *names):
    return criu_plugin.CriuPluginMode(engine.settings.with_mode_options({"criu_plugin": names}))


def test_inventory_plugins_are_loaded_and_recorded_in_the_images(engine, reachable_dir):
    mode = _plugin_mode(engine, "inventory_test_enabled", "inventory_test_disabled")
    assert engine.mode_unavailable(mode) is None
    r = _run(engine, "h", mode)
    assert r.outcome == "passed", r.summary()
    assert r.flavor == "h-plugin-inventory_test_enabled-inventory_test_disabled"
    art = next((reachable_dir / "state" / "runs").rglob("h-plugin-*"))
    for action in ("dump", "restore"):
        log = (art / f"{action}-1.log").read_text()
        for name in ("inventory_test_enabled_plugin", "inventory_test_disabled_plugin"):
            assert re.search(rf'Plugin "{name}" \(version', log), (action, name)
    inventory = (art / "img" / "1" / "inventory.img").read_bytes()
    assert b"inventory_test_enabled_plugin" in inventory and b"inventory_test_disabled_plugin" not in inventory
    _no_leftovers(reachable_dir)


class _EnabledPluginMissingOnRestore(criu_plugin.CriuPluginMode):
    def restore_opts(self, step):
        other = criu_plugin.criu_plugins.plugin_dir(step.run.engine.builder, self._tree(step.run.engine),
                                                    ["inventory_test_disabled"])
        return ["--libdir", str(other)]


def test_a_plugin_missing_on_restore_fails_the_restore_and_leaves_nothing(engine, reachable_dir):
    settings = engine.settings.with_mode_options({"criu_plugin": ("inventory_test_enabled",)})
    r = _run(engine, "h", _EnabledPluginMissingOnRestore(settings))
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert r.message.startswith("criu restore exited with"), r.message
    assert r.criu_error_lines, r.summary()
    _no_leftovers(reachable_dir)


def test_plugin_option_as_zdtm_py_names_them():
    assert criu_plugin._names(["amdgpu,cuda", "cuda", "inventory_test_enabled"]) == (
        "amdgpu", "cuda", "inventory_test_enabled")
    with pytest.raises(ValueError, match="unknown criu plugin 'nvidia'"):
        criu_plugin._names(["nvidia"])


@pytest.mark.slow
def test_cuda_and_amdgpu_plugins_build_and_load(engine, reachable_dir):
    mode = _plugin_mode(engine, "amdgpu", "cuda")
    assert engine.mode_unavailable(mode) is None
    r = _run(engine, "h", mode)
    assert r.outcome == "passed", r.summary()
    log = next((reachable_dir / "state" / "runs").rglob("h-plugin-amdgpu-cuda/dump-1.log")).read_text()
    assert 'Plugin "amdgpu_plugin"' in log and 'Plugin "cuda_plugin"' in log
    assert "No GPU device found; CUDA plugin is disabled" in log
    _no_leftovers(reachable_dir)


class _ForcedCuda(mocked_cuda.MockedCudaMode):
    """--mocked-cuda-checkpoint --fault 138 as CI runs it (the fault forces the cuda plugin on)."""
    def adjust_call(self, call, action, step):
        super().adjust_call(call, action, step)
        call.env["CRIU_FAULT"] = "138"


def test_mocked_cuda_checkpoint_is_what_the_cuda_plugin_runs(engine, reachable_dir):
    r = _run(engine, "uns", _ForcedCuda(engine.settings))       # the plugin needs criu as root
    assert r.outcome == "passed", r.summary()
    log = next((reachable_dir / "state" / "runs").rglob("uns-mocked-cuda/dump-1.log")).read_text()
    assert "initialized: cuda_plugin stage" in log          # the plugin found cuda-checkpoint on its PATH
    assert "cuda-checkpoint output" in log or "pausing devices" in log or "Checkpointing CUDA" in log, log[-2000:]
    h = _run(engine, "h", _ForcedCuda(engine.settings))          # criu as uid 18943 there
    assert h.outcome == "skipped" and "CAP_SYS_ADMIN" in h.message, h.message
    _no_leftovers(reachable_dir)


def test_modes_compose_in_the_test_id():
    from zdtm.config import Settings
    s = Settings(mode_options={"user": True, "mntns_compat_mode": True, "criu_plugin": ("cuda",)})
    modes = active_modes(s)
    assert [m.name for m in modes] == ["plain", "user", "mntns-compat-mode", "criu-plugin"]
    assert variant_name("h", modes) == "h-user-mntns-compat-plugin-cuda"
