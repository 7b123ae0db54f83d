"""status_record.scope: where a rule applies when not in its whole place

Revision ID: 0011_record_scope
Revises: 0010_status_index
Create Date: 2026-12-02 08:00:00.000000

`unincorporated`: a county's (or parish's) rule for its unincorporated area only, which
binds the county's own land but none of the cities inside it; null (every existing row):
the whole place and everything in it.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_record_scope"
down_revision = "0010_status_index"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("status_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scope", sa.String(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("status_record", schema=None) as batch_op:
        batch_op.drop_column("scope")
