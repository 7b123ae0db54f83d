"""The transactional outbox: what must be delivered, written in the transaction of its
cause, so a committed event is never lost and a rolled-back one never sent.

Rows (written by `fanout.fan_out` for events): one per recipient and channel
(`event:<id>:email:<subscriber>`, `event:<id>:webhook:<endpoint>`), per digest period
(`digest:<subscriber>:<slot>`), per confirmation and per operator notice. The UNIQUE
`key` with ON CONFLICT DO NOTHING makes every enqueue idempotent. The key is also the
mail's Message-ID and the webhook-id, so a receiver can drop the rare duplicate of the
crash window (see `dispatch`).

Statuses: `pending` (due at `due_at`), `sent`, `skipped` (the address was suppressed
when the message was built), `dead` (no attempt left; `retry` makes it pending again).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker.errors import ConfigError, UsageError
from tracker.storage.engine import dialect_insert
from tracker.storage.tables_alerts import OUTBOX
from tracker.timeutil import interval, utcnow

logger = logging.getLogger(__name__)

STATUSES: tuple[str, ...] = ("pending", "sent", "skipped", "dead")

# Seconds to wait after failed attempt n (n = 1, 2, ...): about three days in all, then
# the row is dead. After Standard Webhooks' recommendation.
DEFAULT_DELAYS: tuple[float, ...] = (
    5,
    5 * 60,
    30 * 60,
    2 * 3600,
    5 * 3600,
    10 * 3600,
    10 * 3600,
    10 * 3600,
    10 * 3600,
    10 * 3600,
)


@dataclass(frozen=True)
class Backoff:
    """When to try again. `delays[n-1]` follows the n-th failed attempt, spread by
    +/- `jitter` (a fraction) so that many failures do not come back at once; a
    Retry-After longer than the delay wins. Tests inject zero delays."""

    delays: Sequence[float] = DEFAULT_DELAYS
    jitter: float = 0.2

    def __post_init__(self) -> None:
        # A zero delay would make a failed row due again within the same dispatch run.
        if any(d <= 0 for d in self.delays):
            raise ValueError("backoff delays must be positive")

    @property
    def max_attempts(self) -> int:
        return len(self.delays) + 1

    @classmethod
    def from_text(cls, text: str) -> Backoff:
        """The `retry_delays` setting: `5s,5m,30m,2h` (intervals as sources write them);
        empty means `DEFAULT_DELAYS`. Raises ValueError naming the bad part."""
        if not text.strip():
            return cls()
        return cls(tuple(interval(part).total_seconds() for part in text.split(",")))

    def delay(self, attempts: int, retry_after: float | None = None) -> float | None:
        """Seconds until the next attempt after `attempts` failed ones; None: give up."""
        if attempts > len(self.delays):
            return None
        base = self.delays[attempts - 1]
        spread = base * random.uniform(-self.jitter, self.jitter) if self.jitter else 0.0
        wait = max(0.0, base + spread)
        if retry_after is not None:
            wait = max(wait, min(retry_after, 86400.0))
        return wait


def configured_backoff(retry_delays: str) -> Backoff:
    """The `retry_delays` setting as a Backoff. Raises ConfigError (exit 2)."""
    try:
        return Backoff.from_text(retry_delays)
    except ValueError as exc:
        raise ConfigError(
            f"retry_delays: {exc}", "Give waits such as 5s,5m,30m,2h (comma separated)."
        ) from None


def enqueue(
    conn: Connection,
    key: str,
    *,
    channel: str,
    purpose: str,
    recipient: str,
    subscriber_id: int | None = None,
    endpoint_id: int | None = None,
    event_id: int | None = None,
    payload: dict[str, Any] | None = None,
    due_at: datetime | None = None,
    now: datetime | None = None,
) -> str | None:
    """Add one row in the caller's transaction. Returns the key, or None if a row with
    this key already exists (nothing is changed then)."""
    now = now or utcnow()
    values = row(
        key,
        channel=channel,
        purpose=purpose,
        recipient=recipient,
        subscriber_id=subscriber_id,
        endpoint_id=endpoint_id,
        event_id=event_id,
        payload=payload,
        due_at=due_at or now,
        now=now,
    )
    stmt = (
        dialect_insert(conn, OUTBOX)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(OUTBOX.c.id)  # rowcount is not reliable with ON CONFLICT on psycopg
    )
    return key if conn.execute(stmt).first() is not None else None


def row(
    key: str, *, now: datetime, due_at: datetime | None = None, **values: Any
) -> dict[str, Any]:
    out = {
        "key": key,
        "subscriber_id": None,
        "endpoint_id": None,
        "event_id": None,
        **values,
        "status": "pending",
        "attempts": 0,
        "due_at": due_at or now,
        "created_at": now,
    }
    out["payload"] = out.get("payload") or {}
    return out


def email_alert(event_id: int, subscriber_id: int, email: str, now: datetime) -> dict[str, Any]:
    """The row of one event's alert to one subscriber: `event:<id>:email:<subscriber>`."""
    return row(
        f"event:{event_id}:email:{subscriber_id}",
        now=now,
        channel="email",
        purpose="alert",
        recipient=email,
        subscriber_id=subscriber_id,
        event_id=event_id,
    )


def enqueue_many(conn: Connection, rows: list[dict[str, Any]]) -> None:
    """Insert rows (built with `row`), skipping keys that exist."""
    if rows:
        stmt = dialect_insert(conn, OUTBOX).on_conflict_do_nothing(index_elements=["key"])
        conn.execute(stmt, rows)


def listing(conn: Connection, statuses: Sequence[str], limit: int = 200) -> list[Row[Any]]:
    return list(
        conn.execute(
            sa.select(OUTBOX)
            .where(OUTBOX.c.status.in_(list(statuses)))
            .order_by(OUTBOX.c.due_at, OUTBOX.c.id)
            .limit(limit)
        )
    )


def counts(conn: Connection) -> dict[str, int]:
    found: dict[str, int] = dict(
        conn.execute(sa.select(OUTBOX.c.status, sa.func.count()).group_by(OUTBOX.c.status)).all()
    )
    return {s: int(found.get(s, 0)) for s in STATUSES}


def retry(conn: Connection, row_id: int, now: datetime | None = None) -> Row[Any]:
    """Make a dead (or skipped) row pending again, due now, with a fresh attempt count.
    Raises UsageError for an unknown id or a row that is pending or sent."""
    now = now or utcnow()
    found = conn.execute(sa.select(OUTBOX).where(OUTBOX.c.id == row_id)).first()
    if found is None:
        raise UsageError(f"no outbox row #{row_id}", "`tracker outbox --dead` lists dead rows.")
    if found.status not in ("dead", "skipped"):
        raise UsageError(
            f"outbox row #{row_id} is {found.status}, not dead",
            "Only dead (or skipped) rows are retried; pending rows are retried already.",
        )
    conn.execute(
        OUTBOX.update()
        .where(OUTBOX.c.id == row_id)
        .values(status="pending", attempts=0, due_at=now, lease_owner=None, lease_until=None)
    )
    return found
