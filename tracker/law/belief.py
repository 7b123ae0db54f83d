"""A belief: a validated claim about one place and substance over a span of valid time,
and the arithmetic of valid-time spans (`[valid_from, valid_to)`, None = unbounded).

Spans compare on the first day of each boundary's period; the precision (year, month,
day) travels with every boundary so it is shown as it was known.

`NO_PERIOD` is the empty span (`valid_from == valid_to`, both `EMPTY`): a claim that
speaks of no determinable period (a seed document without a date). It is kept in history,
attributed, and answers for no date, because no as-of query can fall inside an empty span.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from datetime import date
from typing import Any

from sqlalchemy.engine import Row

from tracker.law.dates import PartialDate
from tracker.vocab import INSTRUMENT_TYPES, SCOPES, STATUSES, SUBSTANCES, TIERS, match

Span = tuple[PartialDate | None, PartialDate | None]

# Both ends of the empty span. Stored as is, so `valid_from <= day < valid_to` is false for
# every day on both backends (and PostgreSQL's daterange of it is empty).
EMPTY = PartialDate(date.min, "day")
NO_PERIOD: Span = (EMPTY, EMPTY)

# Fields added after the first data files were loaded: left out of a belief's digest while
# unset, so adding them does not make every loaded item look new.
_LATER_FIELDS = ("checked", "scope")


def is_empty(span: Span) -> bool:
    """True for a span that contains no day (see `NO_PERIOD`)."""
    lo, hi = span
    return lo is not None and hi is not None and hi.value <= lo.value


@dataclass(frozen=True)
class Belief:
    """A validated claim about one place and substance over a span of valid time."""

    place_code: str
    substance: str
    status: str
    source_tier: str
    origin: str
    valid_from: PartialDate | None = None
    valid_to: PartialDate | None = None
    expires: PartialDate | None = None
    min_age: int | None = None
    conditions: tuple[str, ...] = ()
    instrument_type: str | None = None
    instrument_citation: str | None = None
    instrument_title: str | None = None
    instrument_url: str | None = None
    instrument_enacted: PartialDate | None = None
    source_url: str | None = None
    source_document: str | None = None
    source_title: str | None = None
    source_quote: str | None = None
    source_date: PartialDate | None = None
    note: str | None = None
    verify: bool = False
    checked: PartialDate | None = None
    scope: str | None = None  # vocab.SCOPES; None: the whole place and everything in it

    def __post_init__(self) -> None:
        """Raises ValueError, naming the accepted forms, for anything out of vocabulary or
        inconsistent: a vendor or advocacy source not marked to verify, an instrument type
        `none` with a status other than `legal`, an empty span other than `NO_PERIOD`."""
        object.__setattr__(self, "status", match(self.status, STATUSES[:-1], "status"))
        object.__setattr__(self, "substance", match(self.substance, SUBSTANCES, "substance"))
        if self.source_tier not in TIERS:
            raise ValueError(f"{self.source_tier!r} is not a source tier ({', '.join(TIERS)})")
        if self.source_tier == "vendor" and not self.verify:
            raise ValueError(
                "a vendor or advocacy page (tier C) is a lead, never confirmation: "
                "a record resting on one needs verify: true"
            )
        if self.instrument_type is not None:
            kind = match(self.instrument_type, INSTRUMENT_TYPES, "instrument type")
            if kind == "none" and self.status != "legal":
                raise ValueError(
                    "instrument type none (no law names kratom) goes with status legal, "
                    f"not {self.status}"
                )
        if self.scope is not None:
            object.__setattr__(self, "scope", match(self.scope, SCOPES, "scope"))
        if self.min_age is not None and not 0 < self.min_age < 100:
            raise ValueError(f"minimum age {self.min_age} is not between 1 and 99")
        span = (self.valid_from, self.valid_to)
        if is_empty(span) and span != NO_PERIOD:
            raise ValueError(f"valid_to {self.valid_to} is not after valid_from {self.valid_from}")
        if not (self.source_url or self.source_document):
            raise ValueError("a belief needs a source: a URL or a document")

    @property
    def answers_no_date(self) -> bool:
        """True for a claim of no determinable period (`NO_PERIOD`)."""
        return (self.valid_from, self.valid_to) == NO_PERIOD

    def values(self) -> dict[str, Any]:
        """Column values for a status_record row (knowledge-time columns excluded)."""
        out: dict[str, Any] = {
            "place_code": self.place_code,
            "substance": self.substance,
            "status": self.status,
            "min_age": self.min_age,
            "conditions": list(self.conditions),
            "instrument_type": self.instrument_type,
            "instrument_citation": self.instrument_citation,
            "instrument_title": self.instrument_title,
            "instrument_url": self.instrument_url,
            "source_url": self.source_url,
            "source_document": self.source_document,
            "source_title": self.source_title,
            "source_quote": self.source_quote,
            "source_tier": self.source_tier,
            "note": self.note,
            "verify": self.verify,
            "scope": self.scope,
            "origin": self.origin,
        }
        for name in (
            "valid_from",
            "valid_to",
            "expires",
            "instrument_enacted",
            "source_date",
            "checked",
        ):
            pd: PartialDate | None = getattr(self, name)
            out[name] = pd.value if pd else None
            out[name + "_precision"] = pd.precision if pd else None
        return out

    def digest(self) -> str:
        """A stable digest of the claim's content (used to make imports idempotent)."""
        data = asdict(self)
        data.pop("origin")
        for name in _LATER_FIELDS:
            if data[name] is None:
                data.pop(name)
        text = json.dumps(data, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()[:32]


def bounds(row: Row[Any] | Mapping[Any, Any]) -> Span:
    m = row._mapping if isinstance(row, Row) else row
    return (
        PartialDate.from_columns(m["valid_from"], m["valid_from_precision"]),
        PartialDate.from_columns(m["valid_to"], m["valid_to_precision"]),
    )


def start_of(d: PartialDate | None) -> date:
    return d.value if d else date.min


def end_of(d: PartialDate | None) -> date:
    return d.value if d else date.max


def overlaps(a: Span, b: Span) -> bool:
    return start_of(a[0]) < end_of(b[1]) and start_of(b[0]) < end_of(a[1])


def gaps(span: Span, covered: Iterable[Span]) -> list[Span]:
    """The parts of `span` that no interval in `covered` touches."""
    out = []
    cursor = span[0]
    for lo, hi in sorted(covered, key=lambda iv: start_of(iv[0])):
        if end_of(hi) <= start_of(cursor) or start_of(lo) >= end_of(span[1]):
            continue
        if start_of(lo) > start_of(cursor):
            out.append((cursor, lo))
        if end_of(hi) >= end_of(span[1]):
            return out
        if end_of(hi) > start_of(cursor):
            cursor = hi
    out.append((cursor, span[1]))
    return [iv for iv in out if start_of(iv[0]) < end_of(iv[1])]
