"""Leases: claiming due rows so that one worker at a time handles each, on SQLite and
PostgreSQL. Shared by the outbox dispatcher, source checks and per-host politeness.

A leasable table has an integer primary key `id`, a due-time column (default `due_at`),
and `lease_owner` (text, nullable) and `lease_until` (UTCDateTime, nullable) columns.

Contract:
- `claim` picks up to `limit` rows that are due and not leased (or whose lease has
  expired), sets `lease_owner`/`lease_until`, and returns them, in one statement.
  PostgreSQL: `UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING *`,
  so several replicas never claim the same row. SQLite: the same statement inside
  `BEGIN IMMEDIATE`, which serializes writers (one replica).
- Work happens outside any transaction.
- `complete` is fenced: it changes the row only if `lease_owner` is still the caller, and
  returns False otherwise (the lease expired and someone else took the row; the caller's
  result must then be dropped, which is the documented duplicate window).
- `release` gives back every lease an owner holds (graceful shutdown).
- `GATE.close()` stops this process from claiming anything more, after waiting for the
  claims in progress: a daemon stopping at once (a second signal) closes it before
  `release`, so no claim can commit after the release and outlive the process.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker.storage.engine import Database
from tracker.timeutil import utcnow


class Gate:
    """The claims in progress in this process, and a way to stop new ones."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._active = 0
        self._closed = False

    @contextmanager
    def enter(self) -> Iterator[bool]:
        """Yields False once the gate is closed (the caller claims nothing)."""
        with self._cond:
            open_ = not self._closed
            if open_:
                self._active += 1
        if not open_:
            yield False
            return
        try:
            yield True
        finally:
            with self._cond:
                self._active -= 1
                self._cond.notify_all()

    def close(self, timeout: float) -> bool:
        """No new claims; wait up to `timeout` s for those in progress. True if none is
        left."""
        with self._cond:
            self._closed = True
            return self._cond.wait_for(lambda: self._active == 0, timeout)

    def reopen(self) -> None:
        with self._cond:
            self._closed = False


GATE = Gate()


def claim(
    db: Database,
    table: sa.Table,
    owner: str,
    *,
    lease_for: timedelta,
    limit: int = 1,
    now: datetime | None = None,
    due_column: str = "due_at",
    where: Sequence[Any] = (),
    order_by: Sequence[Any] = (),
) -> list[Row[Any]]:
    """Claim up to `limit` due rows for `owner`; returns the claimed rows."""
    now = now or utcnow()
    due = table.c[due_column]
    free = sa.or_(table.c.lease_until.is_(None), table.c.lease_until <= now)
    pick = (
        sa.select(table.c.id)
        .where(due <= now, free, *where)
        .order_by(*(order_by or (due, table.c.id)))
        .limit(limit)
    )
    if db.is_postgres:
        pick = pick.with_for_update(skip_locked=True)
    stmt = (
        table.update()
        .where(table.c.id.in_(pick.scalar_subquery()))
        .values(lease_owner=owner, lease_until=now + lease_for)
        .returning(*table.c)
    )
    with GATE.enter() as open_:
        if not open_:
            return []
        with db.write() as conn:
            return list(conn.execute(stmt))


def complete(conn: Connection, table: sa.Table, row_id: int, owner: str, **values: Any) -> bool:
    """Fenced update that also clears the lease. False if `owner` no longer holds it."""
    result = conn.execute(
        table.update()
        .where(table.c.id == row_id, table.c.lease_owner == owner)
        .values(lease_owner=None, lease_until=None, **values)
    )
    return result.rowcount == 1


def extend(
    conn: Connection, table: sa.Table, ids: Sequence[int], owner: str, until: datetime
) -> int:
    """Push the lease of rows still held by `owner` to `until` (a heartbeat)."""
    if not ids:
        return 0
    result = conn.execute(
        table.update()
        .where(table.c.id.in_(list(ids)), table.c.lease_owner == owner)
        .values(lease_until=until)
    )
    return int(result.rowcount)


def release(db: Database, table: sa.Table, owner: str) -> int:
    """Give back every lease `owner` holds; the rows become claimable at once."""
    with db.write() as conn:
        result = conn.execute(
            table.update()
            .where(table.c.lease_owner == owner)
            .values(lease_owner=None, lease_until=None)
        )
        return int(result.rowcount)
