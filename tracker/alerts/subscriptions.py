"""Subscribers: one email address, its filters and its cadence, with double opt-in and a
suppression list.

Life of a subscriber: `subscribe` creates it `pending` and queues a confirmation mail (the
outbox row is written in the same transaction); the link in it calls `confirm`, which
makes it `active` and, for daily and weekly cadences, sets `next_digest_at` to the next
local hour in the subscriber's time zone. `unsubscribe` (the CLI, the link in every
message, or the RFC 8058 one-click POST) makes it `unsubscribed` and adds the address
to the suppression list; a hard bounce does the same with status `suppressed`. A
suppressed address receives nothing until the operator subscribes it again with
`resubscribe=True` (which sends a new confirmation). `unsubscribed_at` keeps the last
time the address was unsubscribed, even after a new subscription: a confirmation link
issued before it is refused, so an old link cannot sign up someone who said stop.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker.alerts import outbox
from tracker.alerts.filters import check_choices, known_codes
from tracker.errors import UsageError
from tracker.storage.engine import dialect_insert
from tracker.storage.tables_alerts import (
    ANYWHERE,
    DIGEST_ITEM,
    SUBSCRIBER,
    SUBSCRIBER_PLACE,
    SUPPRESSION,
)
from tracker.timeutil import utcnow

CADENCES: tuple[str, ...] = ("immediate", "daily", "weekly")
WEEKDAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")

_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(rf"{_LOCAL}@{_LABEL}(?:\.{_LABEL})+")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def normalize_email(text: str) -> str:
    """The address, trimmed and lower-cased. Raises UsageError for anything that is not
    one plain ASCII address (no display name, no CR/LF, at most 254 characters)."""
    value = text.strip()
    if "\r" in value or "\n" in value:
        raise UsageError(
            f"invalid email address {text!r}: line breaks are not allowed",
            "Give one plain address such as alice@example.org.",
        )
    if len(value) > 254 or not _EMAIL.fullmatch(value):
        raise UsageError(
            f"invalid email address {text!r}",
            "Give one plain address such as alice@example.org (no name, no brackets).",
        )
    return value.lower()


def check_header_text(value: str, what: str) -> str:
    """Refuses line breaks (CR, LF, and whatever else `str.splitlines` breaks at: VT, FF,
    NEL, U+2028 ...) and other control characters in anything that ends up in a mail
    header: header injection, or a message the email package refuses to serialize."""
    if len(value.splitlines()) > 1 or "\r" in value or "\n" in value or _CONTROL.search(value):
        raise UsageError(
            f"{what} contains a line break or a control character, which would inject mail headers",
            f"Give the {what} on one line.",
        )
    return value.strip()


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UsageError(
            f"unknown time zone {name!r}", "Use an IANA name such as Europe/Paris or UTC."
        ) from None


def next_slot(cadence: str, hour: int, weekday: int, tz: str, after: datetime) -> datetime | None:
    """The first digest time strictly after `after` (aware UTC): `hour`:00 local time in
    `tz`, every day or on `weekday` (0 = Monday). None for immediate delivery.

    A local hour skipped by a DST change maps to the hour after it; a repeated one to its
    first occurrence (fold 0)."""
    if cadence == "immediate":
        return None
    local = after.astimezone(zone(tz))
    day = local.date()
    for offset in range(9):
        d = day + timedelta(days=offset)
        if cadence == "weekly" and d.weekday() != weekday:
            continue
        slot = datetime(d.year, d.month, d.day, hour, tzinfo=zone(tz)).astimezone(after.tzinfo)
        if slot > after:
            return slot
    raise AssertionError("no slot within nine days")  # cannot happen: a week has 7 days


@dataclass
class Subscribed:
    subscriber_id: int
    created: bool
    status: str
    confirmation_key: str | None


def find(conn: Connection, email: str) -> Row[Any] | None:
    return conn.execute(sa.select(SUBSCRIBER).where(SUBSCRIBER.c.email == email)).first()


def suppressed(conn: Connection, email: str) -> Row[Any] | None:
    return conn.execute(sa.select(SUPPRESSION).where(SUPPRESSION.c.email == email)).first()


def subscribe(
    conn: Connection,
    email: str,
    *,
    places: list[str],
    place_specs: Sequence[str] | None = None,
    substances: list[str] = [],  # noqa: B006 (never mutated)
    kinds: list[str] = [],  # noqa: B006
    min_importance: str = "minor",
    cadence: str = "immediate",
    hour: int = 8,
    weekday: int = 0,
    tz: str = "UTC",
    name: str | None = None,
    confirmed: bool = False,
    resubscribe: bool = False,
    now: datetime | None = None,
) -> Subscribed:
    """Create or update the subscription of `email` in the caller's write transaction.

    A new (or previously unsubscribed) address becomes `pending` and gets a confirmation
    mail, unless `confirmed` says the person already agreed (e.g. the operator). An
    active subscriber keeps its status; only the filters and cadence change. `places` are
    place codes (none: everywhere); `place_specs` is what the person typed, kept for
    display (`law.places.resolve_specs` turns names and patterns into both). Raises
    UsageError for bad input and for a suppressed address without `resubscribe`."""
    now = now or utcnow()
    email = normalize_email(email)
    name = check_header_text(name, "name") if name else None
    if cadence not in CADENCES:
        raise UsageError(f"unknown cadence {cadence!r}", "Use immediate, daily or weekly.")
    if not 0 <= hour <= 23 or not 0 <= weekday <= 6:
        raise UsageError(f"hour {hour} or weekday {weekday} out of range", "Hour is 0-23.")
    zone(tz)
    codes = known_codes(conn, places)
    specs = list(place_specs) if place_specs is not None else codes
    subs, picked, importance = check_choices(substances, kinds, min_importance)
    blocked = suppressed(conn, email)
    if blocked is not None:
        if not resubscribe:
            raise UsageError(
                f"{email} is on the suppression list ({blocked.reason} on "
                f"{blocked.created_at:%Y-%m-%d}) and receives nothing",
                "Only if the person asked for it again: add --resubscribe (a new "
                "confirmation mail is sent).",
            )
        conn.execute(SUPPRESSION.delete().where(SUPPRESSION.c.email == email))
    values: dict[str, Any] = {
        "name": name,
        "place_specs": specs,
        "place_codes": codes,
        "substances": subs,
        "kinds": picked,
        "min_importance": importance,
        "cadence": cadence,
        "hour": hour,
        "weekday": weekday,
        "tz": tz,
    }
    row = find(conn, email)
    created = row is None
    if row is None:
        sid = conn.execute(
            SUBSCRIBER.insert()
            .values(email=email, status="pending", created_at=now, **values)
            .returning(SUBSCRIBER.c.id)
        ).scalar_one()
        status = "pending"
    else:
        sid, status = row.id, row.status
        if status != "active":
            status = "pending"
            # `unsubscribed_at` stays: a confirmation link issued before it must not
            # confirm this new request (`activate`).
            values.update(status=status, next_digest_at=None)
        conn.execute(SUBSCRIBER.update().where(SUBSCRIBER.c.id == sid).values(**values))
    index_places(conn, int(sid), codes)
    key = None
    if confirmed:
        activate(conn, sid, now)
        status = "active"
    elif status == "pending":
        key = outbox.enqueue(
            conn,
            f"confirm:{sid}:{now:%Y%m%dT%H%M%S%f}",
            channel="email",
            purpose="confirm",
            recipient=email,
            subscriber_id=sid,
            now=now,
        )
    elif status == "active":
        _reschedule(conn, sid, now)
    if status == "active" and cadence == "immediate" and not created:
        _items_to_alerts(conn, int(sid), email, now)
    return Subscribed(int(sid), created, status, key)


def place_rows(subscriber_id: int, codes: list[str]) -> list[dict[str, Any]]:
    """The `subscriber_place` rows of a subscription to `codes` (none: everywhere)."""
    return [{"subscriber_id": subscriber_id, "place_code": c} for c in codes or [ANYWHERE]]


def index_places(conn: Connection, subscriber_id: int, codes: list[str]) -> None:
    """Replace the subscriber's `subscriber_place` rows, in the caller's transaction: they
    must always say the same as `place_codes` (the outbox fan-out reads only them)."""
    conn.execute(SUBSCRIBER_PLACE.delete().where(SUBSCRIBER_PLACE.c.subscriber_id == subscriber_id))
    conn.execute(SUBSCRIBER_PLACE.insert(), place_rows(subscriber_id, codes))


def activate(
    conn: Connection,
    subscriber_id: int,
    now: datetime | None = None,
    *,
    issued_at: datetime | None = None,
) -> bool:
    """Make a pending subscriber active (the confirmation link). False if it was not
    pending (already active, or unsubscribed since: the link no longer applies), or if
    the link was `issued_at` before the address was last unsubscribed: a confirmation
    link from before an unsubscribe never confirms a later request (`stale_link`)."""
    now = now or utcnow()
    where = [SUBSCRIBER.c.id == subscriber_id, SUBSCRIBER.c.status == "pending"]
    if issued_at is not None:
        where.append(
            sa.or_(
                SUBSCRIBER.c.unsubscribed_at.is_(None),
                SUBSCRIBER.c.unsubscribed_at <= issued_at + LINK_CLOCK_SLACK,
            )
        )
    done = conn.execute(
        SUBSCRIBER.update()
        .where(*where)
        .values(status="active", confirmed_at=now, digest_since=now)
    ).rowcount
    if done:
        _reschedule(conn, subscriber_id, now)
    return bool(done)


# Tokens carry their expiry in whole seconds, so the issue time derived from it may be up
# to a second early.
LINK_CLOCK_SLACK = timedelta(seconds=1)


def stale_link(sub: Row[Any], issued_at: datetime) -> bool:
    """Whether a confirmation link issued at `issued_at` predates the subscriber's last
    unsubscribe (an old link replayed after the person said stop)."""
    last = sub.unsubscribed_at
    return last is not None and issued_at + LINK_CLOCK_SLACK < last


def _reschedule(conn: Connection, subscriber_id: int, now: datetime) -> None:
    row = conn.execute(sa.select(SUBSCRIBER).where(SUBSCRIBER.c.id == subscriber_id)).one()
    slot = next_slot(row.cadence, row.hour, row.weekday, row.tz, now)
    conn.execute(
        SUBSCRIBER.update().where(SUBSCRIBER.c.id == subscriber_id).values(next_digest_at=slot)
    )


def _items_to_alerts(conn: Connection, sid: int, email: str, now: datetime) -> None:
    """A digest subscriber who switches to immediate alerts: the events waiting for the
    next digest (which will not come) are sent now, one alert each, with the keys the
    fan-out would have used; the items are marked as delivered by those alerts."""
    waiting = sa.select(DIGEST_ITEM.c.event_id).where(
        DIGEST_ITEM.c.subscriber_id == sid, DIGEST_ITEM.c.digest_key.is_(None)
    )
    rows = [outbox.email_alert(e, sid, email, now) for e in conn.execute(waiting).scalars()]
    if not rows:
        return
    outbox.enqueue_many(conn, rows)
    conn.execute(
        DIGEST_ITEM.update()
        .where(DIGEST_ITEM.c.subscriber_id == sid, DIGEST_ITEM.c.event_id == sa.bindparam("e"))
        .values(digest_key=sa.bindparam("k")),
        [{"e": r["event_id"], "k": r["key"]} for r in rows],
    )


def unsubscribe(
    conn: Connection,
    email: str,
    *,
    reason: str = "unsubscribed",
    detail: str | None = None,
    now: datetime | None = None,
) -> bool:
    """Stop everything for `email` and suppress it. Idempotent; False if the address was
    neither subscribed nor suppressed before."""
    now = now or utcnow()
    status = "suppressed" if reason == "bounced" else "unsubscribed"
    changed = conn.execute(
        SUBSCRIBER.update()
        .where(SUBSCRIBER.c.email == email, SUBSCRIBER.c.status.in_(("pending", "active")))
        .values(status=status, unsubscribed_at=now, next_digest_at=None)
    ).rowcount
    added = conn.execute(
        dialect_insert(conn, SUPPRESSION)
        .values(email=email, reason=reason, detail=detail, created_at=now)
        .on_conflict_do_nothing(index_elements=["email"])
        .returning(SUPPRESSION.c.email)
    ).first()
    return bool(changed) or added is not None


def listing(conn: Connection) -> list[Row[Any]]:
    return list(conn.execute(sa.select(SUBSCRIBER).order_by(SUBSCRIBER.c.email)))
