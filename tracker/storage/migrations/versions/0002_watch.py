"""watch: sources, hosts, checks, snapshots, versions, changes

Revision ID: 0002_watch
Revises: 0001
Create Date: 2026-11-21 12:45:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tracker.storage.types

revision = "0002_watch"
down_revision = "0001"
branch_labels = None
depends_on = None

UTC = tracker.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "source",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("origin", sa.String(), nullable=False),
        sa.Column("place_code", sa.String(), nullable=False),
        sa.Column("title", sa.String(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("host", sa.String(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("spec", sa.JSON(), nullable=False),
        sa.Column("spec_hash", sa.String(), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("next_check_at", UTC(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", UTC(), nullable=True),
        sa.Column("etag", sa.String(), nullable=True),
        sa.Column("last_modified", sa.String(), nullable=True),
        sa.Column("body_sha", sa.String(), nullable=True),
        sa.Column("current_sha", sa.String(), nullable=True),
        sa.Column("current_spec", sa.String(), nullable=True),
        sa.Column("last_checked_at", UTC(), nullable=True),
        sa.Column("last_ok_at", UTC(), nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("failing", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["place_code"], ["place.code"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    with op.batch_alter_table("source", schema=None) as batch_op:
        batch_op.create_index("ix_source_place_code", ["place_code"], unique=False)
        batch_op.create_index("ix_source_next_check_at", ["next_check_at"], unique=False)

    op.create_table(
        "host",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("next_allowed_at", UTC(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", UTC(), nullable=True),
        sa.Column("crawl_delay", sa.Float(), nullable=True),
        sa.Column("robots_status", sa.Integer(), nullable=True),
        sa.Column("robots_text", sa.Text(), nullable=True),
        sa.Column("robots_fetched_at", UTC(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "page_check",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("started_at", UTC(), nullable=False),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.String(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("bytes", sa.Integer(), nullable=True),
        sa.Column("sha", sa.String(), nullable=True),
        sa.Column("change_id", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("page_check", schema=None) as batch_op:
        batch_op.create_index("ix_page_check_source", ["source_id", "started_at"], unique=False)

    op.create_table(
        "snapshot",
        sa.Column("sha", sa.String(), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTC(), nullable=False),
        sa.PrimaryKeyConstraint("sha"),
    )
    op.create_table(
        "source_version",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("sha", sa.String(), nullable=False),
        sa.Column("first_seen_at", UTC(), nullable=False),
        sa.Column("last_seen_at", UTC(), nullable=False),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("source_id", "sha", name="uq_source_version"),
    )
    with op.batch_alter_table("source_version", schema=None) as batch_op:
        batch_op.create_index("ix_source_version_seen", ["source_id", "last_seen_at"], unique=False)

    op.create_table(
        "page_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("place_code", sa.String(), nullable=False),
        sa.Column("detected_at", UTC(), nullable=False),
        sa.Column("old_sha", sa.String(), nullable=False),
        sa.Column("new_sha", sa.String(), nullable=False),
        sa.Column("importance", sa.String(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("removed", sa.Integer(), nullable=False),
        sa.Column("too_large", sa.Boolean(), nullable=False),
        sa.Column("unified_diff", sa.Text(), nullable=True),
        sa.Column("html_diff", sa.Text(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["place_code"], ["place.code"]),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("page_change", schema=None) as batch_op:
        batch_op.create_index("ix_page_change_source_id", ["source_id"], unique=False)
        batch_op.create_index("ix_page_change_place_code", ["place_code"], unique=False)
        batch_op.create_index("ix_page_change_detected_at", ["detected_at"], unique=False)


def downgrade() -> None:
    op.drop_table("page_change")
    op.drop_table("source_version")
    op.drop_table("snapshot")
    op.drop_table("page_check")
    op.drop_table("host")
    op.drop_table("source")
