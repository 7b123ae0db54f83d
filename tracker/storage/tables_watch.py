"""Tables of page watching (SQLAlchemy Core; migration `0002_watch`).

- `source`: one watched official page. Leasable (`tracker.storage.lease`): the due column is
  `next_check_at`; `lease_owner`/`lease_until` say which worker is checking it. It also
  carries the conditional-GET validators (`etag`, `last_modified`), the current version
  (`current_sha`, and `current_spec` = the digest of the extraction settings that produced
  it) and the failure streak (`failures`, `failing` = a `source_failing` event is raised).
- `host`: per-host politeness shared by every replica. Leasable with the due column
  `next_allowed_at`: whoever holds the lease may send requests to the host, one at a time,
  and completes the lease with the next allowed time (minimum delay or Crawl-delay). The
  robots.txt body and its fetch status are cached here too.
- `page_check`: one row per check (outcome, status code, timing, error).
- `snapshot`: content-addressed (sha256 of the normalized text) and zlib-compressed.
- `source_version`: the versions each source has shown (for anti-flap and retention).
- `page_change`: one row per change, with the unified diff and the HTML diff; a
  reported reversal names the change it undid (`reverts_change_id`).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from tracker.storage.types import UTCDateTime

# The core tables live in SQLModel's metadata; sharing it lets foreign keys to `place`
# resolve and lets Alembic autogenerate see these tables.
META = SQLModel.metadata

SOURCE = sa.Table(
    "source",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String, nullable=False, unique=True),
    sa.Column("origin", sa.String, nullable=False),  # shipped:sources/us.yaml | operator
    sa.Column("place_code", sa.String, sa.ForeignKey("place.code"), nullable=False, index=True),
    sa.Column("title", sa.String, nullable=False),
    sa.Column("url", sa.String, nullable=False),
    sa.Column("host", sa.String, nullable=False),
    sa.Column("kind", sa.String, nullable=False),
    sa.Column("spec", sa.JSON, nullable=False),  # selectors, ignore, masks, keywords, schedule
    sa.Column("spec_hash", sa.String, nullable=False),
    sa.Column("active", sa.Boolean, nullable=False, default=True),
    sa.Column("next_check_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("lease_owner", sa.String, nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("etag", sa.String, nullable=True),
    sa.Column("last_modified", sa.String, nullable=True),
    sa.Column("body_sha", sa.String, nullable=True),  # raw body digest: skip re-extraction
    sa.Column("current_sha", sa.String, nullable=True),
    sa.Column("current_spec", sa.String, nullable=True),
    sa.Column("last_checked_at", UTCDateTime(), nullable=True),
    sa.Column("last_ok_at", UTCDateTime(), nullable=True),
    sa.Column("failures", sa.Integer, nullable=False, default=0),
    sa.Column("failing", sa.Boolean, nullable=False, default=False),
    sa.Column("last_error", sa.String, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

HOST = sa.Table(
    "host",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String, nullable=False, unique=True),  # scheme://host:port
    sa.Column("next_allowed_at", UTCDateTime(), nullable=False),
    sa.Column("lease_owner", sa.String, nullable=True),
    sa.Column("lease_until", UTCDateTime(), nullable=True),
    sa.Column("crawl_delay", sa.Float, nullable=True),
    sa.Column("robots_status", sa.Integer, nullable=True),  # HTTP status, 0 = unreachable
    sa.Column("robots_text", sa.Text, nullable=True),
    sa.Column("robots_fetched_at", UTCDateTime(), nullable=True),
)

PAGE_CHECK = sa.Table(
    "page_check",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_id", sa.Integer, sa.ForeignKey("source.id"), nullable=False),
    sa.Column("started_at", UTCDateTime(), nullable=False),
    sa.Column("duration_ms", sa.Integer, nullable=False),
    sa.Column("outcome", sa.String, nullable=False),  # see check.OUTCOMES
    sa.Column("status_code", sa.Integer, nullable=True),
    sa.Column("bytes", sa.Integer, nullable=True),
    sa.Column("sha", sa.String, nullable=True),
    sa.Column("change_id", sa.Integer, nullable=True),
    sa.Column("error", sa.String, nullable=True),
    sa.Index("ix_page_check_source", "source_id", "started_at"),
)

SNAPSHOT = sa.Table(
    "snapshot",
    META,
    sa.Column("sha", sa.String, primary_key=True),
    sa.Column("size", sa.Integer, nullable=False),  # bytes of the UTF-8 text
    sa.Column("data", sa.LargeBinary, nullable=False),  # zlib of the UTF-8 text
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

SOURCE_VERSION = sa.Table(
    "source_version",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_id", sa.Integer, sa.ForeignKey("source.id"), nullable=False),
    sa.Column("sha", sa.String, nullable=False),
    sa.Column("first_seen_at", UTCDateTime(), nullable=False),
    sa.Column("last_seen_at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("source_id", "sha", name="uq_source_version"),
    sa.Index("ix_source_version_seen", "source_id", "last_seen_at"),
)

PAGE_CHANGE = sa.Table(
    "page_change",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("source_id", sa.Integer, sa.ForeignKey("source.id"), nullable=False, index=True),
    sa.Column("place_code", sa.String, sa.ForeignKey("place.code"), nullable=False, index=True),
    sa.Column("detected_at", UTCDateTime(), nullable=False, index=True),
    sa.Column("old_sha", sa.String, nullable=False),
    sa.Column("new_sha", sa.String, nullable=False),
    sa.Column("importance", sa.String, nullable=False),
    sa.Column("keywords", sa.JSON, nullable=False),
    sa.Column("added", sa.Integer, nullable=False),
    sa.Column("removed", sa.Integer, nullable=False),
    sa.Column("too_large", sa.Boolean, nullable=False),
    sa.Column("unified_diff", sa.Text, nullable=True),
    sa.Column("html_diff", sa.Text, nullable=True),
    sa.Column("event_id", sa.Integer, nullable=True),
    # Migration 0007: the change a reported reversal undid (the page went back to a
    # version seen within `flap_days`); None for a forward change.
    sa.Column("reverts_change_id", sa.Integer, nullable=True),
)
