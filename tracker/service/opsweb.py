"""The daemon's operations endpoints, on their own address and port (`ops_host`,
`ops_port`; loopback by default), apart from the public service.

- `GET /livez`: liveness. 200 `{"status": "alive", ...}` while the process runs, even
  when the database is down (a restart would not bring it back): only a process that
  answers nothing should be restarted.
- `GET /readyz`: readiness. 200 `{"status": "ok", ...}` when the replica runs and the
  database answers; 503 with `starting`, `stopping` or `degraded` (database
  unreachable) otherwise: a load balancer sends no traffic then. `GET /healthz` is the
  same answer, kept for existing checks.
- `GET /metrics`: Prometheus text format (`tracker.service.metrics`).
- `GET /status.json`: read-only operational status (`tracker.status/1`): this replica,
  the database, sources, checks in the last hour, outbox, singleton jobs, replicas
  seen, the newest event. Only SELECTs.
- `GET /snapshots/<sha>`: a stored page version (`tracker.web.snapshots`; the public
  server serves it too, for the links in large diffs).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tracker import __version__
from tracker.service.metrics import Metrics, queue_figures
from tracker.storage.engine import Database
from tracker.storage.health import DbHealth, is_db_error
from tracker.storage.tables_core import EVENT
from tracker.storage.tables_service import DAEMON_JOB, DAEMON_REPLICA
from tracker.storage.tables_watch import PAGE_CHECK, SOURCE
from tracker.timeutil import utcnow
from tracker.web import snapshots
from tracker.web.app import App, Request, Response

logger = logging.getLogger(__name__)


@dataclass
class View:
    """What the routes need from the daemon; `state()` is starting, running or stopping."""

    db: Callable[[], Database | None]
    metrics: Callable[[], Metrics | None]
    health: DbHealth
    owner: str
    started_at: datetime
    state: Callable[[], str]


def _plain(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else str(value)


def _json(data: Any, status: int = 200) -> Response:
    body = json.dumps(data, indent=2, default=_plain, ensure_ascii=False) + "\n"
    return Response(status, body.encode(), "application/json; charset=utf-8")


def mount(app: App, view: View) -> None:
    @app.route("/healthz")
    def healthz(_: Request) -> Response:
        state, db = view.state(), view.db()
        body: dict[str, Any] = {"status": state, "owner": view.owner, "version": __version__}
        if state != "running" or db is None:
            return _json(body, 503)
        try:
            with db.read() as conn:
                conn.execute(sa.text("SELECT 1"))
        except Exception as exc:
            if not is_db_error(exc):
                raise
            body.update(status="degraded", database=f"unreachable: {view.health.last_error}")
            return _json(body, 503)
        body.update(status="ok", database="ok", uptime_s=round(_uptime(view), 1))
        return _json(body)

    @app.route("/metrics")
    def metrics(_: Request) -> Response:
        m = view.metrics()
        if m is None:
            return Response.text("starting\n", 503)
        return Response(200, m.render(), "text/plain; version=0.0.4; charset=utf-8")

    @app.route("/status.json")
    def status(_: Request) -> Response:
        db = view.db()
        if db is None:
            return _json({"schema": "tracker.status/1", "replica": _replica(view)}, 503)
        try:
            return _json(status_document(db, view))
        except Exception as exc:
            if not is_db_error(exc):
                raise
            return _json({"schema": "tracker.status/1", "error": "database unreachable"}, 503)

    @app.route("/livez")
    def livez(_: Request) -> Response:
        body: dict[str, Any] = {"status": "alive", "state": view.state(), "owner": view.owner}
        body.update(version=__version__, uptime_s=round(_uptime(view), 1))
        return _json(body)

    app.add("/readyz", healthz)
    app.add_prefix("/snapshots/", snapshots.handler(view.db))


def _uptime(view: View) -> float:
    return (utcnow() - view.started_at).total_seconds()


def _replica(view: View) -> dict[str, Any]:
    return {"owner": view.owner, "state": view.state(), "started_at": view.started_at}


def status_document(db: Database, view: View) -> dict[str, Any]:
    now = utcnow()
    queues = queue_figures(db)
    with db.read() as conn:
        sources = conn.execute(
            sa.select(
                sa.func.count(),
                sa.func.count().filter(SOURCE.c.failing),
                sa.func.count().filter(SOURCE.c.lease_until > now),
                sa.func.max(SOURCE.c.last_checked_at),
            ).where(SOURCE.c.active)
        ).one()
        by_outcome = conn.execute(
            sa.select(PAGE_CHECK.c.outcome, sa.func.count())
            .where(PAGE_CHECK.c.started_at >= now - timedelta(hours=1))
            .group_by(PAGE_CHECK.c.outcome)
        )
        checks: dict[str, int] = {outcome: n for outcome, n in by_outcome}
        jobs = conn.execute(sa.select(DAEMON_JOB).order_by(DAEMON_JOB.c.name)).all()
        replicas = conn.execute(
            sa.select(DAEMON_REPLICA).order_by(DAEMON_REPLICA.c.started_at)
        ).all()
        latest = conn.execute(
            sa.select(EVENT.c.id, EVENT.c.kind, EVENT.c.occurred_at)
            .order_by(EVENT.c.id.desc())
            .limit(1)
        ).first()
    return {
        "schema": "tracker.status/1",
        "generated_at": now,
        "version": __version__,
        "replica": _replica(view),
        "database": {"backend": db.engine.dialect.name, "up": True},
        "sources": {
            "active": sources[0],
            "failing": sources[1],
            "leased": sources[2],
            "due": queues["sources_due"],
            "lag_seconds": round(queues["checks_lag"], 3),
            "last_check_at": sources[3],
        },
        "checks_last_hour": checks,
        "outbox": {
            "pending": queues["outbox_pending"],
            "due": queues["outbox_due"],
            "dead": queues["outbox_dead"],
            "lag_seconds": round(queues["outbox_lag"], 3),
        },
        "digests_due": queues["digests_due"],
        "jobs": [
            {
                "name": j.name,
                "next_run_at": j.next_run_at,
                "runs": j.runs,
                "last_finished_at": j.last_finished_at,
                "last_owner": j.last_owner,
                "last_error": j.last_error,
            }
            for j in jobs
        ],
        "replicas": [
            {
                "owner": r.owner,
                "hostname": r.hostname,
                "pid": r.pid,
                "version": r.version,
                "http": r.http,
                "started_at": r.started_at,
                "seen_at": r.seen_at,
                "alive": r.seen_at >= now - timedelta(minutes=1),
            }
            for r in replicas
        ],
        "latest_event": dict(latest._mapping) if latest else None,
    }
