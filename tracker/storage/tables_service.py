"""Tables of the daemon (SQLAlchemy Core; migration `0004_daemon`).

- `daemon_job`: one row per singleton periodic job (snapshot retention, the daily
  `effective`/`expiring` reminders). Leasable (`tracker.storage.lease`) with the due column
  `next_run_at`: whichever replica claims a due row runs the job for that slot, and
  completes the row (fenced) with the next due time. A replica killed while running a
  job leaves its lease; another replica runs the slot again once the lease expires
  (every job is idempotent).
- `daemon_replica`: a heartbeat per running daemon process (`owner` is its lease owner
  id), shown by `/status.json` and `/metrics`; a clean stop deletes its row.
- `snapshot_quarantine`: snapshot rows found unreadable (bad zlib data or text), moved
  here whole by `tracker.watch.quarantine` so that nothing is thrown away and checks go on.

The index `ix_source_host_due` serves the daemon's claims of due sources per host.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from tracker.storage.tables_watch import SOURCE
from tracker.storage.types import UTCDateTime

META = SQLModel.metadata

DAEMON_JOB = sa.Table(
    "daemon_job",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, nullable=False, unique=True),
    sa.Column("next_run_at", UTCDateTime(), nullable=False),
    sa.Column("lease_owner", sa.String, nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("runs", sa.Integer, nullable=False, default=0),
    sa.Column("last_started_at", UTCDateTime(), nullable=True),
    sa.Column("last_finished_at", UTCDateTime(), nullable=True),
    sa.Column("last_owner", sa.String, nullable=True),
    sa.Column("last_error", sa.String, nullable=True),
)

DAEMON_REPLICA = sa.Table(
    "daemon_replica",
    META,
    sa.Column("owner", sa.String, primary_key=True),
    sa.Column("hostname", sa.String, nullable=False),
    sa.Column("pid", sa.Integer, nullable=False),
    sa.Column("version", sa.String, nullable=False),
    sa.Column("http", sa.String, nullable=True),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("seen_at", UTCDateTime(), nullable=False),
)

SNAPSHOT_QUARANTINE = sa.Table(
    "snapshot_quarantine",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("sha", sa.String, nullable=False, index=True),
    sa.Column("size", sa.Integer, nullable=True),
    sa.Column("data", sa.LargeBinary, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=True),
    sa.Column("quarantined_at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.String, nullable=False),
)

SOURCE_HOST_DUE = sa.Index("ix_source_host_due", SOURCE.c.host, SOURCE.c.next_check_at)
