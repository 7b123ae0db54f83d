"""Leases on both backends: concurrent claimers never get the same row; completion is
fenced; expired leases are taken over."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import timedelta

import sqlalchemy as sa

from tracker.storage.engine import Database
from tracker.storage.lease import GATE, Gate, claim, complete, release
from tracker.storage.types import UTCDateTime
from tracker.timeutil import utcnow

META = sa.MetaData()
JOBS = sa.Table(
    "lease_test_job",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    sa.Column("lease_owner", sa.String, nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("done_by", sa.String, nullable=True),
)


def _setup(db: Database, n: int) -> None:
    META.create_all(db.engine)
    past = utcnow() - timedelta(seconds=1)
    with db.write() as conn:
        conn.execute(JOBS.insert(), [{"due_at": past} for _ in range(n)])


def test_concurrent_claimers_never_share_a_row(empty_db: Database) -> None:
    _setup(empty_db, 200)
    claimed: Counter[int] = Counter()
    lock = threading.Lock()

    def worker(name: str) -> None:
        while True:
            rows = claim(
                empty_db,
                JOBS,
                name,
                lease_for=timedelta(minutes=5),
                limit=7,
                where=[JOBS.c.done_by.is_(None)],
            )
            if not rows:
                return
            for row in rows:
                with lock:
                    claimed[row.id] += 1
                with empty_db.write() as conn:
                    assert complete(conn, JOBS, row.id, name, done_by=name)

    threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(claimed) == 200 and set(claimed.values()) == {1}


def test_fenced_completion_and_takeover(empty_db: Database) -> None:
    _setup(empty_db, 1)
    now = utcnow()
    (row,) = claim(empty_db, JOBS, "a", lease_for=timedelta(seconds=30), now=now)
    assert claim(empty_db, JOBS, "b", lease_for=timedelta(seconds=30), now=now) == []
    later = now + timedelta(seconds=31)  # a's lease expired: b takes the row over
    (again,) = claim(empty_db, JOBS, "b", lease_for=timedelta(seconds=30), now=later)
    assert again.id == row.id and again.lease_owner == "b"
    with empty_db.write() as conn:
        assert complete(conn, JOBS, row.id, "a", done_by="a") is False
        assert complete(conn, JOBS, row.id, "b", done_by="b") is True


def test_release_on_shutdown(empty_db: Database) -> None:
    _setup(empty_db, 3)
    assert len(claim(empty_db, JOBS, "a", lease_for=timedelta(hours=1), limit=3)) == 3
    assert release(empty_db, JOBS, "a") == 3
    assert len(claim(empty_db, JOBS, "b", lease_for=timedelta(hours=1), limit=3)) == 3


def test_a_closed_gate_waits_for_the_claim_in_progress_then_claims_nothing(
    empty_db: Database,
) -> None:
    """A daemon stopping at once closes the gate before giving its leases back: a claim
    already running finishes first (and is then released), and none starts after."""
    _setup(empty_db, 5)
    gate = Gate()
    inside, go_on = threading.Event(), threading.Event()
    got: list[int] = []

    def slow_claimer() -> None:
        with gate.enter() as open_:
            assert open_
            inside.set()
            go_on.wait(5)
            got.extend(r.id for r in claim(empty_db, JOBS, "w", lease_for=timedelta(minutes=5)))

    t = threading.Thread(target=slow_claimer)
    t.start()
    assert inside.wait(5)
    assert not gate.close(timeout=0.2)  # the claim in progress is waited for...
    go_on.set()
    assert gate.close(timeout=5)  # ...until it ends
    t.join()
    assert len(got) == 1
    with gate.enter() as open_:
        assert not open_  # closed: a claimer must claim nothing
    assert release(empty_db, JOBS, "w") == 1
    gate.reopen()
    with gate.enter() as open_:
        assert open_


def test_claim_returns_nothing_while_the_process_gate_is_closed(empty_db: Database) -> None:
    _setup(empty_db, 3)
    GATE.close(timeout=1)
    try:
        assert claim(empty_db, JOBS, "w", lease_for=timedelta(minutes=5), limit=3) == []
    finally:
        GATE.reopen()
    assert len(claim(empty_db, JOBS, "w", lease_for=timedelta(minutes=5), limit=3)) == 3
