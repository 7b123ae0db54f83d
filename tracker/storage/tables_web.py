"""Tables of the web service (SQLAlchemy Core; migration `0008_web_rate`).

- `web_rate`: fixed-window counters for the rate limits of the subscribe form (mail per
  address, requests per client address). One row per bucket (`address:<sha256>` or
  `client:<ip>`), counted with one atomic upsert, so every replica sharing the database
  shares the limit. Rows whose window ended long ago are removed as new hits come.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from tracker.storage.types import UTCDateTime

META = SQLModel.metadata

WEB_RATE = sa.Table(
    "web_rate",
    META,
    sa.Column("bucket", sa.String, primary_key=True),
    sa.Column("window_start", UTCDateTime(), nullable=False, index=True),
    sa.Column("count", sa.Integer, nullable=False),
)
