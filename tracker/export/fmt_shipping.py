"""`shipping`: the lists a shop needs, as CSV (default) or JSON (`-o *.json`).

- `do_not_ship`: every place whose effective status is `banned` or `restricted` (the
  `status` column says which; a restriction is an official position against sale, which
  a shop may treat as a ban), down to county and city;
- `min_age`: every place whose effective status is `regulated` with a minimum age;
- places whose effective status is `unknown` (no record at a level whose law could
  decide) are never dropped silently. The `unknown` option decides where they go:
  `block` (the default, the conservative choice) lists them in `do_not_ship` with status
  `unknown`, so a shop that blocks that list blocks them until someone reviews them;
  `allow` lists them in a third list, `unknown`, which a shop reads as "ship, knowingly".

Places with status `legal`, or `regulated` without a minimum age, are in no list (the
`csv` and `json` exports have every place). Each row names the place by code, name, OCD
id, country (ISO 3166-1) and US subdivision (ISO 3166-2) so shop software can match an
address at any level, names the deciding level (code and name: a city inside a banned
county names the county), and carries the conditions, citation, source tier, the
`verify` flag (true: unverified, sources conflict or a vendor's claim), the `checked` date,
the last-verified time (`export.verified`), and since when the place is under review (an
official page changed and awaits review; empty otherwise). The CSV has one header row and
a `list` column; the JSON document (`tracker.shipping/1`, schema in `tracker/schemas/`)
has the lists as arrays and says which `unknown_policy` made them.
"""

from __future__ import annotations

import json
from typing import Any, TextIO

from tracker.export.fmt_csv import row_of, write_rows
from tracker.export.registry import register
from tracker.export.snapshot import Entry, Snapshot

SHIPPING_SCHEMA = "tracker.shipping/1"
DO_NOT_SHIP = ("banned", "restricted")
UNKNOWN_POLICIES = ("block", "allow")
DEFAULT_UNKNOWN = "block"
LISTS = ("do_not_ship", "min_age", "unknown")

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
    "conditions",
    "valid_from",
    "expires",
    "decided_by",
    "decided_by_name",
    "decided_level",
    "citation",
    "source_url",
    "source_tier",
    "verify",
    "checked",
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
    rec = entry.answer.record
    row["conditions"] = list(rec["conditions"]) if rec else []
    return {f: row[f] for f in FIELDS}


def unknown_policy(snapshot: Snapshot) -> str:
    """The snapshot's `unknown` option (block by default). Raises ValueError otherwise."""
    policy = snapshot.options.get("unknown", DEFAULT_UNKNOWN)
    if policy not in UNKNOWN_POLICIES:
        raise ValueError(f"unknown places: {policy!r} is not block or allow")
    return policy


def lists(snapshot: Snapshot) -> dict[str, list[dict[str, Any]]]:
    """The three lists (see the module doc), each sorted by country, subdivision, level
    and name."""
    out: dict[str, list[dict[str, Any]]] = {name: [] for name in LISTS}
    unknown_to = "do_not_ship" if unknown_policy(snapshot) == "block" else "unknown"
    for entry in snapshot.entries:
        a = entry.answer
        if a.status in DO_NOT_SHIP:
            out["do_not_ship"].append(_item(entry))
        elif a.status == "regulated" and a.min_age:
            out["min_age"].append(_item(entry))
        elif a.status == "unknown":
            out[unknown_to].append(_item(entry))
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


@register("shipping", suffixes=(".csv", ".json"), options=("unknown",))
def write_shipping(snapshot: Snapshot, out: TextIO, suffix: str) -> None:
    """Do-not-ship (banned, restricted; unknown unless --unknown allow) and minimum-age lists."""
    found = lists(snapshot)
    if suffix == ".json":
        doc = {
            "schema": SHIPPING_SCHEMA,
            "generated_at": snapshot.generated_at.isoformat(),
            "as_of": snapshot.as_of.isoformat(),
            "substance": snapshot.substance,
            "unknown_policy": unknown_policy(snapshot),
            **found,
        }
        json.dump(doc, out, ensure_ascii=False, indent=1)
        out.write("\n")
        return
    rows = [
        {"list": name, **item, "conditions": "; ".join(item["conditions"])}
        for name, items in found.items()
        for item in items
    ]
    write_rows(out, ("list", *FIELDS), rows)
