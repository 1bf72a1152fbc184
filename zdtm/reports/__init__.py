"""Reports of a run, for people and CI, and the merging of several runs.

Every suite run writes into its run dir (and to the paths given):
  report.json           one JSON document (schema.json), zdtm report's input
  criu-testreport.tap   TAP 13, as kselftest and CRIU's zdtm.py
  report.html           pytest-html's self-contained page, with links to artifacts
and ends with a table per flavor and mode. `zdtm report` (merge.py) renders
or merges past runs: shards, machines, kernels.
"""
from __future__ import annotations

import json
import time
import platform
import shutil
import sys
from pathlib import Path
from typing import Optional

from . import jsonfile, summary, tap
from .results import RunResults, record_from_report

__all__ = ["Reporter"]


class Reporter:
    """Lives in the controller (or the only process) of a suite run."""

    def __init__(self, engine, json_path: Optional[str] = None, tap_path: Optional[str] = None,
                 shard: Optional[str] = None):
        self.engine = engine
        self.results = RunResults(str(engine.run_dir), argv=sys.argv[1:], shard=shard)
        self.paths = {"JSON": [engine.run_dir / "report.json"], "TAP": [engine.run_dir / "criu-testreport.tap"]}
        if json_path:
            self.paths["JSON"].append(Path(json_path))
        if tap_path:
            self.paths["TAP"].append(Path(tap_path))
        self.html: Optional[Path] = None

    def use_html(self, config) -> None:
        """pytest-html writes the page: into the run dir unless --html names a file."""
        if not config.pluginmanager.hasplugin("html"):
            return
        if not config.getoption("htmlpath", None):
            config.option.htmlpath = str(self.engine.run_dir / "report.html")
            config.option.self_contained_html = True
        self.html = Path(config.option.htmlpath).resolve()

    def copy_html(self) -> None:
        here = self.engine.run_dir / "report.html"
        if self.html and self.html != here and self.html.is_file():
            shutil.copyfile(self.html, here)

    def add(self, report) -> None:
        if not self.results.facts:
            facts = json.loads(self.engine.facts.to_json())
            facts["hostname"] = platform.node()
            self.results.facts = facts
        record = record_from_report(report, self.results.kernel, self.results.machine)
        if record is not None and (report.when == "call" or report.skipped):
            self.results.tests.append(record)

    def finish(self) -> None:
        self.results.finished = time.time()
        for path in self.paths["JSON"]:
            jsonfile.write(self.results, path)
        for path in self.paths["TAP"]:
            tap.write(self.results, path)

    def summary_lines(self) -> list:
        reports = {what: ", ".join(str(p) for p in paths) for what, paths in self.paths.items()}
        if self.html:
            reports["HTML"] = str(self.html)
        return summary.lines(self.results, reports)
