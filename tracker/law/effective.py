"""The effective status of a place: its whole chain combined.

The law at a place is every level above it together: city, county, state, country, and
for US places the federal level. The most restrictive status wins (banned, restricted,
regulated, legal). A ban or restriction anywhere decides; otherwise a state, country or
federal level with no record makes the answer `unknown` (its law might be stricter), and
that level is named. County and city levels without a record of their own are skipped:
only those with rules are listed as places at all.

A rule whose `scope` is `unincorporated` (a county's rule for its unincorporated area)
answers for the county itself but not for the cities inside it: in a city's chain it is
listed as `elsewhere` at the county's level, decides nothing, and is left out of the
other substance's rules (`related`) shown beside the answer.

Among levels with the winning status, the decider is the one with the highest minimum
age, then the outermost (its rule applies whatever the local rules say). For `7-OH`, a
kratom rule also applies (kratom covers the leaf and all its alkaloids); a rule past its
`expires` date no longer applies and is shown as expired.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker.law import places as places_mod
from tracker.law.asof import known_filter, record_dict, rows_at, valid_filter
from tracker.law.dates import column_text
from tracker.law.places import label, level_name
from tracker.storage.tables_core import PENDING, STATUS, Place
from tracker.vocab import RESTRICTIVENESS, SUBSTANCE_COVERED_BY, SUBSTANCES


@dataclass
class Level:
    place: Place
    status: str = "unknown"
    record: dict[str, Any] | None = None
    expired: list[dict[str, Any]] = field(default_factory=list)
    # Rules of this level that do not reach the place asked about (an unincorporated-area
    # rule seen from a city inside the county).
    elsewhere: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "place": place_dict(self.place),
            "level": level_name(self.place),
            "status": self.status,
            "record": self.record,
            "expired": self.expired,
            "elsewhere": self.elsewhere,
        }


@dataclass
class Answer:
    place: Place
    substance: str
    as_of: date
    known_at: datetime | None
    status: str
    min_age: int | None
    decided_by: Place | None
    record: dict[str, Any] | None
    levels: list[Level]
    related: list[dict[str, Any]] = field(default_factory=list)
    pending: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The documented JSON shape of one answer (see README: JSON output)."""
        return {
            "place": place_dict(self.place),
            "substance": self.substance,
            "as_of": self.as_of.isoformat(),
            "known_at": self.known_at.isoformat() if self.known_at else None,
            "status": self.status,
            "min_age": self.min_age,
            "decided_by": (
                {**place_dict(self.decided_by), "level": level_name(self.decided_by)}
                if self.decided_by
                else None
            ),
            "record": self.record,
            "levels": [lvl.to_dict() for lvl in self.levels],
            "related": self.related,
            "pending": self.pending,
        }


def place_dict(place: Place) -> dict[str, Any]:
    return {
        "code": place.code,
        "name": place.name,
        "kind": place.kind,
        "label": label(place),
        "parent": place.parent_code,
        "iso_code": place.iso_code,
        "ocd_id": place.ocd_id,
        "fips": place.fips,
    }


def _rank(record: dict[str, Any], substance: str) -> tuple[int, int, int]:
    exact = 1 if record["substance"] == substance else 0
    return (RESTRICTIVENESS[record["status"]], record["min_age"] or 0, exact)


def _level(
    place: Place, rows: Sequence[Row[Any]], substance: str, as_of: date, *, outer: bool
) -> Level:
    """`place`'s level of an answer; `outer` when the answer is for a place inside it."""
    level = Level(place)
    applicable = SUBSTANCE_COVERED_BY[substance]
    candidates = []
    for row in rows:
        if row.substance not in applicable:
            continue
        rec = record_dict(row)
        if outer and row.scope == "unincorporated":
            level.elsewhere.append(rec)
        elif row.expires is not None and row.expires <= as_of:
            level.expired.append(rec)
        else:
            candidates.append(rec)
    if candidates:
        best = max(candidates, key=lambda r: _rank(r, substance))
        level.status, level.record = best["status"], best
    return level


