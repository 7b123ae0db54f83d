"""web_rate: rate-limit counters of the public subscribe form, shared by every replica

Revision ID: 0008_web_rate
Revises: 0005_subscriber_place
Create Date: 2026-12-02 09:00:00.000000

One row per bucket (a hashed address or a client address) with the start of its current
window and the count in it (`tracker.web.ratelimit`).

Released on its own branch beside 0006 and 0007 (a database of that release is stamped
`0008_web_rate` without them); `0010_status_index` joins the two branches.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from tracker.storage.types import UTCDateTime

revision = "0008_web_rate"
down_revision = "0005_subscriber_place"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "web_rate",
        sa.Column("bucket", sa.String(), nullable=False),
        sa.Column("window_start", UTCDateTime(), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
    )
    op.create_index("ix_web_rate_window_start", "web_rate", ["window_start"])


def downgrade() -> None:
    op.drop_index("ix_web_rate_window_start", table_name="web_rate")
    op.drop_table("web_rate")
