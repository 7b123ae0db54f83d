"""Daily and weekly digests: one message per subscriber and period, holding every event
that reached the subscriber (as a digest item) since the last digest.

Due times live in the database (`subscriber.next_digest_at`, the next local hour in the
subscriber's time zone), so whichever replica's daemon runs `enqueue_due` claims each
due subscriber with a lease (`tracker.storage.lease`). For each one, in one transaction: the
pending items go into an outbox row keyed `digest:<subscriber>:<slot>`, the items are
marked with that key, and `next_digest_at` moves to the next slot after now, with a
fenced update. A crash before the commit leaves everything as it was; the lease expires
and the subscriber is claimed again. A period without events sends nothing.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker.alerts import outbox
from tracker.alerts.subscriptions import find, next_slot, normalize_email
from tracker.errors import UsageError
from tracker.storage import lease
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import DIGEST_ITEM, OUTBOX, SUBSCRIBER
from tracker.timeutil import utcnow

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)


def owner_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def slot_key(subscriber_id: int, slot: datetime) -> str:
    return f"digest:{subscriber_id}:{slot:%Y%m%dT%H%MZ}"


def pending_items(conn: Connection, subscriber_id: int) -> list[int]:
    """Ids of the events waiting for this subscriber's next digest, oldest first."""
    return list(
        conn.execute(
            sa.select(DIGEST_ITEM.c.event_id)
            .where(DIGEST_ITEM.c.subscriber_id == subscriber_id, DIGEST_ITEM.c.digest_key.is_(None))
            .order_by(DIGEST_ITEM.c.event_id)
        ).scalars()
    )


def enqueue_due(
    db: Database, *, now: datetime | None = None, owner: str | None = None, limit: int = 500
) -> int:
    """Build and enqueue the digests that are due at `now`. Returns how many digests were
    enqueued (subscribers with nothing new are only rescheduled). Call it as often as
    you like: a period is enqueued once."""
    now = now or utcnow()
    owner = owner or owner_name()
    total = 0
    while True:
        claimed = lease.claim(
            db,
            SUBSCRIBER,
            owner,
            lease_for=LEASE,
            limit=limit,
            now=now,
            due_column="next_digest_at",
            where=[SUBSCRIBER.c.status == "active", SUBSCRIBER.c.cadence != "immediate"],
        )
        if not claimed:
            return total
        with db.write() as conn:
            total += _chunk(conn, claimed, owner, now)


_B = sa.bindparam
# The fenced completion (`lease.complete`) and the marking of the items, prebuilt and
# run once per chunk with every subscriber's parameters (one executemany each), instead
# of four statements per subscriber: 10,000 digests took 10-24 s on SQLite that way.
_COMPLETE = (
    SUBSCRIBER.update()
    .where(SUBSCRIBER.c.id == _B("b_id"), SUBSCRIBER.c.lease_owner == _B("b_owner"))
    .values(
        lease_owner=None, lease_until=None, next_digest_at=_B("b_next"), digest_since=_B("b_since")
    )
)
_MARK = (
    DIGEST_ITEM.update()
    .where(DIGEST_ITEM.c.subscriber_id == _B("b_sub"), DIGEST_ITEM.c.event_id == _B("b_event"))
    .values(digest_key=_B("b_key"))
)


def _chunk(conn: Connection, claimed: list[Row[Any]], owner: str, now: datetime) -> int:
    """Enqueue the digests of `claimed` subscribers in the caller's write transaction;
    returns how many were enqueued."""
    held_q = sa.select(SUBSCRIBER.c.id).where(
        SUBSCRIBER.c.id.in_([s.id for s in claimed]), SUBSCRIBER.c.lease_owner == owner
    )
    if conn.dialect.name == "postgresql":
        # Locked until commit, so no replica can take them over between this read and
        # the completion below (on SQLite the write transaction already excludes it).
        held_q = held_q.with_for_update()
    held = set(conn.execute(held_q).scalars())
    waiting: dict[int, list[int]] = {sid: [] for sid in held}
    if held:
        rows = conn.execute(
            sa.select(DIGEST_ITEM.c.subscriber_id, DIGEST_ITEM.c.event_id)
            .where(DIGEST_ITEM.c.subscriber_id.in_(held), DIGEST_ITEM.c.digest_key.is_(None))
            .order_by(DIGEST_ITEM.c.event_id)
        )
        for sid, event_id in rows:
            waiting[sid].append(event_id)
    done: list[dict[str, Any]] = []
    boxes: list[dict[str, Any]] = []
    marks: list[dict[str, Any]] = []
    for sub in claimed:
        if sub.id not in held:
            logger.warning("digest of subscriber %s: lease lost, left to its new owner", sub.id)
            continue
        slot = sub.next_digest_at
        ids = waiting[sub.id]
        nxt = next_slot(sub.cadence, sub.hour, sub.weekday, sub.tz, max(slot, now))
        done.append(
            {
                "b_id": sub.id,
                "b_owner": owner,
                "b_next": nxt,
                "b_since": slot if ids else sub.digest_since,
            }
        )
        if not ids:
            continue
        key = slot_key(sub.id, slot)
        boxes.append(
            outbox.row(
                key,
                now=now,
                channel="email",
                purpose="digest",
                recipient=sub.email,
                subscriber_id=sub.id,
                payload=_period(sub, ids, slot),
            )
        )
        marks += [{"b_sub": sub.id, "b_event": e, "b_key": key} for e in ids]
    if done:
        conn.execute(_COMPLETE, done)
    if marks:
        conn.execute(_MARK, marks)
    if not boxes:
        return 0
    # A key that exists means that period was enqueued already (and is left as it is).
    # Counted first, then one executemany: a multi-row INSERT ... RETURNING of 500 rows
    # is compiled anew for every chunk size (2.5 of 13 s for 10,000 digests).
    keys = [b["key"] for b in boxes]
    existing = set(conn.execute(sa.select(OUTBOX.c.key).where(OUTBOX.c.key.in_(keys))).scalars())
    outbox.enqueue_many(conn, boxes)
    return len(set(keys) - existing)


