"""Tables of the review loop (SQLAlchemy Core; migration `0007_review`).

- `review_item`: one place to re-check because an official page of it changed in a
  kratom-relevant way (`change_id`, a `page_change`). Open until an operator closes it:
  `recorded` (a status was recorded with the change as its evidence: `record_id`,
  `event_id`), `dismissed` (the page change does not alter the record; `reason` says
  why, and it counts as a verification of the place's current record), or `reverted`
  (the page went back to the version before the change). Who closed it, when and why
  stay on the row: items are closed, never deleted.

The same migration adds `page_change.reverts_change_id` (see `tables_watch`). The tables
named by the foreign keys are not imported here (`tracker status` reads this table on
every run and needs no watch table): whatever needs the whole schema imports every table
module (`tracker.storage.schema`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from tracker.storage.types import UTCDateTime

META = SQLModel.metadata

REVIEW_STATES: tuple[str, ...] = ("open", "recorded", "dismissed", "reverted")

REVIEW_ITEM = sa.Table(
    "review_item",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("place_code", sa.String, sa.ForeignKey("place.code"), nullable=False, index=True),
    sa.Column("source_id", sa.Integer, sa.ForeignKey("source.id"), nullable=True),
    sa.Column("change_id", sa.Integer, sa.ForeignKey("page_change.id"), nullable=False),
    sa.Column("keywords", sa.JSON, nullable=False),
    sa.Column("opened_at", UTCDateTime(), nullable=False),
    sa.Column("state", sa.String, nullable=False),  # REVIEW_STATES
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    sa.Column("closed_by", sa.String, nullable=True),
    sa.Column("reason", sa.Text, nullable=True),
    sa.Column("record_id", sa.Integer, nullable=True),
    sa.Column("event_id", sa.Integer, nullable=True),
    sa.UniqueConstraint("change_id", "place_code", name="uq_review_item_change_place"),
    sa.Index("ix_review_item_state", "state", "place_code"),
)
