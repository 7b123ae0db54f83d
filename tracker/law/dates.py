"""Dates known to a year, a month or a day, and parsing of user-supplied dates and times.

A `PartialDate` keeps the first day of its period for comparisons and its precision for
display, so a rule known only to have started in 2014 is shown as `2014`, never as
`2014-01-01`. Comparisons treat it as starting on the first day of that period; the
precision travels with every boundary and is shown wherever the date is shown.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Literal

from tracker.errors import UsageError

Precision = Literal["year", "month", "day"]
PRECISIONS: tuple[Precision, ...] = ("year", "month", "day")

_PARTIAL = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")

DATE_FORMS = "YYYY-MM-DD (or 'today')"
TIME_FORMS = "YYYY-MM-DD, YYYY-MM-DDTHH:MM[:SS] with optional Z or +HH:MM, or 'now'"


@dataclass(frozen=True, order=True)
class PartialDate:
    value: date
    precision: Precision = "day"

    @classmethod
    def parse(cls, raw: object) -> PartialDate:
        """From `2014`, `"2012-07"`, `"2016-05-10"` or a `date`. Raises ValueError."""
        if isinstance(raw, datetime):
            raise ValueError(f"{raw!r} is a date and time; give a date")
        if isinstance(raw, date):
            return cls(raw, "day")
        text = str(raw).strip()
        m = _PARTIAL.match(text)
        if not m:
            raise ValueError(f"{text!r} is not a date of the form YYYY, YYYY-MM or YYYY-MM-DD")
        year, month, day = m.groups()
        try:
            if day is not None:
                return cls(date(int(year), int(month), int(day)), "day")
            if month is not None:
                return cls(date(int(year), int(month), 1), "month")
            return cls(date(int(year), 1, 1), "year")
        except ValueError as exc:
            raise ValueError(f"{text!r} is not a valid date ({exc})") from None

    def period_end(self) -> PartialDate:
        """The first day after the period this date names, at the same precision:
        2025-03-15 -> 2025-03-16, 2025-03 -> 2025-04, 2025 -> 2026."""
        v = self.value
        if self.precision == "year":
            return PartialDate(date(v.year + 1, 1, 1), "year")
        if self.precision == "month":
            nxt = date(v.year + (v.month == 12), v.month % 12 + 1, 1)
            return PartialDate(nxt, "month")
        return PartialDate(v + timedelta(days=1), "day")

    @classmethod
    def from_columns(cls, value: date | None, precision: str | None) -> PartialDate | None:
        if value is None:
            return None
        for known in PRECISIONS:
            if known == precision:
                return cls(value, known)
        return cls(value, "day")

    def __str__(self) -> str:
        if self.precision == "year":
            return f"{self.value.year:04d}"
        if self.precision == "month":
            return f"{self.value.year:04d}-{self.value.month:02d}"
        return self.value.isoformat()


def checked_end(checked: str | None) -> date | None:
    """The first day after the whole period a record's `checked` text names (`2021-04`
    -> 2021-05-01), the one rule by which "last verified" and staleness are judged; None
    for an undated check."""
    return PartialDate.parse(checked).period_end().value if checked else None


def column_text(row: Mapping[Any, Any], name: str) -> str | None:
    """The text of a partial date stored as columns `name` and `name_precision`
    (`"2014"`, `"2012-07"`, `"2016-05-10"`), or None."""
    value = PartialDate.from_columns(row[name], row[name + "_precision"])
    return str(value) if value else None


def show(value: PartialDate | None, unknown: str = "unknown") -> str:
    return str(value) if value is not None else unknown


def parse_day(text: str, *, option: str = "date") -> date:
    """A calendar day from the command line: YYYY-MM-DD or 'today' (UTC)."""
    t = text.strip().lower()
    if t == "today":
        return datetime.now(UTC).date()
    try:
        return date.fromisoformat(t)
    except ValueError:
        raise UsageError(f"invalid {option}: {text!r}", f"Accepted forms: {DATE_FORMS}.") from None


def parse_instant(text: str, *, option: str = "time") -> datetime:
    """A knowledge time: a bare date means the end of that day (UTC), so `--known-at
    2026-02-01` includes everything recorded on 1 February. Naive times are UTC."""
    t = text.strip()
    if t.lower() == "now":
        return datetime.now(UTC)
    try:
        if len(t) == 10:
            d = date.fromisoformat(t)
            return datetime.combine(d + timedelta(days=1), time(0), UTC) - timedelta(microseconds=1)
        parsed = datetime.fromisoformat(t.replace("Z", "+00:00").replace("z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except ValueError:
        raise UsageError(f"invalid {option}: {text!r}", f"Accepted forms: {TIME_FORMS}.") from None
    except OverflowError:  # 0001-01-01T00:00+05:00 is before the first representable UTC time
        raise UsageError(
            f"{option} {text!r} is out of range", "Give a time between the years 1 and 9999."
        ) from None
