"""The suite: test roots, workloads in them, and suite-level exclusions.

desc/suite.yaml names the roots; each root's kind (native: our C and Python
workloads; upstream: an existing ZDTM tree) decides, through zdtm.kinds,
which files are tests and how they are built and run.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Optional

import yaml

from .config import PROJECT_DIR
from .kinds import roots_of, workload_for, workloads_of
from .workload import SuiteError, TestRoot, Workload

DEFAULT_SUITE_FILE = PROJECT_DIR / "desc" / "suite.yaml"

__all__ = ["DEFAULT_SUITE_FILE", "Suite", "SuiteError", "TestRoot", "Workload"]


@dataclass
class Suite:
    file: Path
    roots: list
    exclude: dict = field(default_factory=dict)   # test name -> skip reason

    @classmethod
    def load(cls, file: Optional[Path] = None) -> "Suite":
        file = Path(file or DEFAULT_SUITE_FILE).resolve()
        try:
            data = yaml.safe_load(file.read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise SuiteError(f"{file}: cannot load suite description: {e}") from None
        suite = cls(file, [])
        for entry in data.get("roots") or []:
            if not isinstance(entry, dict) or "path" not in entry:
                raise SuiteError(f"{file}: each root needs a 'path' (got {entry!r})")
            try:
                suite.add_tree(entry.get("kind", "native"), file.parent / entry["path"], entry.get("name"))
            except SuiteError as e:
                raise SuiteError(f"{file}: root {entry['path']}: {e}") from None
        for entry in data.get("exclude") or []:
            if not isinstance(entry, dict) or "test" not in entry or "reason" not in entry:
                raise SuiteError(f"{file}: each exclusion needs 'test' and 'reason' (got {entry!r})")
            suite.exclude[entry["test"]] = f"excluded by {file.name}: {entry['reason']}"
        return suite

    def add_tree(self, root_kind: str, path, name: Optional[str] = None) -> None:
        """Add the test roots of a tree: our own sources (native) or an
        existing ZDTM tree (upstream: a criu checkout, its test/ or test/zdtm/)."""
        for root, exclusions in roots_of(root_kind, Path(path).resolve(), name):
            self.roots.append(root)
            self.exclude.update(exclusions)
        self.__dict__.pop("workloads", None)    # the cached list

    def add_upstream(self, path) -> None:
        self.add_tree("upstream", path)

    def workload_for(self, path: Path) -> Optional[Workload]:
        # The directory resolved, not the file: upstream's stopped01.c is a
        # symlink to stopped.c and still its own test.
        path = Path(path).absolute().parent.resolve() / Path(path).name
        for root in self.roots:
            w = workload_for(root, path)
            if w:
                return w
        return None

    @cached_property
    def workloads(self) -> list:
        return [w for root in self.roots for w in workloads_of(root)]

    def find(self, name: str) -> Optional[Workload]:
        """The test a name means: its full name, zdtm.py's spelling
        (zdtm/static/NAME: upstream's tree if loaded), or its bare stem."""
        candidates = [name]
        if name.startswith("zdtm/"):
            candidates += ["upstream/" + name[5:], name[5:]]
        for want in candidates:
            for w in self.workloads:
                if w.name == want:
                    return w
        for w in self.workloads:
            if w.source.stem == name:
                return w
        return None

    def named(self, names) -> set:
        """The full names of the tests names mean (see find)."""
        return {w.name for w in map(self.find, names) if w is not None}
