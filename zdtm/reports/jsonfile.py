"""The run's JSON document (schema.json beside this file)."""
from __future__ import annotations

import json
from pathlib import Path

SCHEMA_FILE = Path(__file__).with_name("schema.json")


def write(results, path: Path) -> None:
    path.write_text(json.dumps(results.to_dict(), indent=1) + "\n")


def load(path: Path) -> dict:
    return json.loads(Path(path).read_text())
