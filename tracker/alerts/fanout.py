"""Who gets an event: its outbox rows and digest items, written in the event's transaction
(`events.emit` calls `fan_out`).

Subscribers are found through `subscriber_place` (their place codes, `*` for everywhere,
indexed and kept in step with `subscriber.place_codes` by `subscriptions.subscribe`): one
indexed look-up of the event's place and the places above it returns exactly the
subscribers whose places match, so only those rows are read, and only the parts of their
filter left to decide (kinds, substances, importance) are checked here. Webhook endpoints
are few and read whole; their whole filter is checked.

Why: reading and decoding every subscriber for every event made a cycle of 200 page
changes with 2,000 subscribers spend 8.8 of its 12 s in the fan-out, and one of 1,000
changes with 10,000 subscribers would have spent minutes (`bench/faults`, 2026-11-21).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.alerts.filters import EventFilter, place_chain
from tracker.alerts.outbox import email_alert, enqueue_many, row
from tracker.storage.engine import dialect_insert
from tracker.storage.tables_alerts import (
    ANYWHERE,
    DIGEST_ITEM,
    SUBSCRIBER,
    SUBSCRIBER_PLACE,
    WEBHOOK,
)
from tracker.timeutil import utcnow

# The JSON lists as text (decoded below through a cache: most subscribers share the same
# kinds and substances, and decoding 320,000 rows of JSON was half of a 1,000-change cycle).
_CANDIDATES = sa.select(
    SUBSCRIBER.c.id,
    SUBSCRIBER.c.email,
    SUBSCRIBER.c.cadence,
    SUBSCRIBER.c.min_importance,
    sa.cast(SUBSCRIBER.c.kinds, sa.Text).label("kinds"),
    sa.cast(SUBSCRIBER.c.substances, sa.Text).label("substances"),
).where(
    SUBSCRIBER.c.status == "active",
    SUBSCRIBER.c.id.in_(
        sa.select(SUBSCRIBER_PLACE.c.subscriber_id).where(
            SUBSCRIBER_PLACE.c.place_code.in_(sa.bindparam("codes", expanding=True))
        )
    ),
)
_ENDPOINTS = sa.select(WEBHOOK).where(WEBHOOK.c.status == "active")


@lru_cache(maxsize=1024)
def _strings(text: str | None) -> tuple[str, ...]:
    return tuple(json.loads(text)) if text else ()


@lru_cache(maxsize=4096)
def _filter(kinds: str | None, substances: str | None, min_importance: str) -> EventFilter:
    """A subscriber's filter without its places (the look-up matched those already)."""
    return EventFilter(frozenset(), _strings(substances), _strings(kinds), min_importance)


def fan_out(conn: Connection, event_id: int, event: dict[str, Any]) -> int:
    """An outbox row for each matching immediate subscriber and webhook endpoint, a digest
    item for each matching daily or weekly subscriber, in the caller's transaction.
    Returns how many recipients matched."""
    chain = place_chain(conn, event["place_code"])
    subscribers = conn.execute(_CANDIDATES, {"codes": [*(chain or ()), ANYWHERE]}).all()
    endpoints = conn.execute(_ENDPOINTS).all()
    if not subscribers and not endpoints:
        return 0
    now = utcnow()
    kind, importance, substance = event["kind"], event["importance"], event["substance"]
    rows: list[dict[str, Any]] = []
    items: list[dict[str, Any]] = []
    for sub in subscribers:
        if not _filter(sub.kinds, sub.substances, sub.min_importance).matches(
            kind, importance, substance, chain
        ):
            continue
        if sub.cadence == "immediate":
            rows.append(email_alert(event_id, sub.id, sub.email, now))
        else:
            items.append({"subscriber_id": sub.id, "event_id": event_id, "digest_key": None})
    for ep in endpoints:
        if EventFilter.of(ep).matches(kind, importance, substance, chain):
            rows.append(
                row(
                    f"event:{event_id}:webhook:{ep.id}",
                    now=now,
                    channel="webhook",
                    purpose="alert",
                    recipient=ep.url,
                    endpoint_id=ep.id,
                    event_id=event_id,
                )
            )
    enqueue_many(conn, rows)
    if items:
        stmt = dialect_insert(conn, DIGEST_ITEM).on_conflict_do_nothing(
            index_elements=["subscriber_id", "event_id"]
        )
        conn.execute(stmt, items)
    return len(rows) + len(items)
