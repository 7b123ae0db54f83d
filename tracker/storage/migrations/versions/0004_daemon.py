"""daemon: merge the watch and alerts branches; singleton jobs, replica heartbeats,
quarantined snapshots, an index for claiming due sources per host

Revision ID: 0004_daemon
Revises: 0002_watch, 0003_alerts
Create Date: 2026-11-23 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tracker.storage.types

revision = "0004_daemon"
down_revision = ("0002_watch", "0003_alerts")
branch_labels = None
depends_on = None

UTC = tracker.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "daemon_job",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("next_run_at", UTC(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", UTC(), nullable=True),
        sa.Column("runs", sa.Integer(), nullable=False),
        sa.Column("last_started_at", UTC(), nullable=True),
        sa.Column("last_finished_at", UTC(), nullable=True),
        sa.Column("last_owner", sa.String(), nullable=True),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "daemon_replica",
        sa.Column("owner", sa.String(), nullable=False),
        sa.Column("hostname", sa.String(), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("version", sa.String(), nullable=False),
        sa.Column("http", sa.String(), nullable=True),
        sa.Column("started_at", UTC(), nullable=False),
        sa.Column("seen_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("owner"),
    )
    op.create_table(
        "snapshot_quarantine",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("sha", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("data", sa.LargeBinary(), nullable=True),
        sa.Column("created_at", UTC(), nullable=True),
        sa.Column("quarantined_at", UTC(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_snapshot_quarantine_sha", "snapshot_quarantine", ["sha"])
    op.create_index("ix_source_host_due", "source", ["host", "next_check_at"])


def downgrade() -> None:
    op.drop_index("ix_source_host_due", table_name="source")
    op.drop_index("ix_snapshot_quarantine_sha", table_name="snapshot_quarantine")
    op.drop_table("snapshot_quarantine")
    op.drop_table("daemon_replica")
    op.drop_table("daemon_job")
