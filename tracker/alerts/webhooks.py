"""Webhook endpoints: a receiver URL, its filters and its secret; Standard Webhooks v1
signing.

Secrets are `whsec_` + base64 of 32 random bytes, one per endpoint. The signature header
is `v1,<base64 HMAC-SHA256(key, "<webhook-id>.<webhook-timestamp>.<body>")>` where the
key is the decoded secret; during a rotation the old secret signs too (two
space-separated signatures) until `old_secret_until`, so receivers can switch over.
A URL is checked with `netguard.check_url` when it is added: a private address is
refused, and loopback only passes with `allow_loopback`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker import netguard
from tracker.alerts.filters import check_choices, known_codes
from tracker.errors import UsageError
from tracker.storage.tables_alerts import WEBHOOK
from tracker.timeutil import utcnow

PREFIX = "whsec_"


def new_secret() -> str:
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """One `v1,<signature>` for `secret` (with or without its whsec_ prefix)."""
    key = base64.b64decode(secret.removeprefix(PREFIX))
    signed = f"{msg_id}.{timestamp}.".encode() + body
    digest = hmac.new(key, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(msg_id: str, timestamp: int, body: bytes, keys: list[str]) -> dict[str, str]:
    """The Standard Webhooks headers of one attempt (`timestamp`: Unix seconds, now)."""
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(sign(k, msg_id, timestamp, body) for k in keys),
    }


def add(
    conn: Connection,
    url: str,
    *,
    allow_loopback: bool,
    places: list[str] = [],  # noqa: B006 (never mutated)
    place_specs: Sequence[str] | None = None,
    substances: list[str] = [],  # noqa: B006
    kinds: list[str] = [],  # noqa: B006
    min_importance: str = "minor",
    now: datetime | None = None,
) -> Row[Any]:
    """Store a new endpoint; returns its row (with the secret to give the receiver).
    `places` are place codes, `place_specs` what was typed (as `subscriptions.subscribe`)."""
    url = netguard.check_url(url, allow_loopback=allow_loopback, what="webhook URL")
    codes = known_codes(conn, places)
    specs = list(place_specs) if place_specs is not None else codes
    subs, picked, importance = check_choices(substances, kinds, min_importance)
    new_id = conn.execute(
        WEBHOOK.insert()
        .values(
            url=url,
            secret=new_secret(),
            place_specs=specs,
            place_codes=codes,
            substances=subs,
            kinds=picked,
            min_importance=importance,
            status="active",
            created_at=now or utcnow(),
        )
        .returning(WEBHOOK.c.id)
    ).scalar_one()
    return get(conn, int(new_id))


def get(conn: Connection, endpoint_id: int) -> Row[Any]:
    found = conn.execute(sa.select(WEBHOOK).where(WEBHOOK.c.id == endpoint_id)).first()
    if found is None:
        raise UsageError(f"no webhook endpoint #{endpoint_id}", "`tracker webhooks list`.")
    return found


def listing(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(sa.select(WEBHOOK).order_by(WEBHOOK.c.id)))


def rotate(
    conn: Connection, endpoint_id: int, *, keep_old: timedelta, now: datetime | None = None
) -> Row[Any]:
    """A new secret; the current one keeps signing beside it for `keep_old`."""
    ep = get(conn, endpoint_id)
    conn.execute(
        WEBHOOK.update()
        .where(WEBHOOK.c.id == endpoint_id)
        .values(
            secret=new_secret(),
            old_secret=ep.secret,
            old_secret_until=(now or utcnow()) + keep_old,
        )
    )
    return get(conn, endpoint_id)


def disable(conn: Connection, endpoint_id: int, reason: str) -> None:
    conn.execute(
        WEBHOOK.update()
        .where(WEBHOOK.c.id == endpoint_id)
        .values(status="disabled", disabled_reason=reason)
    )


def enable(conn: Connection, endpoint_id: int) -> None:
    get(conn, endpoint_id)
    conn.execute(
        WEBHOOK.update()
        .where(WEBHOOK.c.id == endpoint_id)
        .values(status="active", disabled_reason=None)
    )


def remove(conn: Connection, endpoint_id: int) -> None:
    """Delete the endpoint; its undelivered rows are skipped when next claimed."""
    get(conn, endpoint_id)
    conn.execute(WEBHOOK.delete().where(WEBHOOK.c.id == endpoint_id))
