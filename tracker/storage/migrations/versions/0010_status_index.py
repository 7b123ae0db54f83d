"""status_record: the index of current rows becomes a plain index

Revision ID: 0010_status_index
Revises: 0007_review, 0008_web_rate
Create Date: 2026-12-02 06:00:00.000000

`ix_status_current` was partial (`WHERE superseded_at IS NULL`, on both backends). Its
dialect-specific options made every command import SQLAlchemy's whole PostgreSQL dialect
when the table was defined, even on SQLite. A plain index on (place_code, substance,
superseded_at, valid_from) serves the same queries: `superseded_at IS NULL` is an index
condition on SQLite and PostgreSQL.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010_status_index"
# Joins the branches: 0008 was released after 0005 while 0006 and 0007 were written.
down_revision = ("0007_review", "0008_web_rate")
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("status_record", schema=None) as batch_op:
        batch_op.drop_index("ix_status_current")
        batch_op.create_index(
            "ix_status_current",
            ["place_code", "substance", "superseded_at", "valid_from"],
            unique=False,
        )


def downgrade() -> None:
    with op.batch_alter_table("status_record", schema=None) as batch_op:
        batch_op.drop_index("ix_status_current")
        batch_op.create_index(
            "ix_status_current",
            ["place_code", "substance", "valid_from"],
            unique=False,
            sqlite_where=sa.text("superseded_at IS NULL"),
            postgresql_where=sa.text("superseded_at IS NULL"),
        )
