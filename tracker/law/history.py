"""The bitemporal status history: recording beliefs and asking what was believed.

Valid time `[valid_from, valid_to)` says when a rule applied; knowledge time
`[recorded_at, superseded_at)` says when the tracker held that belief. The table is
append-only: recording a new belief closes (sets `superseded_at` on) every current row of
the same place and substance whose valid time overlaps, and re-inserts the parts of those
rows that lie outside the new belief, all in one transaction with one knowledge time.
So, for any past knowledge time, the answer never changes afterwards, and current rows of
one place and substance never overlap (PostgreSQL also enforces that with a constraint).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker.alerts import events
from tracker.law import places
from tracker.law.belief import Belief, bounds, end_of, gaps, is_empty, overlaps, start_of
from tracker.law.effective import Answer, answers_on
from tracker.storage.engine import knowledge_time
from tracker.storage.tables_core import PLACE, STATUS


@dataclass
class Recorded:
    """What one call of `record_belief` did."""

    knowledge_time: datetime
    inserted: list[int] = field(default_factory=list)
    superseded: list[int] = field(default_factory=list)
    event_id: int | None = None
    unchanged: bool = False
    # Effective answers of the place for the recorded substance on `answer_days`, before
    # and after (what the event says and `tracker record` prints); empty when no event
    # was asked for.
    before: list[Answer] = field(default_factory=list)
    after: list[Answer] = field(default_factory=list)


_CONTENT = [
    c.name
    for c in STATUS.c
    if c.name not in ("id", "assertion_id", "recorded_at", "superseded_at", "origin")
]


def _lock_place(conn: Connection, place_code: str) -> None:
    # SQLite already holds the database write lock (BEGIN IMMEDIATE); on PostgreSQL the
    # place row is the lock that serializes writers of one place.
    if conn.dialect.name == "postgresql":
        conn.execute(sa.select(PLACE.c.code).where(PLACE.c.code == place_code).with_for_update())


def current_rows(conn: Connection, place_code: str, substance: str) -> list[Row[Any]]:
    return list(
        conn.execute(
            sa.select(STATUS)
            .where(
                STATUS.c.place_code == place_code,
                STATUS.c.substance == substance,
                STATUS.c.superseded_at.is_(None),
            )
            .order_by(STATUS.c.valid_from.nulls_first())
        )
    )


def record_belief(
    conn: Connection,
    belief: Belief,
    *,
    now: datetime | None = None,
    at: datetime | None = None,
    fill_gaps: bool = False,
    emit: bool = True,
) -> Recorded:
    """Record `belief` inside the caller's write transaction.

    The new belief wins over current rows where valid times overlap; the parts of those
    rows outside it are re-asserted. With `fill_gaps` it wins nowhere: it is recorded only
    for the parts of its valid time that no current row covers (how seed-document claims
    are loaded, so they never override cited records). A belief equal to a current row
    over the same span changes nothing. A belief of no period (`belief.NO_PERIOD`)
    overlaps nothing: it is recorded as it is and, since it changes no answer, emits no
    event. A `status_changed` event is written in the same transaction unless `emit` is
    False (or the place is unknown); its before and after are the place's effective
    answers (`Recorded.before`, `Recorded.after`).

    The knowledge time is `knowledge_time(conn, now)`, or `at` when the caller records
    several beliefs as one act (a data file) and got `at` from `knowledge_time` in this
    same transaction.
    """
    _lock_place(conn, belief.place_code)
    t = at or knowledge_time(conn, now)
    result = Recorded(t)
    span = (belief.valid_from, belief.valid_to)
    empty = is_empty(span)
    # A claim of no period changes no answer and emits no event: no answers to compare.
    place = places.get(conn, belief.place_code) if emit and not empty else None
    days = answer_days(belief, t.date())
    chain = places.chain_of(conn, place) if place is not None else []
    if place is not None:
        result.before = answers_on(conn, place, belief.substance, days, chain)
    current = current_rows(conn, belief.place_code, belief.substance)
    touching = [r for r in current if overlaps(bounds(r), span)]
    new_values = belief.values()

    if fill_gaps and not empty:
        pieces = gaps(span, [bounds(r) for r in current])
        if not pieces:
            result.unchanged = True
            result.after = result.before
            return result
        first_id: int | None = None
        for lo, hi in pieces:
            piece = replace(belief, valid_from=lo, valid_to=hi).values()
            rid = _insert(conn, piece, t, first_id)
            first_id = first_id or rid
            result.inserted.append(rid)
    else:
        if any(
            bounds(r) == span and all(r._mapping[c] == new_values[c] for c in _CONTENT)
            for r in current
        ):
            result.unchanged = True
            result.after = result.before
            return result
        for r in touching:
            if r.recorded_at == t:
                # Written earlier in this same act (a piece re-asserted by the previous
                # record of a data file): no reader ever saw it, so it is dropped rather
                # than left in history with an empty knowledge span.
                conn.execute(STATUS.delete().where(STATUS.c.id == r.id))
                continue
            conn.execute(STATUS.update().where(STATUS.c.id == r.id).values(superseded_at=t))
            result.superseded.append(r.id)
        new_id = _insert(conn, new_values, t, None)
        result.inserted.append(new_id)
        for r in touching:
            lo, hi = bounds(r)
            keep = {
                k: v
                for k, v in r._mapping.items()
                if k not in ("id", "recorded_at", "superseded_at")
            }
            assertion = r.assertion_id or r.id
            start, end = belief.valid_from, belief.valid_to
            if start is not None and start_of(lo) < start.value:
                left = {**keep, "valid_to": start.value, "valid_to_precision": start.precision}
                result.inserted.append(_insert(conn, left, t, assertion))
            if end is not None and end.value < end_of(hi):
                right = {**keep, "valid_from": end.value, "valid_from_precision": end.precision}
                result.inserted.append(_insert(conn, right, t, assertion))

    if place is not None:
        result.after = answers_on(conn, place, belief.substance, days, chain)
        result.event_id = _emit_change(
            conn, belief, place.name, result.before, result.after, t, fill_gaps
        )
    return result


def _insert(conn: Connection, values: dict[str, Any], t: datetime, assertion_id: int | None) -> int:
    row = {**values, "recorded_at": t, "superseded_at": None, "assertion_id": assertion_id}
    new_id = conn.execute(STATUS.insert().values(**row).returning(STATUS.c.id)).scalar_one()
    if assertion_id is None:
        conn.execute(STATUS.update().where(STATUS.c.id == new_id).values(assertion_id=new_id))
    return int(new_id)


def retract(conn: Connection, assertion_id: int, *, now: datetime | None = None) -> list[int]:
    """Close every current row of one assertion (its data-file item was removed)."""
    t = knowledge_time(conn, now)
    ids = list(
        conn.execute(
            sa.select(STATUS.c.id).where(
                STATUS.c.assertion_id == assertion_id, STATUS.c.superseded_at.is_(None)
            )
        ).scalars()
    )
    if ids:
        conn.execute(STATUS.update().where(STATUS.c.id.in_(ids)).values(superseded_at=t))
    return ids


def answer_days(belief: Belief, today: date) -> list[date]:
    """The days whose effective answers a record is judged by: today and the first day of
    the new rule (`tracker record` prints both, and its event carries both)."""
    return sorted({today, belief.valid_from.value} if belief.valid_from else {today})


def _brief(a: Answer) -> dict[str, Any]:
    return {
        "as_of": a.as_of.isoformat(),
        "status": a.status,
        "min_age": a.min_age,
        "decided_by": a.decided_by.code if a.decided_by else None,
    }


def _text(status: str, min_age: int | None) -> str:
    return status + (f" ({min_age}+)" if min_age else "")


def _emit_change(
    conn: Connection,
    belief: Belief,
    place: str,
    before: Sequence[Answer],
    after: Sequence[Answer],
    t: datetime,
    fill_gaps: bool,
) -> int | None:
    """The `status_changed` event: its before and after are the effective answers of the
    place (its whole chain, for the recorded substance), on the first day of the new
    rule (today when it has no start), exactly as `tracker record` prints them."""
    pairs = list(zip(before, after, strict=True))
    head = next(
        (p for p in pairs if belief.valid_from and p[0].as_of == belief.valid_from.value),
        pairs[-1],
    )
    b, a = head
    changed = any((x.status, x.min_age) != (y.status, y.min_age) for x, y in pairs)
    importance = "major" if changed and not fill_gaps else "minor"
    own = _text(belief.status, belief.min_age)
    title = (
        f"{place}: {belief.substance} {_text(b.status, b.min_age)} -> {_text(a.status, a.min_age)}"
        + (f" (recorded {own})" if own != _text(a.status, a.min_age) else "")
        + (f" from {belief.valid_from}" if belief.valid_from else "")
    )
    payload = {
        "place": belief.place_code,
        "place_name": place,
        "substance": belief.substance,
        "as_of": b.as_of.isoformat(),
        "old_status": [b.status],
        "old_min_age": b.min_age,
        "new_status": a.status,
        "min_age": a.min_age,
        "answers": [{"before": _brief(x), "after": _brief(y)} for x, y in pairs],
        "recorded_status": belief.status,
        "recorded_min_age": belief.min_age,
        "valid_from": str(belief.valid_from) if belief.valid_from else None,
        "valid_to": str(belief.valid_to) if belief.valid_to else None,
        "expires": str(belief.expires) if belief.expires else None,
        "citation": belief.instrument_citation,
        "instrument_type": belief.instrument_type,
        "source_url": belief.source_url,
        "source_document": belief.source_document,
        "source_tier": belief.source_tier,
        "note": belief.note,
        "origin": belief.origin,
        "verify": belief.verify,
        "checked": str(belief.checked) if belief.checked else None,
    }
    return events.emit(
        conn,
        "status_changed",
        importance=importance,
        title=title,
        place_code=belief.place_code,
        substance=belief.substance,
        payload=payload,
        occurred_at=t,
    )
