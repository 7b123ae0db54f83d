"""Rate limits shared by every replica: fixed-window counters in the `web_rate` table.

`hit(conn, bucket, window, now)` counts one more event in `bucket` and returns the count
in the current window, with one atomic upsert (the window restarts when it has run out),
in the caller's transaction: a hit and the mail it allows commit together. Addresses
are kept only as a SHA-256 (`address_bucket`), so the table names nobody.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.storage.engine import dialect_insert
from tracker.storage.tables_web import WEB_RATE


def address_bucket(email: str) -> str:
    return "address:" + hashlib.sha256(email.encode()).hexdigest()


def client_bucket(client: str) -> str:
    return "client:" + (client or "unknown")[:64]


def hit(conn: Connection, bucket: str, window: timedelta, now: datetime) -> int:
    """Count one event in `bucket`; the number of events in its current window."""
    expired = WEB_RATE.c.window_start <= now - window
    stmt = dialect_insert(conn, WEB_RATE).values(bucket=bucket, window_start=now, count=1)
    stmt = stmt.on_conflict_do_update(
        index_elements=["bucket"],
        set_={
            "count": sa.case((expired, 1), else_=WEB_RATE.c.count + 1),
            "window_start": sa.case((expired, now), else_=WEB_RATE.c.window_start),
        },
    ).returning(WEB_RATE.c.count)
    count = int(conn.execute(stmt).scalar_one())
    # Forget windows that ended long ago (cheap: indexed, and only on a hit).
    conn.execute(WEB_RATE.delete().where(WEB_RATE.c.window_start < now - 2 * window))
    return count
