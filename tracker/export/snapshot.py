"""Everything an export shows, read in one transaction: the snapshot.

`build_snapshot` answers every place for one substance on one day (as known now), with
the pending measures of each chain, each place's last-verified value and the statements
about no place (`international`: the UN conventions, documentation, never a status); on
request it adds every place's full history (the status page) and the recent events (the
feed). Writers only format a snapshot, so all formats of one regeneration agree.

`check_as_of` refuses a day the exports cannot answer honestly: a day in the future
(nothing is known about it yet; `tracker status --as-of` answers planned changes) or
a day before the earliest dated record (every answer would be a guess).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.errors import UsageError
from tracker.export.verified import last_verified
from tracker.law.asof import record_dict
from tracker.law.dates import PartialDate
from tracker.law.effective import Answer, effective_all, pending
from tracker.law.places import level_name
from tracker.law.review import open_by_place, under_review
from tracker.storage.tables_core import EVENT, INTERNATIONAL, STATUS
from tracker.timeutil import today_utc, utcnow
from tracker.vocab import SUBSTANCE_COVERED_BY

EXPORT_SCHEMA = "tracker.export/1"

# Event kinds a public feed shows; `page_changed` only when it mentions kratom terms
# (importance `relevant`), and `source_failing` never (it is for operators).
FEED_KINDS = ("status_changed", "effective", "expiring", "pending_measure", "page_changed")
FEED_LIMIT = 100


@dataclass
class Entry:
    """One place in an export: its answer, last-verified time and pending measures."""

    answer: Answer
    last_verified: datetime | None  # the tracker's last confirmation (`export.verified`)
    pending: list[dict[str, Any]] = field(default_factory=list)
    # Open review items of the place or its deciding level (`law.review.under_review`).
    under_review: dict[str, Any] | None = None

    @property
    def code(self) -> str:
        return self.answer.place.code

    def to_dict(self) -> dict[str, Any]:
        """The export record of a place (`$defs/place_status` of the published schema)."""
        a, rec = self.answer, self.answer.record
        d = a.to_dict()
        return {
            "place": d["place"],
            "level": level_name(a.place),
            "substance": a.substance,
            "as_of": a.as_of.isoformat(),
            "status": a.status,
            "min_age": a.min_age,
            "conditions": list(rec["conditions"]) if rec else [],
            "valid_from": rec["valid_from"] if rec else None,
            "valid_to": rec["valid_to"] if rec else None,
            "expires": rec["expires"] if rec else None,
            "decided_by": (
                {k: d["decided_by"][k] for k in ("code", "name", "level")}
                if d["decided_by"]
                else None
            ),
            "instrument": rec["instrument"] if rec else None,
            "source": rec["source"] if rec else None,
            "source_tier": rec["source"]["tier"] if rec else None,
            "verify": bool(rec["verify"]) if rec else False,
            "checked": rec["checked"] if rec else None,
            "scope": rec["scope"] if rec else None,
            "note": rec["note"] if rec else None,
            "record_id": rec["id"] if rec else None,
            "last_verified": self.last_verified.isoformat() if self.last_verified else None,
            "levels": [_level_dict(lvl) for lvl in d["levels"]],
            "related": [_brief(r) for r in a.related],
            "pending": self.pending,
            "under_review": self.under_review,
        }


def _brief(rec: dict[str, Any]) -> dict[str, Any]:
    """A record in a few fields: enough to cite it beside a level."""
    return {
        "record_id": rec["id"],
        "place": rec["place"],
        "substance": rec["substance"],
        "status": rec["status"],
        "min_age": rec["min_age"],
        "valid_from": rec["valid_from"],
        "valid_to": rec["valid_to"],
        "expires": rec["expires"],
        "citation": rec["instrument"]["citation"],
        "url": rec["instrument"]["url"] or rec["source"]["url"],
        "source_tier": rec["source"]["tier"],
        "verify": bool(rec["verify"]),
        "checked": rec["checked"],
        "scope": rec["scope"],
    }


def _level_dict(level: dict[str, Any]) -> dict[str, Any]:
    rec = level["record"]
    return {
        "code": level["place"]["code"],
        "name": level["place"]["name"],
        "level": level["level"],
        "status": level["status"],
        "record": _brief(rec) if rec else None,
        "expired": [_brief(r) for r in level["expired"]],
        "elsewhere": [_brief(r) for r in level["elsewhere"]],
    }


@dataclass
class Snapshot:
    """Every place's entry (in place-code order) for one substance and day; `history`
    (place code -> every record ever held, all knowledge times) and `events` (newest
    first) are filled only when a format needs them."""

    substance: str
    as_of: date
    generated_at: datetime
    entries: list[Entry]
    history: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    events: list[dict[str, Any]] = field(default_factory=list)
    # Statements about no place for this substance (documentation, never a status).
    international: list[dict[str, Any]] = field(default_factory=list)
    # Per-export choices a format may read (shipping: `unknown` = block | allow).
    options: dict[str, str] = field(default_factory=dict)


def earliest_valid_from(conn: Connection) -> PartialDate | None:
    """The earliest start of any record ever held (with its precision), or None."""
    # A claim of no period (its sentinel start) is no dated record.
    row = conn.execute(
        sa.select(STATUS.c.valid_from, STATUS.c.valid_from_precision)
        .where(
            STATUS.c.valid_from.is_not(None),
            sa.or_(STATUS.c.valid_to.is_(None), STATUS.c.valid_to > STATUS.c.valid_from),
        )
        .order_by(STATUS.c.valid_from)
        .limit(1)
    ).first()
    return PartialDate.from_columns(row[0], row[1]) if row else None


def check_as_of(conn: Connection, as_of: date, today: date | None = None) -> None:
    """Raise UsageError for a day in the future or before the earliest dated record."""
    today = today or today_utc()
    if as_of > today:
        raise UsageError(
            f"--as-of {as_of.isoformat()} is in the future",
            f"Exports show what applies up to today ({today.isoformat()}); "
            "`tracker status PLACE --as-of DATE` shows a planned change.",
        )
    first = earliest_valid_from(conn)
    if first is None:
        raise UsageError(
            f"--as-of {as_of.isoformat()}: no dated record exists yet",
            "Omit --as-of to export the current status.",
        )
    if as_of < first.value:
        raise UsageError(
            f"--as-of {as_of.isoformat()} is before any record (the earliest starts {first})",
            f"Give a day from {first.value.isoformat()} to today.",
        )


def build_snapshot(
    conn: Connection,
    substance: str,
    as_of: date,
    *,
    needs: Iterable[str] = (),
    now: datetime | None = None,
) -> Snapshot:
    """Every place answered for `substance` on `as_of`, as known now (see module doc)."""
    wanted = set(needs)
    answers = effective_all(conn, substance, as_of)
    verified = last_verified(conn, answers)
    reviews = open_by_place(conn)
    by_place: dict[str, list[dict[str, Any]]] = {}
    for item in pending(conn, None):
        by_place.setdefault(item["place"], []).append(item)
    entries = []
    for a in answers:
        chain = [lvl.place.code for lvl in a.levels]
        items = [p for code in chain for p in by_place.get(code, [])]
        decider = a.decided_by.code if a.decided_by else None
        entries.append(
            Entry(a, verified[a.place.code], items, under_review(reviews, a.place.code, decider))
        )
    snap = Snapshot(substance, as_of, now or utcnow(), entries)
    snap.international = international(conn, substance)
    if "history" in wanted:
        snap.history = _history(conn)
    if "events" in wanted:
        # A feed for a past day shows the events known by the end of that day.
        until = None
        if as_of < snap.generated_at.date():
            until = datetime.combine(as_of + timedelta(days=1), time(0), UTC)
        snap.events = recent_events(conn, substance, until=until)
    return snap


def international(conn: Connection, substance: str) -> list[dict[str, Any]]:
    """The current statements about no place that speak of `substance` (or of kratom,
    which covers 7-OH), in the documented record shape, by code."""
    covered = list(SUBSTANCE_COVERED_BY[substance])
    rows = conn.execute(
        sa.select(INTERNATIONAL.c.record)
        .where(INTERNATIONAL.c.superseded_at.is_(None), INTERNATIONAL.c.substance.in_(covered))
        .order_by(INTERNATIONAL.c.code, INTERNATIONAL.c.id)
    )
    return [dict(record) for (record,) in rows]


def _history(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = {}
    q = sa.select(STATUS).order_by(
        STATUS.c.place_code,
        STATUS.c.substance,
        STATUS.c.valid_from.nulls_first(),
        STATUS.c.recorded_at,
        STATUS.c.id,
    )
    for row in conn.execute(q):
        out.setdefault(row.place_code, []).append(record_dict(row))
    return out


def recent_events(
    conn: Connection, substance: str, *, until: datetime | None = None, limit: int = FEED_LIMIT
) -> list[dict[str, Any]]:
    """The latest events a public feed shows for `substance`, newest first, that occurred
    before `until` (None: any time). Events about a substance that covers it (kratom for
    7-OH) and events about no substance count."""
    covered = list(SUBSTANCE_COVERED_BY[substance])
    q = (
        sa.select(EVENT)
        .where(
            EVENT.c.kind.in_(FEED_KINDS),
            sa.or_(EVENT.c.kind != "page_changed", EVENT.c.importance != "minor"),
            sa.or_(EVENT.c.substance.is_(None), EVENT.c.substance.in_(covered)),
        )
        .order_by(EVENT.c.occurred_at.desc(), EVENT.c.id.desc())
        .limit(limit)
    )
    if until is not None:
        q = q.where(EVENT.c.occurred_at < until)
    return [dict(row._mapping) for row in conn.execute(q)]
