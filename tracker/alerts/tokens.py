"""Signed, expiring tokens for the links in mail (confirm, unsubscribe, preferences).

A token is `<base64url "action.subscriber_id.expiry">.<base64url HMAC-SHA256>`. The MAC
also covers the subscriber's address, which the token does not carry, so a link shows
nothing about its owner and stops working if the subscriber row is replaced by another
address. Tampered, expired or wrong-action tokens raise `BadToken`.

The key is the `signing_key` setting (environment only) when set; otherwise a random key
generated once and kept in the database (`alert_secret`), so every replica sharing the
database accepts the links of the others.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from tracker.errors import UsageError
from tracker.storage.engine import Database, dialect_insert
from tracker.storage.tables_alerts import ALERT_SECRET
from tracker.timeutil import utcnow

CONFIRM_TTL = timedelta(days=7)
UNSUBSCRIBE_TTL = timedelta(days=180)
PREFERENCES_TTL = timedelta(days=180)  # the /preferences link in every mail
_KEY_NAME = "link_signing_key"


class BadToken(UsageError):
    """A link token that is malformed, tampered with, expired or for another action."""


@dataclass(frozen=True)
class Claim:
    action: str
    subscriber_id: int
    expires: datetime


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _mac(key: bytes, body: str, email: str) -> bytes:
    return hmac.new(key, f"{body}|{email}".encode(), hashlib.sha256).digest()[:20]


def make(key: bytes, action: str, subscriber_id: int, email: str, expires: datetime) -> str:
    body = _b64(f"{action}.{subscriber_id}.{int(expires.timestamp())}".encode())
    return f"{body}.{_b64(_mac(key, body, email))}"


MAX_ID = 2**31 - 1  # the id columns are INTEGER: 32-bit on PostgreSQL


def invalid() -> BadToken:
    """The one answer for a link that is not valid, whatever the reason (malformed,
    tampered, or naming no subscriber): it must not tell whether a subscriber exists."""
    return BadToken("this link is not valid", "Use the link exactly as it was sent.")


def peek(token: str) -> Claim:
    """The claim of a well-formed token, not yet checked (to find whose it is)."""
    try:
        body, _ = token.split(".", 1)
        action, sid, exp = _unb64(body).decode().split(".")
        subscriber_id = int(sid)
        if not 1 <= subscriber_id <= MAX_ID:
            raise ValueError(sid)
        # A huge expiry overflows datetime (OverflowError) or the platform (OSError).
        return Claim(action, subscriber_id, datetime.fromtimestamp(int(exp), UTC))
    except (ValueError, UnicodeDecodeError, binascii.Error, OverflowError, OSError):
        raise invalid() from None


def verify(key: bytes, token: str, action: str, email: str, now: datetime | None = None) -> Claim:
    """The claim if the token is intact, for `action` and `email`, and not expired."""
    claim = peek(token)
    body, mac = token.split(".", 1)
    try:
        given = _unb64(mac)
    except (ValueError, binascii.Error):
        given = b""
    if not hmac.compare_digest(given, _mac(key, body, email)) or claim.action != action:
        raise invalid()
    if claim.expires <= (now or utcnow()):
        raise BadToken(
            "this link has expired",
            "Use the link in a newer message, or subscribe again for a new confirmation.",
        )
    return claim


def signing_key(db: Database, configured: str = "") -> bytes:
    """The configured key, else the one stored in the database (created on first use)."""
    if configured:
        return configured.encode()
    with db.read() as conn:
        value = conn.execute(
            sa.select(ALERT_SECRET.c.value).where(ALERT_SECRET.c.name == _KEY_NAME)
        ).scalar()
    if value is None:
        with db.write() as conn:
            conn.execute(
                dialect_insert(conn, ALERT_SECRET)
                .values(name=_KEY_NAME, value=secrets.token_urlsafe(32), created_at=utcnow())
                .on_conflict_do_nothing(index_elements=["name"])
            )
            value = conn.execute(
                sa.select(ALERT_SECRET.c.value).where(ALERT_SECRET.c.name == _KEY_NAME)
            ).scalar_one()
    return str(value).encode()
