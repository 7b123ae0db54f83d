"""`csv`: one row per place, with a header row (RFC 4180: comma, CRLF, quotes as needed).

Places carry their ISO code (countries, US states), OCD id and, for US states, DC and
territories, their FIPS code. Lists are joined with `; `. A cell that a spreadsheet would
run as a formula (starting with `=`, `+`, `-`, `@`, tab or carriage return) gets a
leading apostrophe, since compliance teams open these files in spreadsheets and a
citation typed on the command line must never become a live formula there.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from typing import Any, TextIO

from tracker.export.registry import register
from tracker.export.snapshot import Entry, Snapshot

COLUMNS: tuple[str, ...] = (
    "code",
    "name",
    "kind",
    "level",
    "parent",
    "iso_code",
    "ocd_id",
    "fips",
    "substance",
    "as_of",
    "status",
    "min_age",
    "conditions",
    "valid_from",
    "valid_to",
    "expires",
    "decided_by",
    "decided_level",
    "instrument_type",
    "citation",
    "instrument_url",
    "source_url",
    "source_document",
    "source_tier",
    "verify",
    "checked",
    "last_verified",
    "pending",
    "under_review_since",
    "review_items",
)

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> str:
    """The text of one cell: empty for None, `true`/`false` for booleans, and text a
    spreadsheet would take for a formula prefixed with an apostrophe."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def row_of(entry: Entry) -> dict[str, Any]:
    """The values of one place, by column name (also used by the shipping lists)."""
    d = entry.to_dict()
    place, inst, src = d["place"], d["instrument"] or {}, d["source"] or {}
    return {
        "code": place["code"],
        "name": place["name"],
        "kind": place["kind"],
        "level": d["level"],
        "parent": place["parent"],
        "iso_code": place["iso_code"],
        "ocd_id": place["ocd_id"],
        "fips": place["fips"],
        "substance": d["substance"],
        "as_of": d["as_of"],
        "status": d["status"],
        "min_age": d["min_age"],
        "conditions": "; ".join(d["conditions"]),
        "valid_from": d["valid_from"],
        "valid_to": d["valid_to"],
        "expires": d["expires"],
        "decided_by": d["decided_by"]["code"] if d["decided_by"] else None,
        "decided_by_name": d["decided_by"]["name"] if d["decided_by"] else None,
        "decided_level": d["decided_by"]["level"] if d["decided_by"] else None,
        "instrument_type": inst.get("type"),
        "citation": inst.get("citation"),
        "instrument_url": inst.get("url"),
        "source_url": src.get("url"),
        "source_document": src.get("document"),
        "source_tier": d["source_tier"],
        "verify": d["verify"],
        "checked": d["checked"],
        "last_verified": d["last_verified"],
        "pending": "; ".join(f"{p['measure']} ({p['stage']})" for p in d["pending"]),
        "under_review_since": (d["under_review"] or {}).get("since"),
        "review_items": "; ".join(
            f"#{i['id']} change #{i['change']} ({i['place']})"
            for i in (d["under_review"] or {}).get("items", [])
        ),
    }


def write_rows(out: TextIO, columns: Sequence[str], rows: Sequence[dict[str, Any]]) -> None:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([safe_cell(row.get(c)) for c in columns])


@register("csv", suffixes=(".csv",))
def write_csv(snapshot: Snapshot, out: TextIO, suffix: str) -> None:
    """One row per place with a header row: ISO and OCD ids, FIPS codes, status, citation."""
    write_rows(out, COLUMNS, [row_of(e) for e in snapshot.entries])
