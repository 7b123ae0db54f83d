"""Aware UTC datetimes inside the program; conversion happens only at the edges."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

_EVERY_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """An aware UTC datetime; a naive value is taken to be UTC already."""
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def today_utc() -> date:
    return utcnow().date()


def interval(text: str) -> timedelta:
    """`6h`, `30m`, `1d`, `2h30m`, `90s` -> a positive timedelta. Raises ValueError."""
    m = _EVERY_RE.match(text.strip().lower())
    if not m or not any(m.groups()):
        raise ValueError(f"invalid interval {text!r}; use forms like 30m, 6h, 1d, 2h30m")
    d, h, mi, s = (int(x or 0) for x in m.groups())
    try:
        every = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    except OverflowError:  # more days than a timedelta holds (about 2.7 million years)
        raise ValueError(f"interval {text!r} is too long") from None
    if every <= timedelta(0):
        raise ValueError(f"interval {text!r} must be longer than zero")
    return every
