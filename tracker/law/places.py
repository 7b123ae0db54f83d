"""Places: every country, every US state and territory, the US federal level, and the
counties and cities with their own rules; look-up by code, OCD id or name.

Countries and US subdivisions come from pycountry (FIPS codes from `us`), never typed by
hand; counties and cities come from `jurisdictions/places/*.yaml`. The country `US` is
the US federal level. ISO 3166-1 codes of US territories (PR, GU, ...) name the same
place as their ISO 3166-2 code (US-PR, ...), since one law applies there.

The table is reference data, rebuilt by `sync_places` whenever pycountry or a places file
changes; statuses refer to places by code, so codes never change meaning.
"""

from __future__ import annotations

import fnmatch
import hashlib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.errors import AmbiguousPlace, DataFileError, PlaceNotFound, UsageError
from tracker.storage.tables_core import PLACE, Place
from tracker.storage.tables_core import PLACE_KEY as KEY

_SUBDIVISION_KIND = {"state": "state", "district": "district", "outlying area": "territory"}
_FEDERAL_NAMES = ("United States federal", "US federal", "federal", "USA federal")


def normalize(text: str) -> str:
    """Case-, accent- and space-insensitive form of a name or code."""
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
    return " ".join(stripped.casefold().replace("’", "'").split())


def state_of(place: Place) -> str:
    """The postal code of a county's or city's state (`CA`), from its OCD id: its parent
    may be a county. Empty for other places."""
    ocd = place.ocd_id or ""
    if place.kind not in ("county", "city") or "/state:" not in ocd:
        return ""
    return ocd.split("/state:", 1)[1][:2].upper()


def label(place: Place) -> str:
    """`Rhode Island (US-RI)`, `San Diego, CA (city)`, `Thailand (TH)`."""
    if place.kind in ("county", "city"):
        state = state_of(place)
        return f"{place.name}, {state} ({place.kind})" if state else f"{place.name} ({place.kind})"
    return f"{place.name} ({place.code})"


def short_code(place: Place) -> str:
    """The code for countries and states; `San Diego, CA` for local places (whose code
    is a long OCD id)."""
    if place.kind in ("county", "city"):
        state = state_of(place)
        return f"{place.name}, {state}" if state else place.name
    return place.code


def level_name(place: Place) -> str:
    return "federal" if place.code == "US" else place.kind


# ---------------------------------------------------------------- building the table


@dataclass
class _Built:
    places: list[dict[str, Any]] = field(default_factory=list)
    keys: set[tuple[str, str, str]] = field(default_factory=set)

    def add(self, row: dict[str, Any], keys: Iterable[tuple[str, str]]) -> None:
        self.places.append(row)
        for how, text in keys:
            if text:
                self.keys.add((normalize(text), row["code"], how))


def _countries_and_states(built: _Built) -> None:
    import pycountry
    import us

    territories: dict[str, Any] = {}
    for sub in pycountry.subdivisions.get(country_code="US"):
        kind = _SUBDIVISION_KIND[sub.type.lower()]
        abbr = sub.code.split("-", 1)[1]
        ocd_kind = {"state": "state", "district": "district", "territory": "territory"}[kind]
        state = us.states.lookup(abbr)
        built.add(
            {
                "code": sub.code,
                "kind": kind,
                "name": sub.name,
                "parent_code": "US",
                "iso_code": sub.code,
                "alpha3": None,
                "abbr": abbr,
                "ocd_id": f"ocd-division/country:us/{ocd_kind}:{abbr.lower()}",
                "fips": state.fips if state is not None else None,
            },
            [
                ("iso", sub.code),
                ("abbr", abbr),
                ("name", sub.name),
                ("ocd", f"ocd-division/country:us/{ocd_kind}:{abbr.lower()}"),
            ],
        )
        if kind == "territory":
            territories[abbr] = sub

    for country in pycountry.countries:
        names = [
            ("name", country.name),
            ("name", getattr(country, "official_name", "")),
            ("name", getattr(country, "common_name", "")),
        ]
        if country.alpha_2 in territories:  # PR, GU, ...: the US subdivision is the place
            target = territories[country.alpha_2].code
            for how, text in [("iso", country.alpha_2), ("alpha3", country.alpha_3), *names]:
                if text:
                    built.keys.add((normalize(text), target, how))
            continue
        keys = [
            ("iso", country.alpha_2),
            ("alpha3", country.alpha_3),
            *names,
            ("ocd", f"ocd-division/country:{country.alpha_2.lower()}"),
        ]
        if country.alpha_2 == "US":
            keys += [("name", n) for n in _FEDERAL_NAMES]
        built.add(
            {
                "code": country.alpha_2,
                "kind": "country",
                "name": country.name,
                "parent_code": None,
                "iso_code": country.alpha_2,
                "alpha3": country.alpha_3,
                "abbr": None,
                "ocd_id": f"ocd-division/country:{country.alpha_2.lower()}",
                "fips": None,
            },
            keys,
        )


