"""The shared vocabulary: statuses, substances, source tiers, instrument types, event kinds,
importance.

Raw wording from data files and the command line is mapped here with `for ... else`, so
anything that does not match is reported as unmatched, never guessed.
"""

from __future__ import annotations

from collections.abc import Iterable

# Most restrictive first; the effective status of a chain is the first of these found.
STATUSES: tuple[str, ...] = ("banned", "restricted", "regulated", "legal", "unknown")
RESTRICTIVENESS: dict[str, int] = {
    "banned": 4,
    "restricted": 3,
    "regulated": 2,
    "legal": 1,
    "unknown": 0,
}

# `kratom` is the leaf and all its alkaloids, so a kratom rule also answers for 7-OH;
# a 7-OH rule says nothing about the leaf.
SUBSTANCES: tuple[str, ...] = ("kratom", "7-OH")
SUBSTANCE_COVERED_BY: dict[str, tuple[str, ...]] = {
    "kratom": ("kratom",),
    "7-OH": ("7-OH", "kratom"),
}

# Source quality, best first. `vendor` (tier C in the data files) is a vendor's or an
# advocate's page: a lead, never confirmation, so a record resting on one is always marked
# to verify. `seed` is one of the project's seed documents (secondary articles).
TIERS: tuple[str, ...] = ("official", "secondary", "vendor", "seed")
TIER_LABELS: dict[str, str] = {
    "official": "official source (legislature, agency, gazette, official code)",
    "secondary": "reputable secondary source (law firm, news, legal-information site)",
    "vendor": "vendor or advocacy page (lead only)",
    "seed": "seed document (a secondary article the project started from)",
}
TIER_ALIASES: dict[str, str] = {
    "a": "official",
    "official": "official",
    "b": "secondary",
    "secondary": "secondary",
    "c": "vendor",
    "vendor": "vendor",
    "seed": "seed",
    "seed document": "seed",
    "seed_document": "seed",
}

# Where a rule applies within its place, when not everywhere: `unincorporated`, a county's
# (or parish's) rule for its unincorporated area only, which binds the county's own land
# but none of the cities inside it.
SCOPES: tuple[str, ...] = ("unincorporated",)

INSTRUMENT_TYPES: tuple[str, ...] = (
    "statute",
    "session_law",
    "admin_rule",
    "emergency_rule",
    "ordinance",
    "federal_notice",
    "agency_position",
    "document",
    # A source says no law at this level names kratom: a dated positive finding (status
    # `legal`), unlike a place with no record at all.
    "none",
)

# Where a pending measure would take a place's status.
DIRECTIONS: tuple[str, ...] = ("ban", "restrict", "regulate", "repeal")

# What users may be told about (`tracker.alerts.events`); operators subscribe to
# `source_failing` explicitly.
EVENT_KINDS: tuple[str, ...] = (
    "status_changed",
    "effective",
    "expiring",
    "page_changed",
    "pending_measure",
    "source_failing",
)

# Ordered least to most important; subscriptions filter on a minimum.
IMPORTANCE: tuple[str, ...] = ("minor", "relevant", "major")

PLACE_KINDS: tuple[str, ...] = (
    "country",
    "state",
    "district",
    "territory",
    "county",
    "city",
)


def match(raw: str, accepted: Iterable[str], what: str) -> str:
    """The accepted spelling of `raw` (case-insensitive). Raises ValueError naming the forms."""
    options = tuple(accepted)
    wanted = raw.strip().lower()
    for option in options:
        if option.lower() == wanted:
            return option
    else:
        raise ValueError(f"{raw!r} is not a {what}; accepted: {', '.join(options)}")


def match_tier(raw: str) -> str:
    key = raw.strip().lower()
    for alias, tier in TIER_ALIASES.items():
        if alias == key:
            return tier
    else:
        raise ValueError(
            f"{raw!r} is not a source tier; accepted: official (A), secondary (B), "
            "vendor (C: a vendor or advocacy page), seed"
        )


def importance_at_least(value: str, minimum: str) -> bool:
    return IMPORTANCE.index(value) >= IMPORTANCE.index(minimum)
