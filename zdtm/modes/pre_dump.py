"""--pre N[:pause]: N `criu pre-dump`s before each dump, PAUSE seconds after
each, each into its own images dir, chained with --prev-images-dir and
--track-mem (zdtm.modes._chain), the dump last; --pre-dump-mode splice|read
is passed to each pre-dump and the dump, as zdtm.py does. After each
pre-dump: its page counts (as after a dump), upstream's --post-pre-dump
hook (a kind with hooks) and, for a pre-dump-notify test, zdtm.py's
notification. Needs soft-dirty (mem_dirty_track)."""
from __future__ import annotations

from ..config import Option
from ._chain import ChainMode, parse_pre, pre_dump_notify


def _pre(value) -> str:
    parse_pre(value)            # a usage error if it does not parse
    return value


def _pre_dump_mode(value) -> str:
    if value not in ("splice", "read"):
        raise ValueError(f"{value!r}: splice or read")
    return value


class PreDumpMode(ChainMode):
    name = "pre"
    order = 25
    id_suffix = "pre"
    marker = "pre_dump"
    description = "criu pre-dump --track-mem N times before each dump (the dump reads them as parents)"
    options = (
        Option("pre", "N pre-dumps before each dump, PAUSE seconds after each (zdtm.py's --pre)", cli=("--pre",),
               pytest="--zdtm-pre", metavar="N[:PAUSE]", mode=True, convert=_pre),
        Option("pre_dump_mode", "with --pre/--snaps: criu's --pre-dump-mode (splice or read) for the pre-dumps "
               "and the dump", cli=("--pre-dump-mode",), pytest="--zdtm-pre-dump-mode", choices=("splice", "read"),
               mode=True, convert=_pre_dump_mode),
    )
    action = "pre-dump"
    dir_tag = "pre"
    what = "pre-dump"

    @classmethod
    def enabled(cls, settings) -> bool:
        return parse_pre(settings.mode_option("pre"))[0] > 0 and not settings.mode_option("snaps")

    def identity_note(self) -> str:
        return f"{self.count} criu pre-dump(s) before each dump, run as the dump is"

    def after_pre_iteration(self, step, images) -> None:
        run = step.run
        run.call_hook("post-pre-dump", images=images)
        if "pre-dump-notify" in run.desc.flags:
            run.result.sections.append((f"pre-dump notification after {images.name}", pre_dump_notify(run)))
