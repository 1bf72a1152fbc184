"""The suite: test roots, workloads in them, and suite-level exclusions."""
from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Optional

import yaml

from .desc import Desc, load_desc

PROJECT_DIR = Path(__file__).resolve().parent.parent
DEFAULT_SUITE_FILE = PROJECT_DIR / "desc" / "suite.yaml"
WORKLOAD_SUFFIXES = {".c": "c", ".py": "py"}


class SuiteError(Exception):
    pass


@dataclass(frozen=True)
class Workload:
    name: str          # e.g. "static/pipe00"
    source: Path       # NAME.c / NAME.py (upstream: NAME.c, built by upstream's Makefile)
    kind: str          # "c" | "py" | "upstream"
    root: "TestRoot"

    @property
    def desc_path(self) -> Path:
        return self.source.with_suffix(".desc")

    def load_desc(self) -> Desc:
        return load_desc(self.desc_path)

    @property
    def live(self) -> bool:
        return self.root.live


@dataclass(frozen=True)
class TestRoot:
    name: str
    path: Path
    kind: str = "native"   # "native": our sources; "upstream": an existing ZDTM tree

    @property
    def leaf(self) -> str:
        """The last part of the name: static, live or transition (upstream/static -> static)."""
        return self.name.rsplit("/", 1)[-1]

    @property
    def live(self) -> bool:
        """Workloads that keep changing their state (upstream: transition/)."""
        return self.leaf in ("live", "transition")

    def workload_for(self, path: Path) -> Optional[Workload]:
        if path.parent != self.path or path.name.startswith(("_", ".")):
            return None
        if self.kind == "upstream":
            from . import upstream
            if path.suffix != ".c" or path.stem not in upstream.test_names(self.path):
                return None
            return Workload(f"{self.name}/{path.stem}", path, "upstream", self)
        kind = WORKLOAD_SUFFIXES.get(path.suffix)
        if kind is None:
            return None
        return Workload(f"{self.name}/{path.stem}", path, kind, self)

    def workloads(self) -> list:
        if not self.path.is_dir():
            return []
        if self.kind == "upstream":
            from . import upstream
            candidates = [self.path / f"{n}.c" for n in sorted(upstream.test_names(self.path))]
        else:
            candidates = sorted(self.path.iterdir())
        found = (self.workload_for(p) for p in candidates)
        return [w for w in found if w]


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
        roots, upstream_trees = [], []
        for entry in data.get("roots") or []:
            if not isinstance(entry, dict) or "path" not in entry:
                raise SuiteError(f"{file}: each root needs a 'path' (got {entry!r})")
            path = (file.parent / entry["path"]).resolve()
            kind = entry.get("kind", "native")
            if kind == "upstream":
                upstream_trees.append(path)
            elif kind == "native":
                roots.append(TestRoot(entry.get("name") or path.name, path))
            else:
                raise SuiteError(f"{file}: root {entry['path']}: unknown kind {kind!r} (native, upstream)")
        exclude = {}
        for entry in data.get("exclude") or []:
            if not isinstance(entry, dict) or "test" not in entry or "reason" not in entry:
                raise SuiteError(f"{file}: each exclusion needs 'test' and 'reason' (got {entry!r})")
            exclude[entry["test"]] = f"excluded by {file.name}: {entry['reason']}"
        suite = cls(file, roots, exclude)
        for path in upstream_trees:
            suite.add_upstream(path)
        return suite

    def add_upstream(self, path) -> None:
        """Add the static/ and transition/ roots of an existing ZDTM tree
        (a criu checkout, its test/ or test/zdtm/ directory)."""
        from . import upstream
        new = upstream.roots(Path(path))
        self.roots += new
        for root in new:
            self.exclude.update(upstream.exclusions(root))
        self.__dict__.pop("workloads", None)    # the cached list

    def workload_for(self, path: Path) -> Optional[Workload]:
        path = path.resolve()
        for root in self.roots:
            w = root.workload_for(path)
            if w:
                return w
        return None

    @cached_property
    def workloads(self) -> list:
        return [w for root in self.roots for w in root.workloads()]

    def find(self, name: str) -> Optional[Workload]:
        for w in self.workloads:
            if w.name == name:
                return w
        name = name.removeprefix("zdtm/")
        for w in self.workloads:
            if w.name == name or w.source.stem == name:
                return w
        return None
