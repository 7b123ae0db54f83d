"""Prometheus metrics of one daemon replica (`GET /metrics`, text format 0.0.4).

Counters and histograms count what this replica did since it started (sum them over
replicas in Prometheus):

    tracker_checks_total{outcome}           checks stored, by outcome (changed, error, ...)
    tracker_changes_total{importance}       page changes detected (relevant, minor)
    tracker_deliveries_total{result}        outbox rows handled (sent, retry, dead, ...)
    tracker_failures_total{kind}            check (a source failed), internal (a bug or
                                            corrupt data), database (unreachable), job
    tracker_check_lag_seconds               histogram: check start - next_check_at
    tracker_check_duration_seconds          histogram: one check, fetch to commit
    tracker_job_runs_total{job}             singleton jobs this replica ran
    tracker_digests_enqueued_total          digests put in the outbox
    tracker_clock_jumps_total{direction}    forward or backward jumps of the wall clock

Gauges read from the database at each scrape (the same for every replica):

    tracker_database_up                     1 when the database answered this scrape
    tracker_queue_depth{queue}              sources_due, outbox_pending, outbox_due,
                                            outbox_dead, digests_due
    tracker_lag_seconds{queue}              age of the oldest due, unclaimed item
                                            (checks, outbox): how far behind the
                                            replicas together are
    tracker_replicas                        replicas with a heartbeat in the last minute
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import timedelta

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from tracker import __version__
from tracker.storage.engine import Database
from tracker.storage.health import DbHealth, is_db_error
from tracker.storage.tables_alerts import OUTBOX, SUBSCRIBER
from tracker.storage.tables_service import DAEMON_REPLICA
from tracker.storage.tables_watch import SOURCE
from tracker.timeutil import utcnow

logger = logging.getLogger(__name__)

_LAG_BUCKETS = (0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800, float("inf"))
_DURATION_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, float("inf"))


class Metrics:
    """Every metric of one replica, in a registry of its own (several daemons can live
    in one test process)."""

    def __init__(self, db: Database, health: DbHealth, owner: str) -> None:
        r = self.registry = CollectorRegistry()
        self.checks = Counter(
            "tracker_checks", "Checks stored, by outcome.", ["outcome"], registry=r
        )
        self.changes = Counter(
            "tracker_changes", "Page changes detected, by importance.", ["importance"], registry=r
        )
        self.deliveries = Counter(
            "tracker_deliveries", "Outbox rows handled, by result.", ["result"], registry=r
        )
        self.failures = Counter(
            "tracker_failures",
            "Failures: check, internal, database, job.",
            ["kind"],
            registry=r,
        )
        self.lag = Histogram(
            "tracker_check_lag_seconds",
            "Check start minus the source's next_check_at.",
            buckets=_LAG_BUCKETS,
            registry=r,
        )
        self.duration = Histogram(
            "tracker_check_duration_seconds",
            "Duration of one check.",
            buckets=_DURATION_BUCKETS,
            registry=r,
        )
        self.job_runs = Counter("tracker_job_runs", "Singleton job runs.", ["job"], registry=r)
        self.digests = Counter("tracker_digests_enqueued", "Digests enqueued.", registry=r)
        self.clock_jumps = Counter(
            "tracker_clock_jumps", "Wall-clock jumps.", ["direction"], registry=r
        )
        info = Gauge("tracker_replica_info", "This replica.", ["owner", "version"], registry=r)
        info.labels(owner=owner, version=__version__).set(1)
        r.register(_DatabaseCollector(db, health))

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _DatabaseCollector(Collector):
    def __init__(self, db: Database, health: DbHealth) -> None:
        self.db = db
        self.health = health

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily("tracker_database_up", "1 when the database answered.")
        depth = GaugeMetricFamily("tracker_queue_depth", "Items waiting.", labels=["queue"])
        lag = GaugeMetricFamily(
            "tracker_lag_seconds", "Age of the oldest due, unclaimed item.", labels=["queue"]
        )
        replicas = GaugeMetricFamily("tracker_replicas", "Replicas seen in the last minute.")
        try:
            q = queue_figures(self.db)
        except Exception as exc:
            if not is_db_error(exc):
                logger.exception("metrics: reading the queues failed")
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for name in ("sources_due", "outbox_pending", "outbox_due", "outbox_dead", "digests_due"):
            depth.add_metric([name], q[name])
        yield depth
        lag.add_metric(["checks"], q["checks_lag"])
        lag.add_metric(["outbox"], q["outbox_lag"])
        yield lag
        replicas.add_metric([], q["replicas"])
        yield replicas


def queue_figures(db: Database) -> dict[str, float]:
    """Queue depths and lags as the database shows them now (also for /status.json)."""
    now = utcnow()
    free_source = sa.or_(SOURCE.c.lease_until.is_(None), SOURCE.c.lease_until <= now)
    free_out = sa.or_(OUTBOX.c.lease_until.is_(None), OUTBOX.c.lease_until <= now)
    due_source = sa.and_(SOURCE.c.active, SOURCE.c.next_check_at <= now, free_source)
    pending = OUTBOX.c.status == "pending"
    with db.read() as conn:
        sources_due, oldest_check = conn.execute(
            sa.select(sa.func.count(), sa.func.min(SOURCE.c.next_check_at)).where(due_source)
        ).one()
        by_status = conn.execute(
            sa.select(OUTBOX.c.status, sa.func.count())
            .where(OUTBOX.c.status.in_(("pending", "dead")))
            .group_by(OUTBOX.c.status)
        )
        counts: dict[str, int] = {status: n for status, n in by_status}
        outbox_due, oldest_out = conn.execute(
            sa.select(sa.func.count(), sa.func.min(OUTBOX.c.due_at)).where(
                pending, OUTBOX.c.due_at <= now, free_out
            )
        ).one()
        digests_due = conn.execute(
            sa.select(sa.func.count()).where(
                SUBSCRIBER.c.status == "active",
                SUBSCRIBER.c.cadence != "immediate",
                SUBSCRIBER.c.next_digest_at <= now,
            )
        ).scalar_one()
        replicas = conn.execute(
            sa.select(sa.func.count()).where(DAEMON_REPLICA.c.seen_at >= now - timedelta(minutes=1))
        ).scalar_one()
    return {
        "sources_due": sources_due,
        "outbox_pending": counts.get("pending", 0),
        "outbox_dead": counts.get("dead", 0),
        "outbox_due": outbox_due,
        "digests_due": digests_due,
        "checks_lag": max(0.0, (now - oldest_check).total_seconds()) if oldest_check else 0.0,
        "outbox_lag": max(0.0, (now - oldest_out).total_seconds()) if oldest_out else 0.0,
        "replicas": replicas,
    }
