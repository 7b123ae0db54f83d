"""Which events a subscriber or a webhook endpoint wants: places, substances, kinds and a
minimum importance, shared by subscriptions and webhooks.

Places: a place includes everything under it (a subscription to `US-CA` gets San Diego's
ordinance). A spec is anything `places.resolve` accepts, or a pattern with `*` or `?`
matched against place codes (`US-*`: every US state, district and territory; `*`:
everywhere). No place at all means everywhere. An event without a place reaches only
filters without places.

Substances: a kratom rule also answers for 7-OH, so a 7-OH filter receives kratom events
too. An event without a substance (a page change) matches every substance filter.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker import places
from tracker.errors import UsageError
from tracker.events import KINDS
from tracker.models import PLACE
from tracker.vocab import IMPORTANCE, SUBSTANCE_COVERED_BY, SUBSTANCES, importance_at_least, match

# Operators subscribe to `source_failing` explicitly; everyone else gets the rest.
DEFAULT_KINDS: tuple[str, ...] = tuple(k for k in KINDS if k != "source_failing")


@dataclass(frozen=True)
class EventFilter:
    place_codes: frozenset[str] = frozenset()  # empty: everywhere
    substances: tuple[str, ...] = ()  # empty: every substance
    kinds: tuple[str, ...] = DEFAULT_KINDS
    min_importance: str = "minor"

    @classmethod
    def of(cls, row: Any) -> EventFilter:
        """The filter stored in a subscriber or webhook_endpoint row."""
        return cls(
            frozenset(row.place_codes or ()),
            tuple(row.substances or ()),
            tuple(row.kinds or ()),
            row.min_importance,
        )

    def matches(
        self, kind: str, importance: str, substance: str | None, chain: Sequence[str] | None
    ) -> bool:
        """`chain` is the event's place and every place above it, or None (no place)."""
        if kind not in self.kinds or not importance_at_least(importance, self.min_importance):
            return False
        if self.substances and substance is not None:
            covered = {c for s in self.substances for c in SUBSTANCE_COVERED_BY[s]}
            if substance not in covered:
                return False
        if not self.place_codes:
            return True
        return chain is not None and not self.place_codes.isdisjoint(chain)


def place_chain(conn: Connection, code: str | None) -> list[str] | None:
    """The place code and its ancestors' codes (innermost first), None without a place."""
    if code is None:
        return None
    ancestors = conn.execute(sa.select(PLACE.c.ancestors).where(PLACE.c.code == code)).scalar()
    return [code, *(ancestors or [])]


def resolve_places(conn: Connection, specs: Iterable[str]) -> tuple[list[str], list[str]]:
    """(specs as given, the place codes they name). Raises PlaceNotFound, AmbiguousPlace
    or UsageError (a pattern that matches nothing)."""
    given: list[str] = []
    codes: set[str] = set()
    all_codes: list[str] | None = None
    for raw in specs:
        spec = raw.strip()
        if not spec:
            continue
        given.append(spec)
        if "*" in spec or "?" in spec:
            if all_codes is None:
                all_codes = list(conn.execute(sa.select(PLACE.c.code)).scalars())
            found = [c for c in all_codes if fnmatch.fnmatchcase(c.upper(), spec.upper())]
            if not found:
                raise UsageError(
                    f"place pattern {spec!r} matches no place",
                    "Patterns match place codes: US-* (every US state and territory), * (all).",
                )
            codes.update(found)
        else:
            codes.add(places.resolve(conn, spec).code)
    return given, sorted(codes)


def check_choices(
    substances: Iterable[str], kinds: Iterable[str], min_importance: str
) -> tuple[list[str], list[str], str]:
    """Validated (substances, kinds, importance); an empty kinds list means the defaults.
    Raises UsageError naming the accepted values."""
    try:
        subs = sorted({match(s, SUBSTANCES, "substance") for s in substances})
        picked = sorted({match(k, KINDS, "event kind") for k in kinds}) or list(DEFAULT_KINDS)
        importance = match(min_importance, IMPORTANCE, "importance")
    except ValueError as exc:
        raise UsageError(str(exc), "Use one of the accepted values listed above.") from None
    return subs, picked, importance
