"""The plain cycle: dump, wait until the dumped tree is gone, restore, check.
Always in the stack; every other mode adds to it.

After every dump it checks the page counts as zdtm.py does
(check_pages_counts, zdtm.stats): the pages criu's stats-dump says it wrote
must be what the pages-*.img files hold. Not where the pages are not in the
images dir: a dump that streams them (--stream: the stream mode checks what
it extracts) or keeps them for lazy transfer (dump --lazy-pages), or one
whose page server wrote them elsewhere (--page-server and no pages-*.img
here: zdtm.py's page server shares the images dir, and then they are checked).
"""
from __future__ import annotations

from .. import stats
from ..outcome import PhaseFailure
from .base import Mode

#: dump options that take the pages out of the images dir
PAGES_ELSEWHERE = ("--stream", "--lazy-pages")


def pages_are_local(argv: list, images) -> bool:
    if any(opt in argv for opt in PAGES_ELSEWHERE):
        return False
    return "--page-server" not in argv or stats.has_pages_files(images)


def check_page_counts(images, argv: list, what: str) -> None:
    """Raise PhaseFailure (phase dump) when criu's stats and its pages
    images disagree (pages local to images only)."""
    if not pages_are_local(argv, images):
        return
    problem = stats.page_count_problem(images, what)
    if problem:
        raise PhaseFailure("dump", problem)


class PlainMode(Mode):
    name = "plain"
    order = 0
    description = "criu dump, then criu restore; the page counts checked after each dump"

    @classmethod
    def enabled(cls, settings) -> bool:
        return True

    def after_dump(self, step) -> None:
        check_page_counts(step.images, step.criu.argv, f"criu dump {step.n}")
