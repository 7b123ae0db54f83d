"""knowledge: when each record was last verified, pending-measure dates and titles, and the
international records (documentation, not places)

Revision ID: 0006_knowledge
Revises: 0005_subscriber_place
Create Date: 2026-12-02 09:00:00.000000

- `status_record.checked` (+ precision): the date of the newest material consulted for the
  record, i.e. when the fact was last verified (not when it was loaded); null when the
  source page is undated.
- `pending_measure.stage_date`, `checked` (+ precisions) and `source_title`.
- `international_record`: statements about no place (the UN drug conventions), versioned
  by knowledge time like pending measures; shown as documentation, never a status.
"""

from __future__ import annotations

import sqlalchemy as sa
import sqlmodel
from alembic import op

import tracker.storage.types

revision = "0006_knowledge"
down_revision = "0005_subscriber_place"
branch_labels = None
depends_on = None


def _text() -> sa.types.TypeEngine[str]:
    return sqlmodel.sql.sqltypes.AutoString()


def upgrade() -> None:
    with op.batch_alter_table("status_record", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checked", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("checked_precision", _text(), nullable=True))
    with op.batch_alter_table("pending_measure", schema=None) as batch_op:
        batch_op.add_column(sa.Column("stage_date", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("stage_date_precision", _text(), nullable=True))
        batch_op.add_column(sa.Column("checked", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("checked_precision", _text(), nullable=True))
        batch_op.add_column(sa.Column("source_title", _text(), nullable=True))
    op.create_table(
        "international_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", _text(), nullable=False),
        sa.Column("substance", _text(), nullable=False),
        sa.Column("status", _text(), nullable=False),
        sa.Column("record", sa.JSON(), nullable=False),
        sa.Column("origin", _text(), nullable=False),
        sa.Column("recorded_at", tracker.storage.types.UTCDateTime(), nullable=False),
        sa.Column("superseded_at", tracker.storage.types.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )


def downgrade() -> None:
    op.drop_table("international_record")
    with op.batch_alter_table("pending_measure", schema=None) as batch_op:
        for name in (
            "source_title",
            "checked_precision",
            "checked",
            "stage_date_precision",
            "stage_date",
        ):
            batch_op.drop_column(name)
    with op.batch_alter_table("status_record", schema=None) as batch_op:
        batch_op.drop_column("checked_precision")
        batch_op.drop_column("checked")