def local_place_files(root: Path) -> list[Path]:
    return sorted((root / "places").glob("*.yaml"))


def _local_places(built: _Built, files: Sequence[Path], root: Path) -> None:
    from tracker.law.datafile import load_yaml, require

    known = {p["code"] for p in built.places}
    for path in files:
        doc = load_yaml(path, root)
        for item in doc.list("places"):
            ocd = require(item, "ocd_id", str)
            name = require(item, "name", str)
            kind = require(item, "kind", str)
            if kind not in ("county", "city"):
                raise DataFileError(item.where, item.line, f"kind {kind!r} is not county or city")
            if not ocd.startswith("ocd-division/country:us/state:"):
                raise DataFileError(
                    item.where, item.line, f"{ocd!r} is not a US county or city OCD id"
                )
            state = ocd.split("/state:", 1)[1][:2].upper()
            parent = item.get("parent") or "US-" + state
            if parent not in known:
                raise DataFileError(item.where, item.line, f"parent {parent!r} is not a place")
            if ocd in known:
                raise DataFileError(item.where, item.line, f"{ocd} is listed twice")
            known.add(ocd)
            built.add(
                {
                    "code": ocd,
                    "kind": kind,
                    "name": name,
                    "parent_code": parent,
                    "iso_code": None,
                    "alpha3": None,
                    "abbr": None,
                    "ocd_id": ocd,
                    "fips": item.get("fips"),
                },
                [
                    ("ocd", ocd),
                    ("name", name),
                    ("name", f"{name}, {state}"),
                    *[("name", a) for a in item.get("aliases") or []],
                ],
            )


def places_digest(root: Path) -> str:
    """Changes when pycountry, `us` or a places file changes: then the table is rebuilt.

    The installed packages are identified by the path, size and modification time of their
    `__init__.py` (reading their metadata would cost 70 ms on every command; the folder's
    own time would change whenever Python writes a `__pycache__` into it)."""
    from importlib.util import find_spec

    h = hashlib.sha256(b"places-v1")
    for package in ("pycountry", "us"):
        spec = find_spec(package)
        if spec is not None and spec.origin:
            stat = Path(spec.origin).stat()
            h.update(f"{spec.origin}:{stat.st_size}:{stat.st_mtime_ns}".encode())
    for path in local_place_files(root):
        h.update(path.name.encode() + b"\0" + path.read_bytes())
    return h.hexdigest()


def sync_places(conn: Connection, root: Path) -> int:
    """Insert or update every place and rebuild the look-up keys. Returns the count."""
    built = _Built()
    _countries_and_states(built)
    _local_places(built, local_place_files(root), root)
    existing = {r[0] for r in conn.execute(sa.select(PLACE.c.code))}
    # Parents first, so the foreign key holds on every insert.
    order = {"country": 0, "state": 1, "district": 1, "territory": 1, "county": 2, "city": 3}
    rows = sorted(built.places, key=lambda p: order[p["kind"]])
    parent_of = {r["code"]: r["parent_code"] for r in rows}
    for r in rows:
        ancestors, up = [], r["parent_code"]
        while up is not None and up not in ancestors:
            ancestors.append(up)
            up = parent_of.get(up)
        r["ancestors"] = ancestors
    new = [r for r in rows if r["code"] not in existing]
    if new:
        conn.execute(PLACE.insert(), new)
    for r in rows:
        if r["code"] in existing:
            conn.execute(PLACE.update().where(PLACE.c.code == r["code"]).values(**r))
    conn.execute(KEY.delete())
    keys: dict[tuple[str, str], str] = {}
    for k, c, h in sorted(built.keys):
        keys.setdefault((k, c), h)  # one row per key and place; iso sorts before name
    conn.execute(
        KEY.insert(), [{"key": k, "place_code": c, "how": h} for (k, c), h in keys.items()]
    )
    return len(rows)


def data_codes(conn: Connection) -> dict[str, str]:
    """The codes a data file may name a place by, mapped to the place code: every place
    code, and the ISO 3166-1 code of each US territory (`PR` names `US-PR`)."""
    out: dict[str, str] = {}
    for code, kind in conn.execute(sa.select(PLACE.c.code, PLACE.c.kind)):
        out[code] = code
        if kind == "territory" and code.startswith("US-"):
            out.setdefault(code[3:], code)
    return out


# ---------------------------------------------------------------- look-up


def _row_to_place(row: Any) -> Place:
    return Place(**row._mapping)


def get(conn: Connection, code: str) -> Place | None:
    row = conn.execute(sa.select(PLACE).where(PLACE.c.code == code)).first()
    return _row_to_place(row) if row else None


