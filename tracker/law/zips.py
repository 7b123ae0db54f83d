"""US ZIP codes: the places a ZIP lies in, and the effective status there.

The ZIP data is the `zipcodes` package (offline, USPS-derived): for each ZIP its primary
city, the other city names the post office accepts for it, its county and its state.
A ZIP's city and county are matched to the counties and cities with rules of their own
(`jurisdictions/places/`) by state and name (`place_key` look-up, so aliases count).

The answer is `effective.decide` over the levels found, innermost first: the matched
city, the matched county, then the state's chain. The most restrictive level wins, as
for any place. Whatever the data cannot settle is said, never guessed:

- an *other* city name of the ZIP that is itself a place with rules makes the answer
  ambiguous: that city is added as a level (its rules count, in case the address lies
  there) and a note names it;
- ZIP areas follow mail routes, not city limits, and the data names one county per ZIP
  (where most of it lies): a note says so whenever a city or county decides;
- PO Box and unique (one-organisation) ZIPs locate a post office or a building, not
  the person: a note says so; a ZIP no longer in use is answered with a note;
- military ZIPs (AA, AE, AP) lie in no jurisdiction: UsageError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.errors import UsageError
from tracker.law import places as places_mod
from tracker.law.asof import rows_at
from tracker.law.effective import Answer, decide, pending
from tracker.storage.tables_core import PLACE, PLACE_KEY, Place
from tracker.vocab import SUBSTANCES

ZIP_FORMS = "a 5-digit US ZIP code (38801) or ZIP+4 (38801-1234)"
_ZIP = re.compile(r"^\s*(\d{5})(?:-\d{4})?\s*$")
_MILITARY = ("AA", "AE", "AP")
# Freely associated states: US ZIP codes, but countries of their own (ISO 3166-1).
_ASSOCIATED = ("FM", "MH", "PW")
_DEPTH = {"city": 0, "county": 1}  # anything else (state, country) comes after


class ZipNotFound(UsageError):
    """A well-formed ZIP code that no post office uses; carries nearby ones."""

    def __init__(self, code: str, suggestions: list[str]) -> None:
        self.text = code
        self.suggestions = suggestions[:3]
        hint = (
            "Nearby ZIP codes in use: " + ", ".join(self.suggestions) + "."
            if self.suggestions
            else "Check the code on the address."
        )
        super().__init__(f"unknown ZIP code: {code!r}", hint)


def is_zip(text: str) -> bool:
    """Whether `text` has the form of a ZIP code (5 digits, or ZIP+4)."""
    return bool(_ZIP.match(text))


@dataclass
class ZipArea:
    """What the data says about one ZIP code, and the places it matched."""

    code: str
    city: str
    county: str | None
    state: str
    kind: str  # STANDARD, PO BOX, UNIQUE
    active: bool
    other_cities: list[str]
    levels: list[Place]  # matched places, innermost first, then the state's chain
    place: Place  # the innermost matched place: city, else county, else the state
    alternatives: list[Place] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ambiguous(self) -> bool:
        return bool(self.alternatives)

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "city": self.city,
            "other_cities": self.other_cities,
            "county": self.county,
            "state": self.state,
            "type": self.kind,
            "active": self.active,
            "matched": [p.code for p in self.levels if p.kind in _DEPTH],
            "ambiguous": self.ambiguous,
            "alternatives": [p.code for p in self.alternatives],
            "notes": self.notes,
        }


def _record(code: str) -> dict[str, Any] | None:
    import zipcodes

    found = zipcodes.matching(code)
    return found[0] if found else None


def _nearby(code: str) -> list[str]:
    import zipcodes

    for digits in (3, 2, 1):  # the same area first, then wider
        same = [z["zip_code"] for z in zipcodes.similar_to(code[:digits])]
        if same:
            return sorted(same, key=lambda z: (abs(int(z) - int(code)), z))[:3]
    return []


def _local(conn: Connection, name: str, state: str, kinds: tuple[str, ...]) -> list[Place]:
    """Listed counties or cities of `state` that `name` names (names and aliases)."""
    codes = sa.select(PLACE_KEY.c.place_code).where(PLACE_KEY.c.key == places_mod.normalize(name))
    found = conn.execute(
        sa.select(PLACE.c.code).where(PLACE.c.code.in_(codes), PLACE.c.kind.in_(kinds))
    ).scalars()
    places = [p for p in (places_mod.get(conn, c) for c in sorted(found)) if p is not None]
    return [p for p in places if places_mod.state_of(p) == state]


def _merge(chains: list[list[Place]]) -> list[Place]:
    """Levels of several chains, each once, cities first, then counties, then the rest in
    chain order (state, country)."""
    seen: dict[str, Place] = {}
    for chain in chains:
        for p in chain:
            seen.setdefault(p.code, p)
    ordered = list(seen.values())
    return sorted(ordered, key=lambda p: _DEPTH.get(p.kind, 2))


def lookup(conn: Connection, text: str) -> ZipArea:
    """The places ZIP `text` lies in. Raises UsageError (not a ZIP, military) or
    ZipNotFound."""
    m = _ZIP.match(text)
    if not m:
        raise UsageError(f"invalid ZIP code: {text!r}", f"Give {ZIP_FORMS}.")
    code = m.group(1)
    data = _record(code)
    if data is None:
        raise ZipNotFound(code, _nearby(code))
    st = str(data["state"]).upper()
    if st in _MILITARY:
        raise UsageError(
            f"ZIP {code} is a military mail code ({st}): it lies in no jurisdiction",
            "Ask for the place where the goods are used (a country or US state).",
        )
    state = places_mod.get(conn, st if st in _ASSOCIATED else f"US-{st}")
    if state is None:
        raise UsageError(f"ZIP {code} is in {st}, which is not a tracked place")
    city_name, county_name = str(data["city"]), data.get("county") or None
    others = [str(c) for c in data.get("acceptable_cities") or []]
    city = _local(conn, city_name, st, ("city", "county"))
    county = _local(conn, county_name, st, ("county",)) if county_name else []
    alternatives: list[Place] = []
    for other in others:
        alternatives += [p for p in _local(conn, other, st, ("city", "county")) if p not in city]
    state_chain = places_mod.chain_of(conn, state)
    matched = list({p.code: p for p in (*city, *county)}.values())
    chains = [places_mod.chain_of(conn, p) for p in (*matched, *alternatives)]
    levels = _merge([*chains, state_chain])
    place = matched[0] if matched else state
    cities = [p for p in city if p.kind == "city"]
    notes = _notes(code, data, cities, county, alternatives, city_name)
    return ZipArea(
        code=code,
        city=city_name,
        county=county_name,
        state=state.code,
        kind=str(data.get("zip_code_type") or "STANDARD"),
        active=bool(data.get("active", True)),
        other_cities=others,
        levels=levels,
        place=place,
        alternatives=sorted({p.code: p for p in alternatives}.values(), key=lambda p: p.code),
        notes=notes,
    )


def _notes(
    code: str,
    data: dict[str, Any],
    city: list[Place],
    county: list[Place],
    alternatives: list[Place],
    city_name: str,
) -> list[str]:
    notes = []
    if alternatives:
        names = ", ".join(places_mod.label(p) for p in alternatives)
        notes.append(
            f"ambiguous: ZIP {code} is also used for {names}, which has rules of its own; "
            "its rules are counted in case the address lies there"
        )
    if city:
        notes.append(
            f"ZIP areas do not follow city limits: an address with ZIP {code} may lie "
            f"outside {city_name}"
        )
    if county:
        notes.append(
            f"the ZIP data names one county per ZIP ({data.get('county')}); a ZIP that "
            "crosses county lines is answered for that county"
        )
    kind = str(data.get("zip_code_type") or "")
    if kind in ("PO BOX", "UNIQUE"):
        notes.append(
            f"ZIP {code} is a {kind.lower()} code: it locates a post office or one "
            "organisation, not where the goods are used"
        )
    if not data.get("active", True):
        notes.append(f"ZIP {code} is no longer in use; answered for the area it last had")
    return notes


def effective_zip(
    conn: Connection,
    area: ZipArea,
    substance: str,
    as_of: date,
    known_at: datetime | None = None,
) -> Answer:
    """The effective status for the ZIP: the most restrictive of its levels."""
    codes = [p.code for p in area.levels]
    by_place: dict[str, list[Any]] = {}
    for row in rows_at(conn, codes, SUBSTANCES, as_of, known_at):
        by_place.setdefault(row.place_code, []).append(row)
    answer = decide(area.place, area.levels, by_place, substance, as_of, known_at)
    answer.pending = pending(conn, codes, known_at)
    return answer


def answer_dict(area: ZipArea, answer: Answer) -> dict[str, Any]:
    """The documented answer shape plus `zip` (what the ZIP data said, and its notes)."""
    return {**answer.to_dict(), "zip": area.to_dict()}