def _period(sub: Any, ids: list[int], end: datetime) -> dict[str, Any]:
    """The payload of a digest: its events and the period they fall in."""
    start = sub.digest_since or sub.confirmed_at
    return {
        "event_ids": ids,
        "period_start": start.isoformat() if start else None,
        "period_end": end.isoformat(),
    }


def enqueue_now(conn: Connection, email: str, now: datetime | None = None) -> tuple[str, int]:
    """Enqueue, in the caller's write transaction, the digest `email` would get now
    (`tracker digest send`): every waiting item goes into an outbox row due now and is
    marked with its key, so the next regular digest starts after it; the regular
    schedule (`next_digest_at`) is kept. Returns (outbox key, number of events).
    Raises UsageError for an unknown or inactive address, or nothing waiting."""
    now = now or utcnow()
    address = normalize_email(email)
    sub = find(conn, address)
    if sub is None:
        raise UsageError(f"{address} is not subscribed", "`tracker subscribers` lists them.")
    if sub.status != "active" or sub.cadence == "immediate":
        raise UsageError(
            f"{address} gets no digest (status {sub.status}, cadence {sub.cadence})",
            "Digests go to confirmed subscribers with a daily or weekly cadence.",
        )
    if conn.dialect.name == "postgresql":
        # Serialized with `enqueue_due`, which locks the subscribers it completes.
        conn.execute(sa.select(SUBSCRIBER.c.id).where(SUBSCRIBER.c.id == sub.id).with_for_update())
    ids = pending_items(conn, sub.id)
    if not ids:
        raise UsageError(
            f"nothing is waiting for {address}'s next digest",
            "Digest items appear as matching events are recorded.",
        )
    key = slot_key(sub.id, now) + ":now"
    enqueued = outbox.enqueue(
        conn,
        key,
        channel="email",
        purpose="digest",
        recipient=sub.email,
        subscriber_id=sub.id,
        payload=_period(sub, ids, now),
        now=now,
    )
    if enqueued is None:  # one was sent this very minute: its key is taken
        raise UsageError(
            f"a digest for {address} was sent less than a minute ago",
            "Send again in a minute; what arrived since then waits for it.",
        )
    conn.execute(
        DIGEST_ITEM.update()
        .where(
            DIGEST_ITEM.c.subscriber_id == sub.id,
            DIGEST_ITEM.c.event_id.in_(ids),
            DIGEST_ITEM.c.digest_key.is_(None),
        )
        .values(digest_key=key)
    )
    conn.execute(SUBSCRIBER.update().where(SUBSCRIBER.c.id == sub.id).values(digest_since=now))
    return key, len(ids)


def preview_row(conn: Connection, email: str, now: datetime | None = None) -> Any:
    """An unsaved outbox row for the digest `email` would get now (`tracker digest
    preview`). Raises UsageError for an unknown address or nothing to show."""
    address = normalize_email(email)
    sub = find(conn, address)
    if sub is None:
        raise UsageError(f"{address} is not subscribed", "`tracker subscribers` lists them.")
    ids = pending_items(conn, sub.id)
    if not ids:
        raise UsageError(
            f"nothing is waiting for {address}'s next digest",
            "Digest items appear as matching events are recorded "
            f"(cadence {sub.cadence}, status {sub.status}).",
        )
    slot = sub.next_digest_at or now or utcnow()
    return _FakeRow(
        id=0,
        key=slot_key(sub.id, slot) + ":preview",
        channel="email",
        purpose="digest",
        recipient=sub.email,
        subscriber_id=sub.id,
        endpoint_id=None,
        event_id=None,
        payload={"event_ids": ids, "period_start": None, "period_end": slot.isoformat()},
    )


class _FakeRow:
    """Attribute access like a Row, for a message that is built but never stored."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)
