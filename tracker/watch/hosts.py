"""Per-host politeness, shared by every replica through the `host` table.

One request at a time per host, at least `delay` seconds apart (more when robots.txt
asks for a Crawl-delay), robots.txt respected.

API (for `tracker check` and the daemon):
- `acquire(db, name, owner, delay=..., wait=...)` claims the host's lease with
  `tracker.storage.lease.claim` (due column `next_allowed_at`) and returns a `HostSlot`, waiting
  up to `wait` seconds while another worker or replica holds it; None if still busy.
- The holder calls `slot.allows(fetcher, url)` (fetches robots.txt when the cached copy
  is stale), then for each request `slot.wait_turn()` before and `slot.done()` after.
- `release(slot)` completes the lease (fenced) with the next allowed time and the robots
  cache, so the next holder, in this process or another, keeps the spacing.
- The daemon claims hosts itself (`claim_due`: hosts that have due sources), then wraps
  each claimed row in a slot with `slot_for`.
A crashed holder's lease expires after `lease_for` (default `LEASE_FOR`, the daemon's
`host_lease` setting); `wait_turn` extends it while a long batch goes on.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from tracker.storage import lease
from tracker.storage.engine import Database, dialect_insert
from tracker.storage.tables_watch import HOST
from tracker.timeutil import utcnow
from tracker.watch.fetch import Fetcher
from tracker.watch.robots import Robots, fetch_robots

LEASE_FOR = timedelta(minutes=5)


def host_key(url: str) -> str:
    """`scheme://hostname[:port]`, the unit of politeness."""
    parts = urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme)
    port = f":{parts.port}" if parts.port and parts.port != default else ""
    return f"{parts.scheme}://{(parts.hostname or '').lower()}{port}"


@dataclass
class HostSlot:
    db: Database
    id: int
    name: str
    owner: str
    delay: float
    next_at: datetime
    lease_until: datetime
    robots: Robots | None
    crawl_delay: float | None = None
    robots_changed: bool = False
    lease_for: timedelta = LEASE_FOR

    @property
    def spacing(self) -> float:
        return max(self.delay, self.crawl_delay or 0.0)

    def wait_turn(self) -> None:
        """Sleep until the host may be asked again; keep the lease alive."""
        # Never longer than the spacing: after the wall clock jumps back, `next_at` lies
        # further ahead than any politeness rule asks for.
        pause = min((self.next_at - utcnow()).total_seconds(), self.spacing)
        if pause > 0:
            time.sleep(pause)
        now = utcnow()
        if self.lease_until - now < self.lease_for / 2:
            with self.db.write() as conn:
                lease.extend(conn, HOST, [self.id], self.owner, now + self.lease_for)
            self.lease_until = now + self.lease_for

    def done(self) -> None:
        """A request to the host just finished."""
        self.next_at = utcnow() + timedelta(seconds=self.spacing)

    def allows(self, fetcher: Fetcher, url: str) -> Robots:
        """The robots.txt rules for this host (fetched if stale). Check `.allows(url)`."""
        now = utcnow()
        if self.robots is None or not self.robots.fresh(now):
            self.wait_turn()
            self.robots = fetch_robots(fetcher, self.name, now)
            self.robots_changed = True
            self.done()
        self.crawl_delay = self.robots.crawl_delay(fetcher.user_agent)
        return self.robots


def acquire(
    db: Database,
    name: str,
    owner: str,
    *,
    delay: float,
    wait: float = 600.0,
    lease_for: timedelta = LEASE_FOR,
) -> HostSlot | None:
    """Claim host `name` for `owner`, waiting up to `wait` seconds. None if still busy."""
    deadline = time.monotonic() + wait
    while True:
        now = utcnow()
        rows = lease.claim(
            db,
            HOST,
            owner,
            lease_for=lease_for,
            due_column="next_allowed_at",
            where=[HOST.c.name == name],
            now=now,
        )
        if rows:
            return slot_for(db, rows[0], owner, delay=delay, now=now, lease_for=lease_for)
        with db.read() as conn:
            busy = conn.execute(
                sa.select(HOST.c.next_allowed_at, HOST.c.lease_until).where(HOST.c.name == name)
            ).first()
        if busy is None:
            # A host seen for the first time: create its row, then claim it. (Creating
            # it only then saves a write transaction per host and cycle.)
            ensure(db, [name], now)
            continue
        wake = max(busy.next_allowed_at, busy.lease_until or busy.next_allowed_at)
        pause = min(max((wake - now).total_seconds(), 0.05), 1.0)
        if time.monotonic() + pause > deadline:
            return None
        time.sleep(pause)


def slot_for(
    db: Database,
    row: Any,
    owner: str,
    *,
    delay: float,
    now: datetime,
    lease_for: timedelta = LEASE_FOR,
) -> HostSlot:
    """A slot for a `host` row `owner` has just claimed (at `now`, for `lease_for`)."""
    robots = None
    if row.robots_fetched_at is not None:
        robots = Robots(row.robots_status or 0, row.robots_text, row.robots_fetched_at)
    return HostSlot(
        db,
        row.id,
        row.name,
        owner,
        delay,
        now,
        now + lease_for,
        robots,
        row.crawl_delay,
        lease_for=lease_for,
    )


def ensure(db: Database, names: Iterable[str], now: datetime) -> None:
    """Create the `host` rows of `names` that do not exist yet (idempotent)."""
    wanted = sorted(set(names))
    if not wanted:
        return
    with db.write() as conn:
        known = set(conn.execute(sa.select(HOST.c.name).where(HOST.c.name.in_(wanted))).scalars())
        missing = [{"name": n, "next_allowed_at": now} for n in wanted if n not in known]
        if missing:
            conn.execute(
                dialect_insert(conn, HOST).on_conflict_do_nothing(index_elements=["name"]),
                missing,
            )


def claim_due(
    db: Database,
    owner: str,
    due_sources: Any,
    *,
    limit: int,
    lease_for: timedelta,
    now: datetime,
    skip: Iterable[str] = (),
) -> list[Any]:
    """Claim up to `limit` hosts whose turn has come and whose name is in the
    `due_sources` subquery (names of hosts with due, unleased sources), least recently
    used first; `skip` names hosts this process is already working on."""
    where: list[Any] = [HOST.c.name.in_(due_sources)]
    skipped = list(skip)
    if skipped:
        where.append(HOST.c.name.not_in(skipped))
    return lease.claim(
        db,
        HOST,
        owner,
        lease_for=lease_for,
        limit=limit,
        now=now,
        due_column="next_allowed_at",
        where=where,
        order_by=[HOST.c.next_allowed_at, HOST.c.id],
    )


def release(slot: HostSlot) -> bool:
    """Complete the lease with the next allowed time; False if the lease was lost."""
    values: dict[str, object] = {"next_allowed_at": slot.next_at}
    if slot.robots is not None:
        values["crawl_delay"] = slot.crawl_delay
        if slot.robots_changed:
            values.update(
                robots_status=slot.robots.status,
                robots_text=slot.robots.text,
                robots_fetched_at=slot.robots.fetched_at,
            )
    with slot.db.write() as conn:
        return lease.complete(conn, HOST, slot.id, slot.owner, **values)
