"""Reading the record files in `jurisdictions/records/`: parsing and validation only.

Two kinds of file:
- seed files (`seed*.yaml`: `documents:` and `claims:`): what the seed documents claim,
  tier `seed`. A claim answers only for the period its document speaks of: a dated
  document speaks of its date (the day, or the month or year at the precision it gives),
  so the claim's valid time is that one period; an undated document speaks of no
  determinable period, so its claims get the empty span (`belief.NO_PERIOD`): kept in
  history, attributed, answering for no date.
- record files (`records:`, `pending:` and optionally `international:`): cited records,
  pending measures, and statements about no place (the UN conventions), each with its
  source, tier (A official, B secondary, C vendor or advocacy page), `checked` date
  (when the fact was last verified; null for an undated page) and `verify` flag.

`parse_file` validates a whole file and returns its items, each identified by a digest of
its content; it raises DataFileError naming the file and line for anything malformed
(unknown fields, statuses, tiers, instrument types or places, invalid or future dates, a
tier-C record not marked to verify, two records of one place and substance overlapping in
valid time). Loading them is `tracker.law.loader`'s job.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.errors import DataFileError
from tracker.law.belief import NO_PERIOD, Belief, Span, overlaps
from tracker.law.datafile import Document, Entry, load_yaml, optional, require
from tracker.law.dates import PartialDate
from tracker.law.recordset import is_seed
from tracker.timeutil import today_utc
from tracker.vocab import DIRECTIONS, SUBSTANCES, match, match_tier

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
    "checked",
    "scope",
}
_PENDING_KEYS = {
    "jurisdiction",
    "name",
    "substance",
    "direction",
    "measure",
    "stage",
    "stage_date",
    "published",
    "comments_close",
    "source",
    "checked",
    "note",
    "verify",
}
# Pending fields added after the first data files were loaded: left out of an item's
# digest while unset (see `belief._LATER_FIELDS`).
_LATER_PENDING = (
    "stage_date",
    "stage_date_precision",
    "checked",
    "checked_precision",
    "source_title",
)
_CLAIM_KEYS = {"jurisdiction", "substance", "status", "document", "quote", "note"}
_SEED_TOP = {"documents", "claims", "unplaced"}
_RECORDS_TOP = {"records", "pending", "international"}


@dataclass
class Item:
    kind: str  # status | pending | international
    digest: str
    line: int
    belief: Belief | None = None
    pending: dict[str, Any] | None = None
    international: dict[str, Any] | None = None


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


def _place(entry: Entry, places: Mapping[str, str]) -> str:
    code = require(entry, "jurisdiction", str).strip()
    if code not in places:
        raise _fail(
            entry,
            f"unknown jurisdiction {code!r}: use an ISO 3166 code (TH, US-AL, PR), "
            "US for the federal level, or an OCD id listed in places/",
        )
    return places[code]


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


def _checked(entry: Entry) -> PartialDate | None:
    """The `checked` date: when the fact was last verified; null for an undated page.
    A date after today is a typo (nobody has read material from the future)."""
    checked = _date(entry, "checked")
    if checked is not None and checked.value > today_utc():
        raise _fail(entry, f"checked: {checked} is in the future")
    return checked


def _belief(entry: Entry, code: str, origin: str) -> Belief:
    _check_keys(entry, _RECORD_KEYS)
    instrument, source = _sub(entry, "instrument"), _sub(entry, "source")
    _check_keys(instrument, {"type", "citation", "title", "url", "enacted"})
    _check_keys(source, {"url", "tier", "title", "quote", "date", "document"})
    conditions = entry.get("conditions") or []
    if not isinstance(conditions, list) or not all(isinstance(c, str) for c in conditions):
        raise _fail(entry, "conditions must be a list of strings")
    verify = entry.get("verify", False)
    if not isinstance(verify, bool):
        raise _fail(entry, f"verify must be true or false, not {verify!r}")
    try:
        tier = match_tier(require(source, "tier", str))
        return Belief(
            place_code=code,
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
            verify=verify,
            checked=_checked(entry),
            scope=optional(entry, "scope", str),
        )
    except ValueError as exc:
        raise _fail(entry, str(exc)) from None


def parse_record(entry: Entry, places: Mapping[str, str], origin: str) -> Item:
    belief = _belief(entry, _place(entry, places), origin)
    return Item("status", belief.digest(), entry.line, belief=belief)


def parse_international(entry: Entry, places: Mapping[str, str], origin: str) -> Item:
    """A statement about no place (`jurisdiction: UN`): validated like a record, stored as
    documentation. A place code belongs under `records:` instead."""
    code = require(entry, "jurisdiction", str).strip()
    if code in places:
        raise _fail(entry, f"{code!r} is a place: put its record under records:")
    if entry.get("valid_from") or entry.get("valid_to") or entry.get("expires"):
        raise _fail(entry, "an international entry is documentation: give it no valid time")
    b = _belief(entry, code, origin)
    record = {
        "code": code,
        "substance": b.substance,
        "status": b.status,
        "conditions": list(b.conditions),
        "instrument": {
            "type": b.instrument_type,
            "citation": b.instrument_citation,
            "title": b.instrument_title,
            "url": b.instrument_url,
            "enacted": str(b.instrument_enacted) if b.instrument_enacted else None,
        },
        "source": {"url": b.source_url, "title": b.source_title, "tier": b.source_tier},
        "checked": str(b.checked) if b.checked else None,
        "verify": b.verify,
        "note": b.note,
    }
    return Item("international", b.digest(), entry.line, international=record)


def parse_pending(entry: Entry, places: Mapping[str, str]) -> Item:
    _check_keys(entry, _PENDING_KEYS)
    source = _sub(entry, "source")
    _check_keys(source, {"url", "tier", "title"})
    try:
        tier = match_tier(require(source, "tier", str))
    except ValueError as exc:
        raise _fail(source, str(exc)) from None
    verify = entry.get("verify", False)
    if not isinstance(verify, bool):
        raise _fail(entry, f"verify must be true or false, not {verify!r}")
    if tier == "vendor" and not verify:
        raise _fail(entry, "a vendor or advocacy page (tier C) is a lead only: set verify: true")
    stage_date, checked = _date(entry, "stage_date"), _checked(entry)
    published, closes = _date(entry, "published"), _date(entry, "comments_close")
    values: dict[str, Any] = {
        "place_code": _place(entry, places),
        "substance": _vocab(entry, "substance", SUBSTANCES, "substance"),
        "direction": _vocab(entry, "direction", DIRECTIONS, "direction"),
        "measure": require(entry, "measure", str),
        "stage": require(entry, "stage", str),
        "stage_date": stage_date.value if stage_date else None,
        "stage_date_precision": stage_date.precision if stage_date else None,
        "published": published.value if published else None,
        "published_precision": published.precision if published else None,
        "comments_close": closes.value if closes else None,
        "comments_close_precision": closes.precision if closes else None,
        "source_url": optional(source, "url", str),
        "source_title": optional(source, "title", str),
        "source_tier": tier,
        "checked": checked.value if checked else None,
        "checked_precision": checked.precision if checked else None,
        "verify": verify,
        "note": optional(entry, "note", str),
    }
    hashed = {k: v for k, v in values.items() if not (k in _LATER_PENDING and v is None)}
    digest = hashlib.sha256(json.dumps(hashed, sort_keys=True, default=str).encode())
    return Item("pending", digest.hexdigest()[:32], entry.line, pending=values)


def spoken_period(when: PartialDate | None) -> Span:
    """The valid time a seed document speaks of: its date's whole period (the day, month
    or year it gives), or no period at all when it is undated."""
    return (when, when.period_end()) if when is not None else NO_PERIOD


def parse_seed(doc: Document, places: Mapping[str, str], origin: str) -> list[Item]:
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
            start, end = spoken_period(when)
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
                valid_from=start,
                valid_to=end,
                checked=when,
            )
        except ValueError as exc:
            raise _fail(entry, str(exc)) from None
        items.append(Item("status", belief.digest(), entry.line, belief=belief))
    return items


def parse_file(path: Path, root: Path, places: Mapping[str, str]) -> list[Item]:
    """Every item of one file, validated. Raises DataFileError naming file and line."""
    doc = load_yaml(path, root)
    origin = doc.where
    allowed = _SEED_TOP if is_seed(path) else _RECORDS_TOP
    unknown = sorted(set(doc.data) - allowed)
    if unknown:
        raise DataFileError(
            doc.where,
            1,
            f"unknown top-level key(s) {', '.join(map(str, unknown))}; "
            f"accepted: {', '.join(sorted(allowed))}",
        )
    if is_seed(path):
        items = parse_seed(doc, places, origin)
    else:
        items = [parse_record(e, places, origin) for e in doc.list("records")]
        items += [parse_pending(e, places) for e in doc.list("pending", required=False)]
        items += [
            parse_international(e, places, origin)
            for e in doc.list("international", required=False)
        ]
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
