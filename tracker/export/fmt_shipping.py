"""`shipping`: the lists a shop needs, as CSV (default) or JSON (`-o *.json`).

- `do_not_ship`: every place whose effective status is `banned` or `restricted` (the
  `status` column says which; a restriction is an official position against sale, which
  a shop may treat as a ban), down to county and city;
- `min_age`: every place whose effective status is `regulated` with a minimum age.

Places with status `legal` or `unknown` are in neither list (the `csv` and `json` exports
have every place). Each row names the place by code, OCD id, country (ISO 3166-1) and US
subdivision (ISO 3166-2) so shop software can match an address at any level, and carries
the citation, source tier and last-verified time, and since when the place is under
review (an official page changed and awaits review; empty otherwise). The CSV has one
header row and a `list` column; the JSON document (`tracker.shipping/1`, schema in
`tracker/schemas/`) has the two lists as arrays.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from tracker.export.fmt_csv import row_of, write_rows
from tracker.export.registry import register
from tracker.export.snapshot import Entry, Snapshot

SHIPPING_SCHEMA = "tracker.shipping/1"
DO_NOT_SHIP = ("banned", "restricted")

FIELDS: tuple[str, ...] = (
    "code",
    "name",
    "kind",
    "country",
    "subdivision",
    "ocd_id",
    "fips",
    "status",
    "min_age",
    "valid_from",
    "expires",
    "decided_by",
    "decided_level",
    "citation",
    "source_url",
    "source_tier",
    "verify",
    "last_verified",
    "under_review_since",
)

_ORDER = {"country": 0, "state": 1, "district": 1, "territory": 1, "county": 2, "city": 3}


def _item(entry: Entry) -> dict[str, Any]:
    row = row_of(entry)
    country = subdivision = None
    for lvl in entry.answer.levels:
        if lvl.place.kind == "country":
            country = lvl.place.code
        elif lvl.place.kind in ("state", "district", "territory"):
            subdivision = lvl.place.code
    row["country"], row["subdivision"] = country, subdivision
    return {f: row[f] for f in FIELDS}


def lists(snapshot: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """The two lists, each sorted by country, subdivision, level and name."""
    out: dict[str, list[dict[str, Any]]] = {"do_not_ship": [], "min_age": []}
    for entry in snapshot.entries:
        a = entry.answer
        if a.status in DO_NOT_SHIP:
            out["do_not_ship"].append(_item(entry))
        elif a.status == "regulated" and a.min_age:
            out["min_age"].append(_item(entry))
    for items in out.values():
        items.sort(
            key=lambda i: (
                i["country"] or "",
                i["subdivision"] or "",
                _ORDER.get(i["kind"], 9),
                i["name"],
            )
        )
    return out


@register("shipping", suffixes=(".csv", ".json"))
def write_shipping(snapshot: Snapshot, out: TextIO, suffix: str) -> None:
    """Do-not-ship (banned, restricted) and minimum-age lists down to county and city."""
    found = lists(snapshot)
    if suffix == ".json":
        doc = {
            "schema": SHIPPING_SCHEMA,
            "generated_at": snapshot.generated_at.isoformat(),
            "as_of": snapshot.as_of.isoformat(),
            "substance": snapshot.substance,
            **found,
        }
        json.dump(doc, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    rows = [{"list": name, **item} for name, items in found.items() for item in items]
    write_rows(out, ("list", *FIELDS), rows)
