"""Coverage: how much of the world the tracker can answer for, and how well.

`coverage` counts places by effective status and level on one day for one substance, and
lists what an operator should look at:

- places with **no record** of their own that answers on that day (for the substance, or
  for kratom, which covers 7-OH): a country or state among them answers `unknown`;
- **stale** records: records in current knowledge that have not ended by that day whose
  `checked` date is undated, or whose whole checked period (a month for `2025-03`, a year
  for `2025`) ended more than `stale_days` days before that day;
- **unverified** records (`verify`: sources conflict or the instrument is unconfirmed);
- records whose only source is a **vendor or advocacy page** (tier `vendor`).

The record lists cover every substance; claims of no period (undated seed documents)
answer nothing and are left out. Two queries and one pass over the places.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.law.asof import record_dict, rows_at
from tracker.law.belief import bounds, is_empty
from tracker.law.dates import checked_end
from tracker.law.effective import effective_all, place_dict
from tracker.law.places import all_places, label, level_name
from tracker.storage.tables_core import STATUS
from tracker.vocab import STATUSES, SUBSTANCE_COVERED_BY, SUBSTANCES

# Levels in the order a report lists them, outermost first.
LEVELS: tuple[str, ...] = ("federal", "country", "state", "district", "territory", "county", "city")


@dataclass
class Coverage:
    as_of: date
    substance: str
    stale_days: int
    counts: dict[str, dict[str, int]] = field(default_factory=dict)  # level -> status -> n
    no_record: list[dict[str, Any]] = field(default_factory=list)  # places
    stale: list[dict[str, Any]] = field(default_factory=list)  # record briefs
    unverified: list[dict[str, Any]] = field(default_factory=list)
    vendor_only: list[dict[str, Any]] = field(default_factory=list)

    @property
    def stale_before(self) -> date:
        """A checked period that ended before this day is stale."""
        return self.as_of - timedelta(days=self.stale_days)

    def totals(self) -> dict[str, int]:
        return {s: sum(c.get(s, 0) for c in self.counts.values()) for s in STATUSES}

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape (README: JSON output, `coverage`)."""
        return {
            "as_of": self.as_of.isoformat(),
            "substance": self.substance,
            "stale_days": self.stale_days,
            "stale_before": self.stale_before.isoformat(),
            "counts": self.counts,
            "totals": self.totals(),
            "no_record": self.no_record,
            "stale": self.stale,
            "unverified": self.unverified,
            "vendor_only": self.vendor_only,
        }


def _brief(rec: dict[str, Any], names: dict[str, str]) -> dict[str, Any]:
    return {
        "record_id": rec["id"],
        "place": rec["place"],
        "place_name": names.get(rec["place"], rec["place"]),
        "substance": rec["substance"],
        "status": rec["status"],
        "min_age": rec["min_age"],
        "valid_from": rec["valid_from"],
        "valid_to": rec["valid_to"],
        "citation": rec["instrument"]["citation"],
        "source_url": rec["source"]["url"],
        "source_tier": rec["source"]["tier"],
        "verify": rec["verify"],
        "checked": rec["checked"],
        "origin": rec["origin"],
    }


def is_stale(checked: str | None, before: date) -> bool:
    """True for an undated check, or one whose whole period ended before `before`."""
    end = checked_end(checked)
    return end is None or end <= before


def coverage(conn: Connection, substance: str, as_of: date, stale_days: int) -> Coverage:
    """The coverage report for `substance` on `as_of` (see the module doc)."""
    out = Coverage(as_of, substance, stale_days)
    places = all_places(conn)
    names = {p.code: label(p) for p in places}
    out.counts = {lvl: dict.fromkeys(STATUSES, 0) for lvl in LEVELS}
    for answer in effective_all(conn, substance, as_of):
        out.counts[level_name(answer.place)][answer.status] += 1
    out.counts = {lvl: c for lvl, c in out.counts.items() if any(c.values())}

    answering = {
        r.place_code
        for r in rows_at(conn, None, SUBSTANCE_COVERED_BY[substance], as_of, None)
        if r.expires is None or r.expires > as_of
    }
    order = {lvl: n for n, lvl in enumerate(LEVELS)}
    out.no_record = [
        {**place_dict(p), "level": level_name(p)}
        for p in sorted(places, key=lambda p: (order[level_name(p)], p.code))
        if p.code not in answering
    ]

    rows = conn.execute(
        sa.select(STATUS)
        .where(
            STATUS.c.superseded_at.is_(None),
            STATUS.c.substance.in_(SUBSTANCES),
            sa.or_(STATUS.c.valid_to.is_(None), STATUS.c.valid_to > as_of),
        )
        .order_by(STATUS.c.place_code, STATUS.c.substance, STATUS.c.valid_from.nulls_first())
    )
    for row in rows:
        if is_empty(bounds(row)):
            continue
        rec = _brief(record_dict(row), names)
        if is_stale(rec["checked"], out.stale_before):
            out.stale.append(rec)
        if rec["verify"]:
            out.unverified.append(rec)
        if rec["source_tier"] == "vendor":
            out.vendor_only.append(rec)
    return out
