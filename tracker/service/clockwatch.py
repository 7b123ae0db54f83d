"""Clock jumps: noticing them, and repairing what they would otherwise break.

The schedule lives in the database as wall-clock times (`next_check_at`, `lease_until`,
`next_digest_at`, ...), so a jump of the wall clock moves every due time at once:

- **forward** (the clock gains an hour): everything looks due and every lease looks
  expired, including leases this replica still holds and works under; other replicas
  could take that work over. Nothing is lost (completions are fenced), but work would be
  done twice. Repair: `extend_own_leases` renews every lease this replica holds.
- **backward** (the clock loses an hour): due times stored before the jump lie an hour
  further in the future than they should, so sources, digests and jobs would wait an hour
  extra, and leases of dead replicas would last an hour longer. Repair:
  `clamp_schedule` brings each due time back to at most one period from now (a source's
  interval plus jitter, a digest's next local hour, a job's period) and each lease to at
  most one lease length from now. APScheduler's own timers (wall-clock based) are
  rescheduled to now by the daemon.

`ClockWatch.check()` compares how far the wall clock and the monotonic clock moved since
the last call; a difference above `threshold` seconds is a jump, passed to `on_jump`
(positive: forward). Slow NTP slewing never reaches the threshold.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tracker.alerts.subscriptions import next_slot
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import SUBSCRIBER
from tracker.storage.tables_service import DAEMON_JOB
from tracker.storage.tables_watch import HOST, SOURCE
from tracker.timeutil import utcnow
from tracker.watch import policy
from tracker.watch.sources import next_due, parse_every, spec_from_json

logger = logging.getLogger(__name__)


class ClockWatch:
    def __init__(
        self,
        threshold: float,
        on_jump: Callable[[float], None],
        wall: Callable[[], float] = time.time,
        mono: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold, self.on_jump, self.wall, self.mono = threshold, on_jump, wall, mono
        self._wall0, self._mono0 = wall(), mono()

    def check(self) -> float | None:
        """The size of the jump since the last call (seconds, + forward), or None."""
        wall, mono = self.wall(), self.mono()
        skew = (wall - self._wall0) - (mono - self._mono0)
        self._wall0, self._mono0 = wall, mono
        if abs(skew) <= self.threshold:
            return None
        self.on_jump(skew)
        return skew


def repair(
    db: Database,
    owner: str,
    skew: float,
    *,
    leases: Mapping[sa.Table, timedelta],
    periods: Mapping[str, timedelta],
    default_every: str,
    host_delay: float,
) -> int:
    """After a jump of `skew` seconds: renew `owner`'s leases (forward) or bring the
    schedule back within reach (backward). Returns how many rows changed."""
    now = utcnow()
    if skew > 0:
        return extend_own_leases(db, owner, leases, now)
    return clamp_schedule(
        db, now, leases=leases, periods=periods, default_every=default_every, host_delay=host_delay
    )


def extend_own_leases(
    db: Database, owner: str, leases: Mapping[sa.Table, timedelta], now: datetime
) -> int:
    """Renew every lease `owner` holds, each table by its own lease length."""
    total = 0
    with db.write() as conn:
        for table, length in leases.items():
            total += conn.execute(
                table.update().where(table.c.lease_owner == owner).values(lease_until=now + length)
            ).rowcount
    return total


def clamp_schedule(
    db: Database,
    now: datetime,
    *,
    leases: Mapping[sa.Table, timedelta],
    periods: Mapping[str, timedelta],
    default_every: str,
    host_delay: float,
) -> int:
    """Bring due times and leases back within one period (or lease) of `now`. Returns
    how many rows changed. Idempotent; safe with several replicas running."""
    changed = 0
    slack = 1 + policy.current().jitter
    with db.write() as conn:
        for table, length in leases.items():
            changed += conn.execute(
                table.update()
                .where(table.c.lease_until > now + length)
                .values(lease_until=now + length)
            ).rowcount
        rows = conn.execute(sa.select(SOURCE.c.id, SOURCE.c.spec, SOURCE.c.next_check_at))
        for row in rows.all():
            spec = spec_from_json(row.spec)
            if spec.cron:
                bound = next_due(spec, now, default_every)
            else:
                bound = now + parse_every(spec.every or default_every) * slack
            changed += _lower(conn, SOURCE, "next_check_at", row.id, row.next_check_at, bound)
        hosts = conn.execute(sa.select(HOST.c.id, HOST.c.next_allowed_at, HOST.c.crawl_delay))
        for row in hosts.all():
            bound = now + timedelta(seconds=max(host_delay, row.crawl_delay or 0.0))
            changed += _lower(conn, HOST, "next_allowed_at", row.id, row.next_allowed_at, bound)
        jobs = conn.execute(sa.select(DAEMON_JOB.c.id, DAEMON_JOB.c.name, DAEMON_JOB.c.next_run_at))
        for row in jobs.all():
            if row.name in periods:
                bound = now + periods[row.name]
                changed += _lower(conn, DAEMON_JOB, "next_run_at", row.id, row.next_run_at, bound)
        subs = conn.execute(sa.select(SUBSCRIBER).where(SUBSCRIBER.c.next_digest_at > now))
        for row in subs.all():
            slot = next_slot(row.cadence, row.hour, row.weekday, row.tz, now)
            if slot is not None:
                changed += _lower(
                    conn, SUBSCRIBER, "next_digest_at", row.id, row.next_digest_at, slot
                )
    if changed:
        logger.warning("clock jump: %d due times and leases brought back within reach", changed)
    return changed


def _lower(
    conn: Any, table: sa.Table, column: str, row_id: int, value: datetime, bound: datetime
) -> int:
    if value is None or value <= bound:
        return 0
    return int(
        conn.execute(table.update().where(table.c.id == row_id).values({column: bound})).rowcount
    )
