"""Tables of the alerting part: subscribers, suppressions, digest items, webhook
endpoints, the outbox and the signing key. SQLAlchemy Core, created by migration
`0003_alerts`; every datetime column is `UTCDateTime` (aware UTC in Python).

- `subscriber`: one email address and its one subscription (filters and cadence).
  `status` is `pending` (awaiting the confirmation link), `active`, `unsubscribed` or
  `suppressed` (hard bounce). Digest subscribers have a due time `next_digest_at`,
  claimed with `tracker.storage.lease` (`lease_owner`, `lease_until`).
- `subscriber_place`: the place codes of each subscriber (`*`: everywhere), indexed by
  code, kept by `subscriptions.subscribe`: the outbox fan-out of an event reads only
  the subscribers of the event's places (`fanout.fan_out`).
- `suppression`: addresses that receive nothing (unsubscribed, hard-bounced), checked
  whenever a message is built.
- `digest_item`: an event waiting for a subscriber's next digest, written in the event's
  transaction; `digest_key` is set to the outbox key of the digest that carried it.
- `webhook_endpoint`: a receiver URL with its filters and secret (`whsec_...`);
  `old_secret` still signs until `old_secret_until` after a rotation.
- `outbox`: one row per recipient and channel (or per digest period) with a UNIQUE `key`;
  `status` is `pending`, `sent`, `dead` (no attempt left) or `skipped` (suppressed);
  claimed with leases on `due_at`.
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import SQLModel

from tracker.storage.types import UTCDateTime

META = SQLModel.metadata


def _lease_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("lease_owner", sa.String, nullable=True),
        sa.Column("lease_until", UTCDateTime(), nullable=True),
    ]


SUBSCRIBER = sa.Table(
    "subscriber",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("email", sa.String, nullable=False, unique=True),
    sa.Column("name", sa.String, nullable=True),
    sa.Column("place_specs", sa.JSON, nullable=False),  # as given: ["US-*", "TH"]
    sa.Column("place_codes", sa.JSON, nullable=False),  # the places they name
    sa.Column("substances", sa.JSON, nullable=False),  # empty: all
    sa.Column("kinds", sa.JSON, nullable=False),
    sa.Column("min_importance", sa.String, nullable=False),
    sa.Column("cadence", sa.String, nullable=False),  # immediate, daily, weekly
    sa.Column("hour", sa.Integer, nullable=False),
    sa.Column("weekday", sa.Integer, nullable=False),  # 0 = Monday (weekly digests)
    sa.Column("tz", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("confirmed_at", UTCDateTime(), nullable=True),
    sa.Column("unsubscribed_at", UTCDateTime(), nullable=True),
    sa.Column("next_digest_at", UTCDateTime(), nullable=True, index=True),
    sa.Column("digest_since", UTCDateTime(), nullable=True),  # start of the next period
    *_lease_columns(),
)

ANYWHERE = "*"  # the subscriber_place code of a subscription without places

SUBSCRIBER_PLACE = sa.Table(
    "subscriber_place",
    META,
    sa.Column(
        "subscriber_id",
        sa.Integer,
        sa.ForeignKey("subscriber.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("place_code", sa.String, primary_key=True),
    sa.Index("ix_subscriber_place_code", "place_code"),
)

SUPPRESSION = sa.Table(
    "suppression",
    META,
    sa.Column("email", sa.String, primary_key=True),
    sa.Column("reason", sa.String, nullable=False),  # unsubscribed, bounced
    sa.Column("detail", sa.String, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

DIGEST_ITEM = sa.Table(
    "digest_item",
    META,
    sa.Column(
        "subscriber_id",
        sa.Integer,
        sa.ForeignKey("subscriber.id", ondelete="CASCADE"),
        primary_key=True,
    ),
    sa.Column("event_id", sa.Integer, sa.ForeignKey("event.id"), primary_key=True),
    sa.Column("digest_key", sa.String, nullable=True, index=True),
)

WEBHOOK = sa.Table(
    "webhook_endpoint",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("url", sa.String, nullable=False),
    sa.Column("secret", sa.String, nullable=False),
    sa.Column("old_secret", sa.String, nullable=True),
    sa.Column("old_secret_until", UTCDateTime(), nullable=True),
    sa.Column("place_specs", sa.JSON, nullable=False),
    sa.Column("place_codes", sa.JSON, nullable=False),
    sa.Column("substances", sa.JSON, nullable=False),
    sa.Column("kinds", sa.JSON, nullable=False),
    sa.Column("min_importance", sa.String, nullable=False),
    sa.Column("status", sa.String, nullable=False),  # active, disabled
    sa.Column("disabled_reason", sa.String, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)

OUTBOX = sa.Table(
    "outbox",
    META,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("key", sa.String, nullable=False, unique=True),
    sa.Column("channel", sa.String, nullable=False),  # email, webhook
    sa.Column("purpose", sa.String, nullable=False),  # alert, digest, confirm, notice
    sa.Column("recipient", sa.String, nullable=False),  # an address or a URL
    sa.Column("subscriber_id", sa.Integer, nullable=True, index=True),
    sa.Column("endpoint_id", sa.Integer, nullable=True),
    sa.Column("event_id", sa.Integer, nullable=True),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("status", sa.String, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False),
    sa.Column("due_at", UTCDateTime(), nullable=False),
    *_lease_columns(),
    sa.Column("last_error", sa.String, nullable=True),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("sent_at", UTCDateTime(), nullable=True),
    sa.Index("ix_outbox_due", "status", "due_at"),
)

ALERT_SECRET = sa.Table(
    "alert_secret",
    META,
    sa.Column("name", sa.String, primary_key=True),
    sa.Column("value", sa.String, nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
)
