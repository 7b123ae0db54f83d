"""Last verified: the latest time the tracker had grounds to believe a place's answer.

- Start from the knowledge time (`recorded_at`) of the record that decides the answer:
  when the tracker last recorded the deciding fact.
- Move it forward to the last successful check of a watched official page of the
  *deciding* place (a city inside a banned state is verified by the state's page), but
  only while no kratom-relevant change of that place's pages has been detected since the
  record was recorded: a relevant change means the record may be out of date until
  someone reviews it and records what the page now says.
- A review item of the deciding place dismissed by an operator (`tracker review N
  --dismiss`) is a verification of the record: the time of the dismissal counts, and
  the dismissed change (like one the page itself undid) no longer holds the time back.
- A place decided by no record (status `unknown` with nothing recorded) has no
  last-verified time (null).

`stale_records` lists the current records that decide their own place's answer and whose
last verification is older than `stale_days` (`tracker review --stale`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.law.effective import Answer, effective_all
from tracker.storage.tables_review import REVIEW_ITEM
from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE
from tracker.vocab import SUBSTANCES

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
    settled = sa.select(REVIEW_ITEM.c.change_id).where(
        REVIEW_ITEM.c.state.in_(("dismissed", "reverted"))
    )
    rows = conn.execute(
        sa.select(PAGE_CHANGE.c.place_code, sa.func.max(PAGE_CHANGE.c.detected_at))
        .where(
            PAGE_CHANGE.c.place_code.in_(list(codes)),
            PAGE_CHANGE.c.importance != "minor",
            PAGE_CHANGE.c.id.not_in(settled),
        )
        .group_by(PAGE_CHANGE.c.place_code)
    )
    return {code: when for code, when in rows if when is not None}


def _last_dismissed(conn: Connection, codes: Sequence[str]) -> dict[str, datetime]:
    rows = conn.execute(
        sa.select(REVIEW_ITEM.c.place_code, sa.func.max(REVIEW_ITEM.c.closed_at))
        .where(REVIEW_ITEM.c.place_code.in_(list(codes)), REVIEW_ITEM.c.state == "dismissed")
        .group_by(REVIEW_ITEM.c.place_code)
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
    dismissed = _last_dismissed(conn, deciders)
    for a in answers:
        recorded = out[a.place.code]
        if a.decided_by is None or recorded is None:
            continue
        review = dismissed.get(a.decided_by.code)
        if review is not None and review > recorded:
            out[a.place.code] = recorded = review
        check = checked.get(a.decided_by.code)
        change = changed.get(a.decided_by.code)
        if check is not None and check > recorded and (change is None or change <= recorded):
            out[a.place.code] = check
    return out


def stale_records(
    conn: Connection,
    days: int,
    *,
    now: datetime,
    codes: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Current records deciding their own place's answer today (either substance),
    last verified more than `days` ago, oldest verification first; each
    `{record, place, place_name, substance, status, min_age, citation, last_verified,
    age_days}`."""
    wanted = None if codes is None else sorted(set(codes))
    seen: dict[int, dict[str, Any]] = {}
    for substance in SUBSTANCES:
        answers = [
            a
            for a in effective_all(conn, substance, now.date(), codes=wanted)
            if a.record and a.decided_by and a.decided_by.code == a.place.code
        ]
        verified = last_verified(conn, answers)
        for a in answers:
            when = verified[a.place.code]
            rec = a.record
            assert rec is not None
            if when is None or rec["id"] in seen or now - when <= timedelta(days=days):
                continue
            seen[rec["id"]] = {
                "record": rec["id"],
                "place": a.place.code,
                "place_name": a.place.name,
                "substance": rec["substance"],
                "status": rec["status"],
                "min_age": rec["min_age"],
                "citation": rec["instrument"]["citation"] or rec["source"]["document"],
                "last_verified": when.isoformat(),
                "age_days": (now - when).days,
            }
    return sorted(seen.values(), key=lambda r: (r["last_verified"], r["place"]))
