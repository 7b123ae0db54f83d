"""Due checks in a daemon replica: claim hosts that have due sources, check them politely.

Each timer tick (`tick`, every `check_poll` seconds while the database is up, and again
whenever a host task ends) claims, for each free worker, one host whose turn has come and
that has due, unclaimed sources (`hosts.claim_due`: per-host politeness, shared by every
replica). A host task then, while it holds the host:

1. claims up to `host_batch` due sources of that host (`tracker.storage.lease.claim` on
   `next_check_at`: FOR UPDATE SKIP LOCKED on PostgreSQL, BEGIN IMMEDIATE on SQLite);
2. checks them one after another with `check.check_source` (the single check function,
   the same as `tracker check`), which stores each result with an update fenced on the
   source's lease and sets its next `next_check_at`;
3. claims again until nothing is due or its time slice is over, then releases the host.

Why no source is checked twice in one interval: a source is claimed only when
`next_check_at <= now` and its lease is free, and its result is stored (moving
`next_check_at` one interval on) only by the lease holder. A replica killed mid-cycle
leaves its leases; its sources become claimable when `check_lease` runs out and its hosts
when `host_lease` does; a result it had not committed is simply not there.

On stop, a host task finishes the check in progress, gives back the sources it claimed
but had not started (still due, for another replica), and releases the host. A check
that raises (a bug, a damaged snapshot) is logged and counted; a damaged current
snapshot is moved aside (`tracker.watch.quarantine`) and the source is due again at once. A
database error ends the task; the leases it held (its host, the sources it had claimed
but not finished) are remembered and given back by the first tick after the database
answers again, so this replica carries on at once instead of waiting `check_lease` for
its own leases to run out (another replica could take them only then too).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor, wait
from typing import Any

import sqlalchemy as sa

from tracker.service.daemon_config import DaemonConfig
from tracker.service.metrics import Metrics
from tracker.storage import lease
from tracker.storage.health import DbHealth, is_db_error
from tracker.storage.tables_watch import HOST, PAGE_CHECK, SOURCE
from tracker.timeutil import utcnow
from tracker.watch import hosts, quarantine
from tracker.watch.check import check_source
from tracker.watch.sources import next_due, spec_from_json
from tracker.watch.watcher import Watcher

logger = logging.getLogger(__name__)

SLICE = 10.0  # seconds a host task keeps its worker while other hosts may be waiting


class DueChecks:
    def __init__(
        self,
        w: Watcher,
        cfg: DaemonConfig,
        metrics: Metrics,
        health: DbHealth,
        stopping: threading.Event,
    ) -> None:
        self.w, self.cfg, self.metrics, self.health, self.stopping = (
            w,
            cfg,
            metrics,
            health,
            stopping,
        )
        self.pool = ThreadPoolExecutor(cfg.workers, thread_name_prefix="check")
        self.busy: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._ticking = threading.Lock()
        # Leases of tasks a database error ended (source ids, host ids): given back by
        # the next tick once the database answers (`_give_back_orphans`).
        self._orphan_sources: set[int] = set()
        self._orphan_hosts: set[int] = set()

    def tick(self) -> int:
        """Claim hosts for the free workers; returns how many were claimed."""
        if self.stopping.is_set():
            return 0
        if not self._ticking.acquire(blocking=False):
            return 0  # another thread is claiming right now
        try:
            with self._lock:
                free = self.cfg.workers - len(self.busy)
                working = list(self.busy)
            if free <= 0:
                return 0
            self._give_back_orphans()
            now = utcnow()
            due = sa.select(SOURCE.c.host).where(
                SOURCE.c.active,
                SOURCE.c.next_check_at <= now,
                sa.or_(SOURCE.c.lease_until.is_(None), SOURCE.c.lease_until <= now),
            )
            rows = hosts.claim_due(
                self.w.db,
                self.w.owner,
                due,
                limit=free,
                lease_for=self.cfg.host_lease,
                now=now,
                skip=working,
            )
            self.health.ok()
            for row in rows:
                slot = hosts.slot_for(
                    self.w.db,
                    row,
                    self.w.owner,
                    delay=self.cfg.host_delay,
                    now=now,
                    lease_for=self.cfg.host_lease,
                )
                with self._lock:
                    self.busy[row.name] = self.pool.submit(self._work, slot)
            return len(rows)
        finally:
            self._ticking.release()

    def in_flight(self) -> list[Future[None]]:
        """The host tasks running now."""
        with self._lock:
            return list(self.busy.values())

    def drain(self, timeout: float) -> bool:
        """Wait up to `timeout` s for the host tasks to end (call after `stopping` is
        set). True when every task ended."""
        with self._lock:
            futures = list(self.busy.values())
        _, not_done = wait(futures, timeout=timeout)
        self.pool.shutdown(wait=False, cancel_futures=True)
        return not not_done

    # ------------------------------------------------------------ one host

    def _work(self, slot: hosts.HostSlot) -> None:
        unfinished: set[int] = set()  # sources claimed and not yet completed
        try:
            self._host(slot, unfinished)
        except Exception as exc:
            self._failed(exc, f"host {slot.name}")
            if is_db_error(exc):
                with self._lock:
                    self._orphan_sources |= unfinished
                logger.info(
                    "work on host %s cut by a database error: its %d source lease(s) are "
                    "given back once the database answers",
                    slot.name,
                    len(unfinished),
                )
        finally:
            try:
                hosts.release(slot)
            except Exception as exc:  # the database went away: given back once it is here
                self._failed(exc, f"releasing host {slot.name}")
                if is_db_error(exc):
                    with self._lock:
                        self._orphan_hosts.add(slot.id)
            with self._lock:
                self.busy.pop(slot.name, None)
        if not self.stopping.is_set() and self.health.up:
            try:
                self.tick()  # a worker is free: look for more work now, not at the next tick
            except Exception as exc:
                self._failed(exc, "claiming hosts")

    def _host(self, slot: hosts.HostSlot, unfinished: set[int]) -> None:
        """Check the host's due sources for one time slice; `unfinished` holds, at any
        moment, the ids of the sources claimed and not yet completed."""
        deadline = time.monotonic() + SLICE
        lease_for = self.cfg.check_lease
        while not self.stopping.is_set():
            now = utcnow()
            rows = lease.claim(
                self.w.db,
                SOURCE,
                self.w.owner,
                lease_for=lease_for,
                limit=self.cfg.host_batch,
                now=now,
                due_column="next_check_at",
                where=[SOURCE.c.active, SOURCE.c.host == slot.name],
                order_by=[SOURCE.c.next_check_at, SOURCE.c.id],
            )
            if not rows:
                return
            unfinished.update(r.id for r in rows)
            claimed = time.monotonic()
            for i, row in enumerate(rows):
                if self.stopping.is_set():
                    self._give_back(rows[i:])
                    unfinished.clear()
                    return
                if time.monotonic() - claimed > lease_for.total_seconds() / 2:
                    claimed = time.monotonic()  # a long batch keeps its leases
                    with self.w.db.write() as conn:
                        ids = [r.id for r in rows[i:]]
                        lease.extend(conn, SOURCE, ids, self.w.owner, utcnow() + lease_for)
                self._check(slot, row)
                unfinished.discard(row.id)
            if time.monotonic() > deadline:
                return

    def _check(self, slot: hosts.HostSlot, row: Any) -> None:
        started = utcnow()
        self.metrics.lag.observe(max(0.0, (started - row.next_check_at).total_seconds()))
        try:
            result = check_source(self.w, row, slot=slot)
        except Exception as exc:
            if is_db_error(exc):
                raise
            self._internal_error(row, exc)
            return
        self.health.ok()
        self.metrics.duration.observe(result.duration_ms / 1000)
        if not result.stored:
            return
        self.metrics.checks.labels(result.outcome).inc()
        if result.outcome == "error":
            self.metrics.failures.labels("check").inc()
        if result.change_id is not None:
            self.metrics.changes.labels(result.importance or "minor").inc()

    def _internal_error(self, row: Any, exc: Exception) -> None:
        logger.error("check of %s raised %r", row.key, exc, exc_info=exc)
        self.metrics.failures.labels("internal").inc()
        now = utcnow()
        damaged = quarantine.damaged_current(self.w.db, row.id)
        if damaged is not None:
            quarantine.quarantine(self.w.db, damaged, f"check of {row.key}: {exc!r}")
            due = now  # check again at once, against an empty previous text
        else:
            due = next_due(spec_from_json(row.spec), now, self.w.config.default_every)
        error = f"internal error: {exc!r}"[:500]
        with self.w.db.write() as conn:
            if lease.complete(
                conn, SOURCE, row.id, self.w.owner, next_check_at=due, last_error=error
            ):
                conn.execute(
                    PAGE_CHECK.insert().values(
                        source_id=row.id,
                        started_at=now,
                        duration_ms=0,
                        outcome="error",
                        error=error,
                    )
                )

    def _give_back_orphans(self) -> None:
        """Give back the leases of tasks a database error ended (fenced on this owner:
        a lease another replica took over in the meantime is left alone)."""
        with self._lock:
            sources, hosts_ = sorted(self._orphan_sources), sorted(self._orphan_hosts)
        if not sources and not hosts_:
            return
        with self.w.db.write() as conn:
            for source_id in sources:
                lease.complete(conn, SOURCE, source_id, self.w.owner)
            for host_id in hosts_:
                lease.complete(conn, HOST, host_id, self.w.owner)
        with self._lock:
            self._orphan_sources -= set(sources)
            self._orphan_hosts -= set(hosts_)
        logger.info(
            "gave back %d source and %d host lease(s) left by a database outage",
            len(sources),
            len(hosts_),
        )

    def _give_back(self, rows: list[Any]) -> None:
        """Release claimed sources that were not started: they stay due."""
        with self.w.db.write() as conn:
            for row in rows:
                lease.complete(conn, SOURCE, row.id, self.w.owner)

    def _failed(self, exc: Exception, what: str) -> None:
        if is_db_error(exc):
            self.health.failed(exc)
            self.metrics.failures.labels("database").inc()
        else:
            logger.exception("%s failed", what)
            self.metrics.failures.labels("internal").inc()
