"""A test's criu action script (the .desc key `action_script`).

The script named there lies beside the test; criu execs it (no shell) at
each stage of dump and restore, as whoever runs criu: with `owner-dump`
that is the workload's uid for the dump, and the checkout may be closed to
that uid. So the script runs from a copy in the build cache (readable and
executable by every uid, keyed by its content), given to criu as
`--action-script <abs path>` on dump and restore.
"""
from __future__ import annotations

import os
from pathlib import Path

from .build import BuildError, Builder, digest
from .desc import Desc
from .workload import Workload


def staged_script(builder: Builder, workload: Workload, name: str) -> Path:
    """The test's script, copied where criu's identity can execute it."""
    src = workload.source.parent / name
    try:
        content = src.read_bytes()
    except OSError as e:
        raise BuildError(f"{workload.name}: .desc 'action_script' names {src}, which cannot be read: "
                         f"{e.strerror}") from None
    if not content.startswith(b"#!"):
        raise BuildError(f"{workload.name}: action script {src} does not start with '#!' "
                         f"(criu execs it directly, without a shell)")

    def stage(tmp: Path):
        (tmp / name).write_bytes(content)
        os.chmod(tmp / name, 0o755)
        os.chmod(tmp, 0o755)
    return builder.build_once(f"{workload.stem}-action-script-" + digest(name, content), stage) / name


def criu_opts(builder: Builder, workload: Workload, desc: Desc) -> list:
    """criu's options for the test's action script (dump and restore)."""
    if not desc.action_script:
        return []
    return ["--action-script", str(staged_script(builder, workload, desc.action_script))]
