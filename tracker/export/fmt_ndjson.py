"""`ndjson`: the records of the `json` export, one place per line.

Each line is one `place_status` object of the published schema (it carries its own
`as_of` and `substance`), so a consumer can stream the file line by line.
"""

from __future__ import annotations

import json
from typing import TextIO

from tracker.export.registry import register
from tracker.export.snapshot import Snapshot


@register("ndjson", suffixes=(".ndjson", ".jsonl"))
def write_ndjson(snapshot: Snapshot, out: TextIO, suffix: str) -> None:
    """The json export's place records, one JSON object per line."""
    for entry in snapshot.entries:
        out.write(json.dumps(entry.to_dict(), ensure_ascii=False, separators=(",", ":")))
        out.write("\n")
