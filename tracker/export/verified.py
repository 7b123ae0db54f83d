"""Last verified: the latest time the tracker had grounds to believe a place's answer.

- Start from the knowledge time (`recorded_at`) of the record that decides the answer:
  when the tracker last recorded the deciding fact.
- Move it forward to the last successful check of a watched official page of the
  *deciding* place (a city inside a banned state is verified by the state's page), but
  only while no kratom-relevant change of that place's pages has been detected since the
  record was recorded: a relevant change means the record may be out of date until
  someone reviews it and records what the page now says.
- A place decided by no record (status `unknown` with nothing recorded) has no
  last-verified time (null).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.law.effective import Answer
from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE

# Written into every JSON export, so the data explains itself.
MEANING = (
    "the knowledge time of the record that decides this answer, moved forward to the last "
    "successful check of an official page of the deciding place while no kratom-relevant "
    "change of that place's pages has been detected since the record; null when no record "
    "decides"
)


def _last_ok(conn: Connection, codes: Sequence[str]) -> dict[str, datetime]:
    rows = conn.execute(
        sa.select(SOURCE.c.place_code, sa.func.max(SOURCE.c.last_ok_at))
        .where(SOURCE.c.place_code.in_(list(codes)), SOURCE.c.last_ok_at.is_not(None))
        .group_by(SOURCE.c.place_code)
    )
    return {code: when for code, when in rows if when is not None}


def _last_relevant_change(conn: Connection, codes: Sequence[str]) -> dict[str, datetime]:
    rows = conn.execute(
        sa.select(PAGE_CHANGE.c.place_code, sa.func.max(PAGE_CHANGE.c.detected_at))
        .where(PAGE_CHANGE.c.place_code.in_(list(codes)), PAGE_CHANGE.c.importance == "relevant")
        .group_by(PAGE_CHANGE.c.place_code)
    )
    return {code: when for code, when in rows if when is not None}


def last_verified(conn: Connection, answers: Sequence[Answer]) -> dict[str, datetime | None]:
    """Last-verified time of each answer, keyed by its place code (see the module doc)."""
    out: dict[str, datetime | None] = {}
    for a in answers:
        rec = a.record
        out[a.place.code] = datetime.fromisoformat(rec["recorded_at"]) if rec else None
    deciders = sorted({a.decided_by.code for a in answers if a.decided_by and a.record})
    if not deciders:
        return out
    checked = _last_ok(conn, deciders)
    changed = _last_relevant_change(conn, deciders)
    for a in answers:
        recorded = out[a.place.code]
        if a.decided_by is None or recorded is None:
            continue
        check = checked.get(a.decided_by.code)
        change = changed.get(a.decided_by.code)
        if check is not None and check > recorded and (change is None or change <= recorded):
            out[a.place.code] = check
    return out


def verified_at(conn: Connection, items: Sequence[tuple[str, datetime]]) -> list[datetime]:
    """The same rule for single records: each (place code, recorded_at) moved forward to
    the last successful check of that place's official pages, while no kratom-relevant
    change of them was detected since (a place page shows it for every level)."""
    codes = sorted({code for code, _ in items})
    if not codes:
        return []
    checked, changed = _last_ok(conn, codes), _last_relevant_change(conn, codes)
    out = []
    for code, recorded in items:
        check, change = checked.get(code), changed.get(code)
        fresh = check is not None and check > recorded and (change is None or change <= recorded)
        out.append(check if fresh and check is not None else recorded)
    return out