def decide(
    place: Place,
    chain: Sequence[Place],
    rows_by_place: dict[str, list[Row[Any]]],
    substance: str,
    as_of: date,
    known_at: datetime | None,
) -> Answer:
    """Combine the levels of `chain` (innermost first) into one answer."""
    levels = [
        _level(p, rows_by_place.get(p.code, []), substance, as_of, outer=p.code != place.code)
        for p in chain
    ]
    counted = [
        lvl for lvl in levels if lvl.status != "unknown" or lvl.place.kind not in ("county", "city")
    ]
    known = [lvl for lvl in counted if lvl.status != "unknown"]
    unknown = [lvl for lvl in counted if lvl.status == "unknown"]
    top = max((RESTRICTIVENESS[lvl.status] for lvl in known), default=0)
    decider: Level | None
    if not known or (unknown and top < RESTRICTIVENESS["restricted"]):
        status, decider, min_age = "unknown", (unknown[0] if unknown else None), None
    else:
        winners = [lvl for lvl in known if RESTRICTIVENESS[lvl.status] == top]
        # Outermost first, then the highest minimum age wins among them.
        decider = max(reversed(winners), key=lambda lvl: (lvl.record or {}).get("min_age") or 0)
        status = decider.status
        ages = [
            lvl.record["min_age"]
            for lvl in known
            if lvl.record and lvl.record["min_age"] and lvl.status == "regulated"
        ]
        min_age = max(ages) if status == "regulated" and ages else None
    # The other substance's rules along the chain, for display; as for the levels, a
    # county's rule for its unincorporated area does not reach a place inside it.
    related = [
        record_dict(r)
        for p in chain
        for r in rows_by_place.get(p.code, [])
        if r.substance not in SUBSTANCE_COVERED_BY[substance]
        and not (p.code != place.code and r.scope == "unincorporated")
    ]
    return Answer(
        place=place,
        substance=substance,
        as_of=as_of,
        known_at=known_at,
        status=status,
        min_age=min_age,
        decided_by=decider.place if decider else None,
        record=decider.record if decider else None,
        levels=levels,
        related=related,
    )


def _group(rows: Iterable[Row[Any]]) -> dict[str, list[Row[Any]]]:
    out: dict[str, list[Row[Any]]] = {}
    for row in rows:
        out.setdefault(row.place_code, []).append(row)
    return out


def effective(
    conn: Connection,
    place: Place,
    substance: str,
    as_of: date,
    known_at: datetime | None = None,
    *,
    with_pending: bool = True,
) -> Answer:
    chain = places_mod.chain_of(conn, place)
    rows = rows_at(conn, [p.code for p in chain], SUBSTANCES, as_of, known_at)
    answer = decide(place, chain, _group(rows), substance, as_of, known_at)
    if with_pending:
        answer.pending = pending(conn, [p.code for p in chain], known_at)
    return answer


def answers_on(
    conn: Connection, place: Place, substance: str, days: Sequence[date], chain: Sequence[Place]
) -> list[Answer]:
    """`effective` (as known now, without pending measures) for several days of one place
    whose `chain` was read already, with one query in all: recording a belief asks for the
    answers before and after on two days, for every record a data file loads."""
    codes = [p.code for p in chain]
    rows = list(
        conn.execute(
            sa.select(STATUS).where(
                STATUS.c.place_code.in_(codes),
                STATUS.c.substance.in_(list(SUBSTANCES)),
                known_filter(None),
                sa.or_(*[valid_filter(d) for d in days]),
            )
        )
    )
    out = []
    for d in days:
        valid = [
            r
            for r in rows
            if (r.valid_from is None or r.valid_from <= d)
            and (r.valid_to is None or r.valid_to > d)
        ]
        out.append(decide(place, chain, _group(valid), substance, d, None))
    return out


def effective_all(
    conn: Connection,
    substance: str,
    as_of: date,
    known_at: datetime | None = None,
    codes: Iterable[str] | None = None,
) -> list[Answer]:
    """Answers for many places (all by default) with two queries in all."""
    by_code = {p.code: p for p in places_mod.all_places(conn)}
    rows = _group(rows_at(conn, None, SUBSTANCES, as_of, known_at))
    wanted = sorted(by_code) if codes is None else list(codes)
    out = []
    for code in wanted:
        chain, current = [], by_code.get(code)
        while current is not None and current not in chain:
            chain.append(current)
            current = by_code.get(current.parent_code) if current.parent_code else None
        out.append(decide(by_code[code], chain, rows, substance, as_of, known_at))
    return out


def pending(
    conn: Connection, codes: Sequence[str] | None, known_at: datetime | None = None
) -> list[dict[str, Any]]:
    """Pending measures believed at `known_at` (now when None) for some places."""
    q = sa.select(PENDING)
    if known_at is None:
        q = q.where(PENDING.c.superseded_at.is_(None))
    else:
        q = q.where(
            PENDING.c.recorded_at <= known_at,
            sa.or_(PENDING.c.superseded_at.is_(None), PENDING.c.superseded_at > known_at),
        )
    if codes is not None:
        q = q.where(PENDING.c.place_code.in_(list(codes)))
    return [pending_dict(r) for r in conn.execute(q.order_by(PENDING.c.place_code, PENDING.c.id))]


def pending_dict(row: Row[Any]) -> dict[str, Any]:
    m = row._mapping

    def pd(name: str) -> str | None:
        return column_text(m, name)

    return {
        "id": m["id"],
        "place": m["place_code"],
        "substance": m["substance"],
        "direction": m["direction"],
        "measure": m["measure"],
        "stage": m["stage"],
        "stage_date": pd("stage_date"),
        "published": pd("published"),
        "comments_close": pd("comments_close"),
        "source": {"url": m["source_url"], "title": m["source_title"], "tier": m["source_tier"]},
        "checked": pd("checked"),
        "verify": bool(m["verify"]),
        "note": m["note"],
        "recorded_at": m["recorded_at"].isoformat(),
        "superseded_at": m["superseded_at"].isoformat() if m["superseded_at"] else None,
    }
