"""Singleton periodic jobs: work that one replica at a time does, on a schedule kept in
the database (`daemon_job`), never in a replica's memory.

Each job is a due row: `run_due` claims the rows whose `next_run_at` has come with
`tracker.storage.lease.claim` (so of several replicas exactly one gets each slot), runs the job
outside any transaction, then completes the row with a fenced update that sets the next
due time. A replica killed mid-job leaves its lease; when it expires (10 minutes)
another replica runs that slot again, which is harmless because every job is idempotent.
A job that raises is logged and tried again a minute later (or one period later, if
shorter).

Jobs (`SINGLETONS`):
- `retention`: the snapshot retention rule (`snapshots.prune`), every `retention_every`.
- `reminders`: `effective` and `expiring` events (`reminders.emit_due`, deduplicated by
  key), at the start of each UTC day and once when the job row is first created.

Each run is logged with `job`, `slot` (the `next_run_at` it ran for) and `owner`.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa

from tracker.law import reminders
from tracker.service.daemon_config import DaemonConfig
from tracker.settings import Settings
from tracker.storage import lease
from tracker.storage.engine import Database, dialect_insert
from tracker.storage.health import is_db_error
from tracker.storage.tables_service import DAEMON_JOB
from tracker.timeutil import utcnow
from tracker.watch import snapshots

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Context:
    db: Database
    settings: Settings
    config: DaemonConfig


@dataclass(frozen=True)
class Job:
    name: str
    run: Callable[[Context], str]  # returns a one-line summary for the log
    period: Callable[[DaemonConfig], timedelta]
    next_after: Callable[[datetime, DaemonConfig], datetime]


def _retention(ctx: Context) -> str:
    s = ctx.settings
    gone = snapshots.prune(
        ctx.db, keep_versions=s.snapshot_keep, keep_days=s.snapshot_keep_days, now=utcnow()
    )
    return f"{gone} snapshots deleted"


def _reminders(ctx: Context) -> str:
    done = reminders.emit_due(ctx.db, expiring_days=ctx.settings.expiring_days)
    return f"{done.effective} effective, {done.expiring} expiring events"


def next_utc_day(after: datetime, _cfg: DaemonConfig | None = None) -> datetime:
    """The start of the UTC day after `after`."""
    return datetime.combine(after.date() + timedelta(days=1), time(0, 0), tzinfo=UTC)


SINGLETONS: Mapping[str, Job] = {
    "retention": Job(
        "retention",
        _retention,
        lambda cfg: cfg.retention_every,
        lambda at, cfg: at + cfg.retention_every,
    ),
    "reminders": Job("reminders", _reminders, lambda cfg: timedelta(days=1), next_utc_day),
}


def ensure(db: Database, jobs: Mapping[str, Job] = SINGLETONS, now: datetime | None = None) -> None:
    """Create the rows of jobs that have none yet, due now (idempotent, race-free)."""
    now = now or utcnow()
    with db.write() as conn:
        known = set(conn.execute(sa.select(DAEMON_JOB.c.name)).scalars())
        missing = [{"name": n, "next_run_at": now, "runs": 0} for n in jobs if n not in known]
        if missing:
            conn.execute(
                dialect_insert(conn, DAEMON_JOB).on_conflict_do_nothing(index_elements=["name"]),
                missing,
            )


def run_due(
    ctx: Context,
    owner: str,
    jobs: Mapping[str, Job] = SINGLETONS,
    on_run: Callable[[str], None] | None = None,
) -> list[tuple[str, datetime]]:
    """Run every job that is due and that no other replica holds. Returns (name, slot)
    of the jobs this call ran. Database errors propagate (the caller retries later)."""
    claimed = lease.claim(
        ctx.db,
        DAEMON_JOB,
        owner,
        lease_for=ctx.config.job_lease,
        limit=max(1, len(jobs)),
        due_column="next_run_at",
        where=[DAEMON_JOB.c.name.in_(list(jobs))],
    )
    ran = []
    for row in claimed:
        job = jobs[row.name]
        started = utcnow()
        error = None
        try:
            summary = job.run(ctx)
        except Exception as exc:
            if is_db_error(exc):
                raise  # the lease expires; this or another replica runs the slot again
            logger.exception("job %s failed", job.name)
            error, summary = repr(exc)[:500], "failed"
        finished = utcnow()
        if error is None:
            nxt = job.next_after(finished, ctx.config)
        else:
            nxt = finished + min(timedelta(minutes=1), job.period(ctx.config))
        with ctx.db.write() as conn:
            kept = lease.complete(
                conn,
                DAEMON_JOB,
                row.id,
                owner,
                next_run_at=nxt,
                runs=row.runs + 1,
                last_started_at=started,
                last_finished_at=finished,
                last_owner=owner,
                last_error=error,
            )
        if not kept:
            logger.warning("job %s: lease lost while running; its result stays", job.name)
        logger.info(
            "job %s ran: %s",
            job.name,
            summary,
            extra={"job": job.name, "slot": row.next_run_at.isoformat(), "owner": owner},
        )
        ran.append((job.name, row.next_run_at))
        if on_run is not None:
            on_run(job.name)
    return ran
