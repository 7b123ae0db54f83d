"""review: the review loop; an item per place to re-check after a kratom-relevant change
of its official page, and the change a reported reversal undid

Revision ID: 0007_review
Revises: 0006_knowledge
Create Date: 2026-12-02 09:00:00.000000

`review_item` (see `tracker.storage.tables_review`) and `page_change.reverts_change_id`.
Existing changes open no item: the loop starts with the next relevant change.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import tracker.storage.types

revision = "0007_review"
down_revision = "0006_knowledge"
branch_labels = None
depends_on = None

UTC = tracker.storage.types.UTCDateTime


def upgrade() -> None:
    op.create_table(
        "review_item",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("place_code", sa.String(), nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=True),
        sa.Column("change_id", sa.Integer(), nullable=False),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("opened_at", UTC(), nullable=False),
        sa.Column("state", sa.String(), nullable=False),
        sa.Column("closed_at", UTC(), nullable=True),
        sa.Column("closed_by", sa.String(), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("record_id", sa.Integer(), nullable=True),
        sa.Column("event_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["change_id"], ["page_change.id"]),
        sa.ForeignKeyConstraint(["place_code"], ["place.code"]),
        sa.ForeignKeyConstraint(["source_id"], ["source.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("change_id", "place_code", name="uq_review_item_change_place"),
    )
    op.create_index("ix_review_item_place_code", "review_item", ["place_code"])
    op.create_index("ix_review_item_state", "review_item", ["state", "place_code"])
    with op.batch_alter_table("page_change") as batch:
        batch.add_column(sa.Column("reverts_change_id", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("page_change") as batch:
        batch.drop_column("reverts_change_id")
    op.drop_index("ix_review_item_state", table_name="review_item")
    op.drop_index("ix_review_item_place_code", table_name="review_item")
    op.drop_table("review_item")
