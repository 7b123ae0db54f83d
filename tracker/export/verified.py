"""Last verified: when a place's answer was last verified, kept as two facts because they
are different evidence.

- `checked` (the deciding record's own field): the date of the newest material a person
  consulted for the record (never the day it was loaded), at its precision (`2021-04`);
  null when its source page is undated.
- `last_verified` (this module): the latest time the tracker itself confirmed the record
  after recording it: a successful check of a watched official page of the *deciding*
  place (a city inside a banned state is confirmed by the state's page) that falls after
  the whole `checked` period, while no unsettled kratom-relevant change of that place's
  pages has been detected since the record was recorded (such a change means the record
  may be out of date until someone reviews it); or an operator's dismissal of a review
  item of that place (`tracker review N --dismiss`), which also settles the dismissed
  change, as a page that undid its own change does. Null until then, and for a place
  decided by no record. In the JSON export it stays an ISO 8601 time (the field's type
  in `tracker.export/1`).

A record's last verification is the later of the two (`latest`): what the status page,
the place pages and the exports show, and what `stale_records` (`tracker review
--stale`) compares with `stale_days`. `tracker coverage` counts staleness from `checked`
alone (`coverage.is_stale`); both judge a `checked` period by `dates.checked_end`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.law.dates import checked_end
from tracker.law.effective import Answer, effective_all
from tracker.storage.tables_review import REVIEW_ITEM
from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE
from tracker.vocab import SUBSTANCES

# Written into every JSON export, so the data explains itself.
MEANING = (
    "the latest time the tracker confirmed the record that decides this answer, after "
    "recording it: a successful check of an official page of the deciding place later than "
    "the record's checked period, with no kratom-relevant change of that place's pages "
    "detected since the record, or an operator's dismissal of a review of that place; null "
    "until then. `checked` is when a person last verified the record's sources (the newest "
    "material consulted, at its precision); the last verification is the later of the two"
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


def _after_checked(when: datetime, checked: str | None) -> bool:
    """True when `when` falls after the whole `checked` period (or none is known)."""
    end = checked_end(checked)
    return end is None or when.date() >= end


def _confirmations(
    conn: Connection, items: Sequence[tuple[str, datetime, str | None]]
) -> list[datetime | None]:
    """For each (place code, recorded_at, checked) of a record: the tracker's latest
    confirmation of it by that place's pages or reviews (see the module doc), or None."""
    codes = sorted({code for code, _, _ in items})
    if not codes:
        return []
    ok = _last_ok(conn, codes)
    changed = _last_relevant_change(conn, codes)
    dismissed = _last_dismissed(conn, codes)
    out: list[datetime | None] = []
    for code, recorded, checked in items:
        best: datetime | None = None
        review = dismissed.get(code)
        if review is not None and review > recorded:
            best = review
        check, change = ok.get(code), changed.get(code)
        if (
            check is not None
            and check > recorded
            and _after_checked(check, checked)
            and (change is None or change <= recorded)
            and (best is None or check > best)
        ):
            best = check
        out.append(best)
    return out


def last_verified(conn: Connection, answers: Sequence[Answer]) -> dict[str, datetime | None]:
    """The tracker's last confirmation of each answer's deciding record (by the deciding
    place's pages), keyed by the answer's place code (see the module doc)."""
    out: dict[str, datetime | None] = {a.place.code: None for a in answers}
    decided = [a for a in answers if a.decided_by is not None and a.record is not None]
    items = [
        (a.decided_by.code, datetime.fromisoformat(a.record["recorded_at"]), a.record["checked"])
        for a in decided
        if a.decided_by is not None and a.record is not None
    ]
    for a, when in zip(decided, _confirmations(conn, items), strict=True):
        out[a.place.code] = when
    return out


def latest(checked: str | None, confirmed: datetime | None) -> date | None:
    """The day of a record's last verification: its confirmation, or else the last day of
    its `checked` period (the latest day the material could be from); None for neither."""
    end = checked_end(checked)
    if confirmed is not None and (end is None or confirmed.date() >= end):
        return confirmed.date()
    return None if end is None else end - timedelta(days=1)


def stale_records(
    conn: Connection,
    days: int,
    *,
    now: datetime,
    codes: Iterable[str] | None = None,
) -> list[dict[str, Any]]:
    """Current records deciding their own place's answer today (either substance), last
    verified (`latest`) more than `days` ago or never (an undated source, unconfirmed),
    those first, then the oldest verification; each `{record, place, place_name,
    substance, status, min_age, citation, checked, last_verified, age_days}`
    (`last_verified` a day, `age_days` null when never verified)."""
    wanted = None if codes is None else sorted(set(codes))
    seen: dict[int, dict[str, Any]] = {}
    for substance in SUBSTANCES:
        answers = [
            a
            for a in effective_all(conn, substance, now.date(), codes=wanted)
            if a.record and a.decided_by and a.decided_by.code == a.place.code
        ]
        verified = last_verified(conn, answers)
        today = now.date()
        for a in answers:
            rec = a.record
            assert rec is not None
            day = latest(rec["checked"], verified[a.place.code])
            age = None if day is None else (today - day).days
            if rec["id"] in seen or (age is not None and age <= days):
                continue
            seen[rec["id"]] = {
                "record": rec["id"],
                "place": a.place.code,
                "place_name": a.place.name,
                "substance": rec["substance"],
                "status": rec["status"],
                "min_age": rec["min_age"],
                "citation": rec["instrument"]["citation"] or rec["source"]["document"],
                "checked": rec["checked"],
                "last_verified": day.isoformat() if day else None,
                "age_days": age,
            }
    # Undated (never verified) first, then the oldest verification.
    return sorted(seen.values(), key=lambda r: (r["last_verified"] or "", r["place"]))


def verified_on(conn: Connection, records: Sequence[dict[str, Any]]) -> list[date | None]:
    """The day of each record's last verification (`latest`), each confirmed by its own
    place's pages: a place page shows it for every level of the chain."""
    confirmed = _confirmations(
        conn,
        [(r["place"], datetime.fromisoformat(r["recorded_at"]), r["checked"]) for r in records],
    )
    return [latest(r["checked"], c) for r, c in zip(records, confirmed, strict=True)]
