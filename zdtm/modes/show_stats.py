"""--show-stats: after each dump and restore, criu's stats images
(stats-dump, stats-restore, zdtm.stats) decoded into the test's report
sections, as zdtm.py shows them with `crit show`; the pre-iterations'
(--pre, --snaps) before the dump's. The page-count check itself runs in
every mode (zdtm.modes.plain)."""
from __future__ import annotations

from pathlib import Path

from .. import stats
from .base import Mode, switch


def _summary(entry: dict, action: str) -> str:
    if action == "dump":
        return (f"{entry.get('pages_written', 0)} pages written, {entry.get('pages_skipped_parent', 0)} skipped "
                f"(in the parent images), {entry.get('pages_scanned', 0)} scanned, "
                f"{entry.get('shpages_written', 0)} shared pages written; frozen "
                f"{entry.get('frozen_time', 0) / 1000:.1f} ms")
    return (f"{entry.get('pages_restored', 0)} pages restored, {entry.get('pages_compared', 0)} compared, "
            f"{entry.get('pages_skipped_cow', 0)} skipped (COW); restore "
            f"{entry.get('restore_time', 0) / 1000:.1f} ms")


def stats_section(images: Path, action: str, what: str) -> tuple:
    """(title, text) for the report: the decoded stats-ACTION of images."""
    path = stats.stats_path(images, action)
    try:
        decoded = stats.read_stats(images, action)
    except (stats.StatsError, OSError) as e:
        return f"{what}: {path.name} unreadable", f"{path}: {e}"
    if decoded is None:
        return f"{what}: no {path.name}", f"criu wrote no {path}"
    entry = decoded.get(action, {})
    return f"{what} stats ({path.name}): {_summary(entry, action)}", stats.show(decoded)


def chain_dirs(images: Path) -> list:
    """The pre-iterations' dirs beside a dump's (img/1.pre1, img/1.snap2)."""
    prefix = images.name + "."
    found = [p for p in images.parent.glob(prefix + "*")
             if p.is_dir() and p.name[len(prefix):].rstrip("0123456789") in ("pre", "snap")]
    return sorted(found, key=lambda p: (len(p.name), p.name))


class ShowStatsMode(Mode):
    name = "show-stats"
    order = 90
    id_suffix = "show-stats"
    marker = "show_stats"
    description = "criu's stats images (stats-dump, stats-restore) decoded in each test's report"
    options = (switch("show_stats", "show criu's dump and restore statistics (stats-dump, stats-restore) in each "
                      "test's report"),)

    def after_dump(self, step) -> None:
        for images in chain_dirs(step.images):
            self._show(step, images, "dump", f"pre-iteration {images.name}", f"stats-dump-{images.name}")
        self._show(step, step.images, "dump", f"criu dump {step.n}", f"stats-dump-{step.n}")

    def after_restore(self, step) -> None:
        self._show(step, step.images, "restore", f"criu restore {step.n}", f"stats-restore-{step.n}")

    @staticmethod
    def _show(step, images: Path, action: str, what: str, name: str) -> None:
        """In the report, and beside criu's logs (NAME.txt)."""
        title, text = stats_section(images, action, what)
        step.run.result.sections.append((title, text))
        step.run.paths.log(f"{name}.txt").write_text(f"{title}\n{text}\n")
