"""The trust boundary between the harness (root) and the workload uid."""
import json
import os
import struct

import pytest

from conftest import run_zdtm, tasks_mentioning
from zdtm import images
from zdtm.config import WORKLOAD_GID, WORKLOAD_UID
from zdtm.cycle import TestRun
from zdtm.modes.base import Mode
from zdtm.modes.plain import PlainMode


@pytest.mark.parametrize("how", ["owned by the workload uid", "writable by others"])
def test_a_state_dir_others_control_is_refused(reachable_dir, how):
    state = reachable_dir / "state"
    state.mkdir()
    if how == "owned by the workload uid":
        os.chown(state, WORKLOAD_UID, WORKLOAD_GID)
    else:
        os.chmod(state, 0o777)
    res = run_zdtm("run", "-t", "static/pipe00", "-f", "h", "--zdtm-dir", state)
    assert res.returncode == 4, res.stdout
    assert f"the state dir {state}" in res.stdout and how.split()[-1] in res.stdout, res.stdout
    assert not (state / "build").exists()


def test_symlinks_planted_by_the_workload_are_not_followed(mini_suite):
    mini_suite.add("t", copy_from="plants_symlinks.c", desc="{'flavor': 'h'}")
    res = mini_suite.run("-t", "static/t")
    assert res.returncode == 1, res.stdout
    shadow_users = [line.split(":")[0] + ":" for line in open("/etc/shadow")]
    art = mini_suite.latest() / "static" / "t" / "h"
    report = res.stdout + (art / "result.json").read_text()
    assert "phase 'verify'" in res.stdout, res.stdout
    assert not [u for u in shadow_users if u + "$" in report or u + "*" in report or u + "!" in report]


def _encode(fields) -> bytes:
    out = bytearray()

    def varint(v):
        while True:
            b, v = v & 0x7F, v >> 7
            out.append(b | (0x80 if v else 0))
            if not v:
                return

    for number, wire, value in fields:
        varint(number << 3 | wire)
        if wire == 0:
            varint(value)
        elif wire == 2:
            varint(len(value))
            out.extend(value)
        elif wire == 5:
            out.extend(struct.pack("<I", value))
        else:
            out.extend(struct.pack("<Q", value))
    return bytes(out)


def _forge_root(path):
    """Rewrite core-N.img so that the task asks to be uid 0."""
    data = path.read_bytes()
    size = struct.unpack_from("<I", data, 8)[0]
    core = list(images._fields(data[12:12 + size]))

    def edit(fields, number, fn):
        return [(n, w, fn(v) if n == number and w == 2 else v) for n, w, v in fields]

    def forge_creds(creds):
        return _encode([(n, w, 0 if n in (1, 3, 5, 7) else v) for n, w, v in images._fields(creds)])

    def forge_thread(tc):
        return _encode(edit(list(images._fields(tc)), images.THREAD_CORE_CREDS, forge_creds))

    new = _encode(edit(core, images.CORE_THREAD_CORE, forge_thread))
    path.write_bytes(data[:8] + struct.pack("<I", len(new)) + new + data[12 + size:])


class ForgeMode(Mode):
    """What a uid-18943 process could do between the owner's dump and root's restore."""
    name = "forge"

    def after_dump(self, step):
        for core in step.images.glob("core-*.img"):
            _forge_root(core)


@pytest.fixture
def engine(trivial_engine):
    if trivial_engine.facts.strategy != "owner-dump":
        pytest.skip(f"identity {trivial_engine.facts.strategy}: criu dumps as root here, the images are root's anyway")
    return trivial_engine


def test_images_are_roots_before_a_root_restore(engine, reachable_dir):
    r = TestRun(engine, engine.suite.workloads[0], "h").run()
    assert r.outcome == "passed", r.summary()
    img = reachable_dir / "state" / "runs"
    files = [p for p in img.rglob("img/1/*")]
    assert files and all(p.stat().st_uid == 0 and not p.stat().st_mode & 0o022 for p in files), files
    assert (files[0].parent.stat().st_uid, files[0].parent.stat().st_mode & 0o022) == (0, 0)


def test_a_forged_credential_in_an_image_is_refused(engine, reachable_dir):
    r = TestRun(engine, engine.suite.workloads[0], "h",
                modes=[PlainMode(engine.settings), ForgeMode(engine.settings)]).run()
    assert (r.outcome, r.phase) == ("failed", "restore"), r.summary()
    assert "asks for uids [0, 0, 0, 0], the task ran with 18943 18943 18943 18943" in r.message
    assert "refused before a root restore" in r.message
    assert not any("restore --images-dir" in c for c in r.criu_commands)    # root's criu never ran
    assert not tasks_mentioning(reachable_dir)


def test_the_credential_reader_reads_what_criu_wrote(engine, reachable_dir):
    r = TestRun(engine, engine.suite.workloads[0], "h").run()
    assert r.outcome == "passed", r.summary()
    cores = list((reachable_dir / "state" / "runs").rglob("img/1/core-*.img"))
    creds = images.core_creds(cores[0])
    assert (creds["uid"], creds["euid"], creds["gid"], sorted(creds["groups"])) == \
        (WORKLOAD_UID, WORKLOAD_UID, WORKLOAD_GID, [27495, 48244])
    json.dumps(creds)
