"""alerts: subscribers, suppressions, digest items, webhook endpoints, outbox, signing key

Revision ID: 0003_alerts
Revises: 0001
Create Date: 2026-11-22 09:00:00.000000

A branch beside 0002_watch (both start from 0001); `migrate` upgrades to every head.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tracker.storage.types

revision = "0003_alerts"
down_revision = "0001"
branch_labels = None
depends_on = None


def _lease() -> list[sa.Column]:
    return [
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", tracker.storage.types.UTCDateTime(), nullable=True),
    ]


def upgrade() -> None:
    op.create_table(
        "subscriber",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("name", sa.String(), nullable=True),
        sa.Column("place_specs", sa.JSON(), nullable=False),
        sa.Column("place_codes", sa.JSON(), nullable=False),
        sa.Column("substances", sa.JSON(), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("min_importance", sa.String(), nullable=False),
        sa.Column("cadence", sa.String(), nullable=False),
        sa.Column("hour", sa.Integer(), nullable=False),
        sa.Column("weekday", sa.Integer(), nullable=False),
        sa.Column("tz", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("created_at", tracker.storage.types.UTCDateTime(), nullable=False),
        sa.Column("confirmed_at", tracker.storage.types.UTCDateTime(), nullable=True),
        sa.Column("unsubscribed_at", tracker.storage.types.UTCDateTime(), nullable=True),
        sa.Column("next_digest_at", tracker.storage.types.UTCDateTime(), nullable=True),
        sa.Column("digest_since", tracker.storage.types.UTCDateTime(), nullable=True),
        *_lease(),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
    )
    op.create_index("ix_subscriber_next_digest_at", "subscriber", ["next_digest_at"])
    op.create_table(
        "suppression",
        sa.Column("email", sa.String(), nullable=False),
        sa.Column("reason", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=True),
        sa.Column("created_at", tracker.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("email"),
    )
    op.create_table(
        "digest_item",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.Integer(), nullable=False),
        sa.Column("digest_key", sa.String(), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["event_id"], ["event.id"]),
        sa.PrimaryKeyConstraint("subscriber_id", "event_id"),
    )
    op.create_index("ix_digest_item_digest_key", "digest_item", ["digest_key"])
    op.create_table(
        "webhook_endpoint",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(), nullable=False),
        sa.Column("secret", sa.String(), nullable=False),
        sa.Column("old_secret", sa.String(), nullable=True),
        sa.Column("old_secret_until", tracker.storage.types.UTCDateTime(), nullable=True),
        sa.Column("place_specs", sa.JSON(), nullable=False),
        sa.Column("place_codes", sa.JSON(), nullable=False),
        sa.Column("substances", sa.JSON(), nullable=False),
        sa.Column("kinds", sa.JSON(), nullable=False),
        sa.Column("min_importance", sa.String(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("disabled_reason", sa.String(), nullable=True),
        sa.Column("created_at", tracker.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("channel", sa.String(), nullable=False),
        sa.Column("purpose", sa.String(), nullable=False),
        sa.Column("recipient", sa.String(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=True),
        sa.Column("endpoint_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("due_at", tracker.storage.types.UTCDateTime(), nullable=False),
        *_lease(),
        sa.Column("last_error", sa.String(), nullable=True),
        sa.Column("created_at", tracker.storage.types.UTCDateTime(), nullable=False),
        sa.Column("sent_at", tracker.storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_outbox_due", "outbox", ["status", "due_at"])
    op.create_index("ix_outbox_subscriber_id", "outbox", ["subscriber_id"])
    op.create_table(
        "alert_secret",
        sa.Column("name", sa.String(), nullable=False),
        sa.Column("value", sa.String(), nullable=False),
        sa.Column("created_at", tracker.storage.types.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    op.drop_table("alert_secret")
    op.drop_index("ix_outbox_subscriber_id", table_name="outbox")
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.drop_table("outbox")
    op.drop_table("webhook_endpoint")
    op.drop_index("ix_digest_item_digest_key", table_name="digest_item")
    op.drop_table("digest_item")
    op.drop_table("suppression")
    op.drop_index("ix_subscriber_next_digest_at", table_name="subscriber")
    op.drop_table("subscriber")
