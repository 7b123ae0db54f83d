"""Reading the record files in `jurisdictions/records/`: parsing and validation only.

Two kinds of file:
- seed files (`seed*.yaml`: `documents:` and `claims:`): what the seed documents claim,
  tier `seed`;
- record files (`records:` and `pending:`): cited records and pending measures.

`parse_file` validates a whole file and returns its items, each identified by a digest of
its content; it raises DataFileError naming the file and line for anything malformed
(unknown fields, statuses or places, invalid dates, two records of one place and
substance overlapping in valid time). Loading them is `tracker.law.loader`'s job.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.errors import DataFileError
from tracker.law.belief import Belief, overlaps
from tracker.law.datafile import Document, Entry, load_yaml, optional, require
from tracker.law.dates import PartialDate
from tracker.vocab import SUBSTANCES, match, match_tier

_RECORD_KEYS = {
    "jurisdiction",
    "name",
    "substance",
    "status",
    "valid_from",
    "valid_to",
    "expires",
    "min_age",
    "conditions",
    "instrument",
    "source",
    "note",
    "verify",
}
_PENDING_KEYS = {
    "jurisdiction",
    "name",
    "substance",
    "direction",
    "measure",
    "stage",
    "published",
    "comments_close",
    "source",
    "note",
    "verify",
}
_CLAIM_KEYS = {"jurisdiction", "substance", "status", "document", "quote", "note"}


@dataclass
class Item:
    kind: str  # status | pending
    digest: str
    line: int
    belief: Belief | None = None
    pending: dict[str, Any] | None = None


def record_files(root: Path) -> list[Path]:
    """Seed files first, then record files, each group by name."""
    files = sorted((root / "records").glob("*.yaml"))
    return sorted(files, key=lambda p: (0 if _is_seed(p) else 1, p.name))


def _is_seed(path: Path) -> bool:
    return path.name.startswith("seed")


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# ---------------------------------------------------------------- parsing


def _fail(entry: Entry, message: str) -> DataFileError:
    return DataFileError(entry.where, entry.line, message)


def _check_keys(entry: Entry, allowed: set[str]) -> None:
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise _fail(
            entry, f"unknown field(s) {', '.join(unknown)}; accepted: {', '.join(sorted(allowed))}"
        )


def _date(entry: Entry, key: str) -> PartialDate | None:
    raw = entry.get(key)
    if raw is None:
        return None
    try:
        return PartialDate.parse(raw)
    except ValueError as exc:
        raise _fail(entry, f"{key}: {exc}") from None


def _place(entry: Entry, places: set[str]) -> str:
    code = require(entry, "jurisdiction", str).strip()
    if code not in places:
        raise _fail(
            entry,
            f"unknown jurisdiction {code!r}: use an ISO 3166 code (TH, US-AL), "
            "US for the federal level, or an OCD id listed in places/",
        )
    return code


def _vocab(entry: Entry, key: str, accepted: tuple[str, ...], what: str) -> str:
    try:
        return match(require(entry, key, str), accepted, what)
    except ValueError as exc:
        raise _fail(entry, str(exc)) from None


def _sub(entry: Entry, key: str) -> Entry:
    value = entry.get(key) or Entry()
    if not isinstance(value, dict):
        raise _fail(entry, f"{key!r} must be a mapping")
    if not isinstance(value, Entry):
        value = Entry(value)
    value.where, value.line = entry.where, getattr(value, "line", 0) or entry.line
    return value


def parse_record(entry: Entry, places: set[str], origin: str) -> Item:
    _check_keys(entry, _RECORD_KEYS)
    instrument, source = _sub(entry, "instrument"), _sub(entry, "source")
    _check_keys(instrument, {"type", "citation", "title", "url", "enacted"})
    _check_keys(source, {"url", "tier", "title", "quote", "date", "document"})
    conditions = entry.get("conditions") or []
    if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
        raise _fail(entry, "conditions must be a list of strings")
    try:
        tier = match_tier(require(source, "tier", str))
        belief = Belief(
            place_code=_place(entry, places),
            substance=require(entry, "substance", str),
            status=require(entry, "status", str),
            source_tier=tier,
            origin=origin,
            valid_from=_date(entry, "valid_from"),
            valid_to=_date(entry, "valid_to"),
            expires=_date(entry, "expires"),
            min_age=optional(entry, "min_age", int),
            conditions=tuple(conditions),
            instrument_type=optional(instrument, "type", str),
            instrument_citation=optional(instrument, "citation", str),
            instrument_title=optional(instrument, "title", str),
            instrument_url=optional(instrument, "url", str),
            instrument_enacted=_date(instrument, "enacted"),
            source_url=optional(source, "url", str),
            source_document=optional(source, "document", str),
            source_title=optional(source, "title", str),
            source_quote=optional(source, "quote", str),
            source_date=_date(source, "date"),
            note=optional(entry, "note", str),
            verify=bool(entry.get("verify", False)),
        )
    except ValueError as exc:
        raise _fail(entry, str(exc)) from None
    return Item("status", belief.digest(), entry.line, belief=belief)


def parse_pending(entry: Entry, places: set[str]) -> Item:
    _check_keys(entry, _PENDING_KEYS)
    source = _sub(entry, "source")
    _check_keys(source, {"url", "tier"})
    try:
        tier = match_tier(require(source, "tier", str))
    except ValueError as exc:
        raise _fail(source, str(exc)) from None
    published, closes = _date(entry, "published"), _date(entry, "comments_close")
    values: dict[str, Any] = {
        "place_code": _place(entry, places),
        "substance": _vocab(entry, "substance", SUBSTANCES, "substance"),
        "direction": _vocab(entry, "direction", ("ban", "regulate", "relax"), "direction"),
        "measure": require(entry, "measure", str),
        "stage": require(entry, "stage", str),
        "published": published.value if published else None,
        "published_precision": published.precision if published else None,
        "comments_close": closes.value if closes else None,
        "comments_close_precision": closes.precision if closes else None,
        "source_url": optional(source, "url", str),
        "source_tier": tier,
        "verify": bool(entry.get("verify", False)),
        "note": optional(entry, "note", str),
    }
    digest = hashlib.sha256(json.dumps(values, sort_keys=True, default=str).encode())
    return Item("pending", digest.hexdigest()[:32], entry.line, pending=values)


def parse_seed(doc: Document, places: set[str], origin: str) -> list[Item]:
    documents = doc.get("documents")
    if not isinstance(documents, dict) or not documents:
        raise DataFileError(doc.where, 1, "a seed file needs a `documents:` mapping")
    items = []
    for entry in doc.list("claims"):
        _check_keys(entry, _CLAIM_KEYS)
        name = require(entry, "document", str)
        meta = documents.get(name)
        if not isinstance(meta, dict):
            raise _fail(entry, f"document {name!r} is not listed under documents:")
        try:
            when = PartialDate.parse(meta["date"]) if meta.get("date") else None
            belief = Belief(
                place_code=_place(entry, places),
                substance=require(entry, "substance", str),
                status=require(entry, "status", str),
                source_tier="seed",
                origin=origin,
                source_document=name,
                source_title=meta.get("title"),
                source_quote=require(entry, "quote", str),
                source_date=when,
                note=optional(entry, "note", str),
                instrument_type="document",
            )
        except ValueError as exc:
            raise _fail(entry, str(exc)) from None
        items.append(Item("status", belief.digest(), entry.line, belief=belief))
    return items


def parse_file(path: Path, root: Path, places: set[str]) -> list[Item]:
    """Every item of one file, validated. Raises DataFileError naming file and line."""
    doc = load_yaml(path, root)
    origin = doc.where
    if _is_seed(path):
        items = parse_seed(doc, places, origin)
    else:
        items = [parse_record(e, places, origin) for e in doc.list("records")]
        items += [parse_pending(e, places) for e in doc.list("pending", required=False)]
    _no_overlaps(items, doc.where)
    return items


def _no_overlaps(items: list[Item], where: str) -> None:
    seen: dict[tuple[str, str], list[Item]] = {}
    for item in items:
        if item.belief is None:
            continue
        b = item.belief
        for other in seen.setdefault((b.place_code, b.substance), []):
            o = other.belief
            assert o is not None
            if overlaps((o.valid_from, o.valid_to), (b.valid_from, b.valid_to)):
                raise DataFileError(
                    where,
                    item.line,
                    f"{b.place_code} {b.substance}: valid time overlaps the record at line "
                    f"{other.line}; give one of them valid_to or a later valid_from",
                )
        seen[(b.place_code, b.substance)].append(item)
