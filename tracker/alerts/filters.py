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

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.errors import UsageError
from tracker.storage.tables_core import PLACE
from tracker.vocab import EVENT_KINDS as KINDS
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


def known_codes(conn: Connection, codes: Iterable[str]) -> list[str]:
    """The place codes, sorted and without repeats; raises UsageError naming any code that
    is not a place (names and patterns are resolved before, by `law.places.resolve_specs`)."""
    wanted = sorted({c.strip() for c in codes if c.strip()})
    if not wanted:
        return []
    found = set(conn.execute(sa.select(PLACE.c.code).where(PLACE.c.code.in_(wanted))).scalars())
    unknown = [c for c in wanted if c not in found]
    if unknown:
        raise UsageError(
            f"unknown place code(s): {', '.join(unknown)}",
            "Name places as `tracker places TEXT` shows them (US-CA, TH, an OCD id).",
        )
    return wanted


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
