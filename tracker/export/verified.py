"""Last verified: the latest time the tracker had grounds to believe a place's answer.

- Start from the `checked` date of the record that decides the answer: the date of the
  newest material consulted for it, i.e. when the fact was last verified (never the day it
  was loaded), kept at its precision (`2021-04`).
- Move it forward to the last successful check of a watched official page of the
  *deciding* place (a city inside a banned state is verified by the state's page), when
  that check is later than the `checked` period and than the record's knowledge time, but
  only while no kratom-relevant change of that place's pages has been detected since the
  record was recorded: a relevant change means the record may be out of date until
  someone reviews it and records what the page now says. It is then an ISO 8601 time.
- A place decided by no record (status `unknown` with nothing recorded), or by a record
  of an undated page that no page check has confirmed since, has no last-verified value
  (null).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.law.dates import PartialDate
from tracker.law.effective import Answer
from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE

# Written into every JSON export, so the data explains itself.
MEANING = (
    "the checked date of the record that decides this answer (the newest material consulted "
    "for it, at its precision: YYYY, YYYY-MM or YYYY-MM-DD), moved forward to the time of the "
    "last successful check of an official page of the deciding place (an ISO 8601 time) while "
    "no kratom-relevant change of that place's pages has been detected since the record; null "
    "when no record decides or the deciding record's page is undated and unconfirmed"
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


def _after(check: datetime, checked: str | None) -> bool:
    """True when a page check falls after the whole `checked` period (or none is known)."""
    if checked is None:
        return True
    return check.date() >= PartialDate.parse(checked).period_end().value


def last_verified(conn: Connection, answers: Sequence[Answer]) -> dict[str, str | None]:
    """Last-verified value of each answer (a partial date or an ISO 8601 time), keyed by
    its place code (see the module doc)."""
    out: dict[str, str | None] = {}
    for a in answers:
        out[a.place.code] = a.record["checked"] if a.record else None
    deciders = sorted({a.decided_by.code for a in answers if a.decided_by and a.record})
    if not deciders:
        return out
    checked = _last_ok(conn, deciders)
    changed = _last_relevant_change(conn, deciders)
    for a in answers:
        rec = a.record
        if a.decided_by is None or rec is None:
            continue
        recorded = datetime.fromisoformat(rec["recorded_at"])
        check = checked.get(a.decided_by.code)
        change = changed.get(a.decided_by.code)
        if (
            check is not None
            and check > recorded
            and _after(check, rec["checked"])
            and (change is None or change <= recorded)
        ):
            out[a.place.code] = check.isoformat()
    return out
