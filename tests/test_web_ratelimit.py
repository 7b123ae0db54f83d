"""Rate-limit counters in the database (`tracker.web.ratelimit`), on both backends: one
atomic upsert per hit, a window that restarts when it has run out, old rows forgotten,
and concurrent hits from several threads all counted."""

from __future__ import annotations

import threading
from datetime import timedelta

import sqlalchemy as sa

from tracker.storage.engine import Database
from tracker.storage.tables_web import WEB_RATE
from tracker.timeutil import utcnow
from tracker.web import ratelimit


def test_hits_are_counted_per_window(empty_db: Database) -> None:
    now, window = utcnow(), timedelta(hours=1)
    bucket = ratelimit.address_bucket("a@example.org")
    assert bucket.startswith("address:") and "example" not in bucket
    with empty_db.write() as conn:
        counts = [ratelimit.hit(conn, bucket, window, now) for _ in range(3)]
        other = ratelimit.hit(conn, ratelimit.client_bucket("192.0.2.1"), window, now)
    assert counts == [1, 2, 3] and other == 1
    with empty_db.write() as conn:  # the window ran out: a new one starts
        assert ratelimit.hit(conn, bucket, window, now + window + timedelta(seconds=1)) == 1
    with empty_db.write() as conn:  # long after: the other bucket's row is forgotten
        ratelimit.hit(conn, bucket, window, now + 5 * window)
        left = conn.execute(sa.select(WEB_RATE.c.bucket)).scalars().all()
    assert left == [bucket]


def test_concurrent_hits_are_all_counted(empty_db: Database) -> None:
    now, window = utcnow(), timedelta(hours=1)

    def hit() -> None:
        for _ in range(5):
            with empty_db.write() as conn:
                ratelimit.hit(conn, "client:198.51.100.7", window, now)

    threads = [threading.Thread(target=hit) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    with empty_db.read() as conn:
        count = conn.execute(sa.select(WEB_RATE.c.count)).scalar_one()
    assert count == 20