def resolve(conn: Connection, text: str) -> Place:
    """The one place `text` names. Raises PlaceNotFound (with up to three suggestions)
    or AmbiguousPlace (listing the candidates, never guessing)."""
    key = normalize(text)
    codes = sa.select(KEY.c.place_code).where(KEY.c.key == key)
    rows = conn.execute(sa.select(PLACE).where(PLACE.c.code.in_(codes))).all()
    places = [_row_to_place(r) for r in rows]
    if len(places) == 1:
        return places[0]
    if places:
        raise AmbiguousPlace(text, sorted(_candidate(conn, p, key) for p in places))
    raise PlaceNotFound(text, suggest(conn, key))


def _candidate(conn: Connection, place: Place, key: str) -> str:
    hows = (
        conn.execute(sa.select(KEY.c.how).where(KEY.c.key == key, KEY.c.place_code == place.code))
        .scalars()
        .all()
    )
    how = {
        "iso": "ISO code",
        "alpha3": "ISO alpha-3",
        "abbr": "postal abbreviation",
        "ocd": "OCD id",
        "name": "name",
    }
    return f"{label(place)}: {', '.join(sorted(how.get(h, h) for h in hows))}"


def suggest(conn: Connection, key: str, n: int = 3) -> list[str]:
    return [label(p) for p in suggest_places(conn, key, n)]


def suggest_places(conn: Connection, key: str, n: int = 3) -> list[Place]:
    """Up to `n` places with a code or name close to the normalized `key`."""
    import difflib  # only when a name is not found: not on every command's start

    keys = conn.execute(sa.select(KEY.c.key, KEY.c.place_code)).all()
    by_key: dict[str, str] = {}
    for k, code in keys:
        by_key.setdefault(k, code)
    close = difflib.get_close_matches(key, list(by_key), n=n * 3, cutoff=0.6)
    out: list[Place] = []
    for k in close:
        place = get(conn, by_key[k])
        if place is not None and all(label(place) != label(p) for p in out):
            out.append(place)
        if len(out) == n:
            break
    return out


def search(conn: Connection, text: str, limit: int = 50) -> list[Place]:
    """Places whose code, OCD id or a name contains `text` (exact matches first)."""
    key = normalize(text)
    ranked = (
        sa.select(
            KEY.c.place_code, sa.func.min(sa.case((KEY.c.key == key, 0), else_=1)).label("rank")
        )
        .where(KEY.c.key.contains(key, autoescape=True))
        .group_by(KEY.c.place_code)
        .subquery()
    )
    rows = conn.execute(
        sa.select(PLACE)
        .join(ranked, ranked.c.place_code == PLACE.c.code)
        .order_by(ranked.c.rank, PLACE.c.name)
        .limit(limit)
    ).all()
    return [_row_to_place(r) for r in rows]


def chain(conn: Connection, code: str) -> list[Place]:
    """The place and every level above it, innermost first (a city, its county or state,
    and for US places the federal level `US`)."""
    place = get(conn, code)
    if place is None:
        return []
    return chain_of(conn, place)


def chain_of(conn: Connection, place: Place) -> list[Place]:
    """`chain` for a place already read: one query, using its stored ancestor codes."""
    ancestors = list(place.ancestors or [])
    if not ancestors:
        return [place]
    found = {
        _row_to_place(r).code: _row_to_place(r)
        for r in conn.execute(sa.select(PLACE).where(PLACE.c.code.in_(ancestors)))
    }
    return [place, *(found[c] for c in ancestors if c in found)]


def all_places(conn: Connection, kind: str | None = None) -> list[Place]:
    q = sa.select(PLACE).order_by(PLACE.c.code)
    if kind:
        q = q.where(PLACE.c.kind == kind)
    return [_row_to_place(r) for r in conn.execute(q)]


def descendants(conn: Connection, code: str) -> set[str]:
    """Codes of `code` and every place below it."""
    parents: dict[str | None, list[str]] = {}
    for c, p in conn.execute(sa.select(PLACE.c.code, PLACE.c.parent_code)):
        parents.setdefault(p, []).append(c)
    out, stack = set(), [code]
    while stack:
        c = stack.pop()
        if c not in out:
            out.add(c)
            stack.extend(parents.get(c, []))
    return out


def resolve_specs(conn: Connection, specs: Iterable[str]) -> tuple[list[str], list[str]]:
    """Place specs as a subscription or webhook takes them: a code, an OCD id, a name, or a
    pattern with `*` or `?` matched against place codes (`US-*`). Returns (specs as
    given, the place codes they name). Raises PlaceNotFound, AmbiguousPlace
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
            codes.add(resolve(conn, spec).code)
    return given, sorted(codes)
