"""subscriber_place: the places of each subscription, indexed, so that an event's outbox
fan-out reads only the subscribers of its places instead of every subscriber

Revision ID: 0005_subscriber_place
Revises: 0004_daemon
Create Date: 2026-11-24 09:00:00.000000

One row per (subscriber, place code); `*` for a subscription without places (everywhere).
Filled here from `subscriber.place_codes`, then kept by `subscriptions.subscribe`.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_subscriber_place"
down_revision = "0004_daemon"
branch_labels = None
depends_on = None


def upgrade() -> None:
    place = op.create_table(
        "subscriber_place",
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("place_code", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscriber.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("subscriber_id", "place_code"),
    )
    op.create_index("ix_subscriber_place_code", "subscriber_place", ["place_code"])
    subscriber = sa.table("subscriber", sa.column("id"), sa.column("place_codes", sa.JSON))
    conn = op.get_bind()
    rows = [
        {"subscriber_id": sid, "place_code": code}
        for sid, codes in conn.execute(sa.select(subscriber.c.id, subscriber.c.place_codes))
        for code in (codes or ["*"])
    ]
    if rows:
        op.bulk_insert(place, rows)


def downgrade() -> None:
    op.drop_index("ix_subscriber_place_code", table_name="subscriber_place")
    op.drop_table("subscriber_place")
