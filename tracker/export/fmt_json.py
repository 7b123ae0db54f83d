"""`json`: one document with every place's effective status (schema `tracker.export/1`).

The document's shape is published as a JSON Schema in `tracker/schemas/` (shipped in the
wheel); `schema_path()` finds it.
"""

from __future__ import annotations

import json
from importlib.resources import files
from importlib.resources.abc import Traversable
from typing import Any, TextIO

from tracker.export.registry import register
from tracker.export.snapshot import EXPORT_SCHEMA, Snapshot
from tracker.export.verified import MEANING

SCHEMA_FILE = "status-export.v1.json"


def schema_path(name: str = SCHEMA_FILE) -> Traversable:
    """The published JSON Schema `name` inside the installed package."""
    return files("tracker").joinpath("schemas", name)


def document(snapshot: Snapshot) -> dict[str, Any]:
    return {
        "schema": EXPORT_SCHEMA,
        "generated_at": snapshot.generated_at.isoformat(),
        "as_of": snapshot.as_of.isoformat(),
        "substance": snapshot.substance,
        "last_verified_means": MEANING,
        "places": [e.to_dict() for e in snapshot.entries],
        "international": snapshot.international,
    }


@register("json", suffixes=(".json",))
def write_json(snapshot: Snapshot, out: TextIO, suffix: str) -> None:
    """Every place with its effective status, conditions, dates, citations, tier, last verified."""
    json.dump(document(snapshot), out, ensure_ascii=False, indent=1)
    out.write("\n")
