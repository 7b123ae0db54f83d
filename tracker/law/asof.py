"""Reading the status history as of a day and a knowledge time (the read side of
`tracker.law.history`), and the documented JSON shape of one record.

Kept apart from `history` so that `effective` (which answers from these rows) and
`history` (whose `status_changed` events are built from `effective` answers) do not
import each other.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker.law.belief import bounds, is_empty
from tracker.law.dates import column_text
from tracker.storage.tables_core import STATUS


def known_filter(known_at: datetime | None) -> Any:
    """Rows believed at `known_at` (None: now, using the partial index of current rows)."""
    if known_at is None:
        return STATUS.c.superseded_at.is_(None)
    return sa.and_(
        STATUS.c.recorded_at <= known_at,
        sa.or_(STATUS.c.superseded_at.is_(None), STATUS.c.superseded_at > known_at),
    )


def valid_filter(as_of: date) -> Any:
    return sa.and_(
        sa.or_(STATUS.c.valid_from.is_(None), STATUS.c.valid_from <= as_of),
        sa.or_(STATUS.c.valid_to.is_(None), STATUS.c.valid_to > as_of),
    )


def rows_at(
    conn: Connection,
    place_codes: Sequence[str] | None,
    substances: Sequence[str],
    as_of: date,
    known_at: datetime | None,
) -> list[Row[Any]]:
    """Rows valid on `as_of` as known at `known_at`, for some places (None: all)."""
    q = sa.select(STATUS).where(
        STATUS.c.substance.in_(list(substances)), valid_filter(as_of), known_filter(known_at)
    )
    if place_codes is not None:
        q = q.where(STATUS.c.place_code.in_(list(place_codes)))
    return list(conn.execute(q))


def record_dict(row: Row[Any] | dict[str, Any]) -> dict[str, Any]:
    """The documented JSON shape of one status record."""
    m = row._mapping if isinstance(row, Row) else row

    def pd(name: str) -> str | None:
        return column_text(m, name)

    # An empty span is a claim of no determinable period (see `belief.NO_PERIOD`): its
    # sentinel dates are never shown.
    no_period = is_empty(bounds(m))
    return {
        "id": m["id"],
        "assertion_id": m["assertion_id"],
        "place": m["place_code"],
        "substance": m["substance"],
        "status": m["status"],
        "min_age": m["min_age"],
        "conditions": list(m["conditions"] or []),
        "valid_from": None if no_period else pd("valid_from"),
        "valid_to": None if no_period else pd("valid_to"),
        "no_period": no_period,
        "expires": pd("expires"),
        "instrument": {
            "type": m["instrument_type"],
            "citation": m["instrument_citation"],
            "title": m["instrument_title"],
            "url": m["instrument_url"],
            "enacted": pd("instrument_enacted"),
        },
        "source": {
            "url": m["source_url"],
            "document": m["source_document"],
            "title": m["source_title"],
            "quote": m["source_quote"],
            "date": pd("source_date"),
            "tier": m["source_tier"],
        },
        "note": m["note"],
        "verify": bool(m["verify"]),
        "checked": pd("checked"),
        "scope": m["scope"],
        "origin": m["origin"],
        "recorded_at": m["recorded_at"].isoformat(),
        "superseded_at": m["superseded_at"].isoformat() if m["superseded_at"] else None,
    }


def history_rows(conn: Connection, place_code: str) -> list[Row[Any]]:
    """Every row ever recorded for a place, in knowledge-time then valid-time order."""
    return list(
        conn.execute(
            sa.select(STATUS)
            .where(STATUS.c.place_code == place_code)
            .order_by(
                STATUS.c.recorded_at,
                STATUS.c.substance,
                STATUS.c.valid_from.nulls_first(),
                STATUS.c.id,
            )
        )
    )
