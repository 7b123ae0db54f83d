"""The JSON documents of `tracker.cli/1`: what `tracker ... --json` prints and what the
web API (`/api/v1/...`) answers, built here once for both (README: JSON output):

    status_document   tracker status PLACE... --json   (places, names or ZIP codes)
    list_document     tracker list [--status] [--in] [--kind] --json
    history_document  tracker history PLACE --json
    pending_document  tracker pending [PLACE] --json
    changes_document  tracker changes [PLACE] [--since] --json

`tests/test_web_api.py` holds the API to the CLI's output, `tests/test_json_shapes.py`
the CLI to the README, and `tracker/web/openapi.yaml` describes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.law import places as places_mod
from tracker.law import zips
from tracker.law.asof import history_rows, record_dict
from tracker.law.effective import (
    Answer,
    effective,
    effective_all,
    pending,
    pending_dict,
    place_dict,
)
from tracker.law.review import open_by_place, under_review
from tracker.storage.tables_core import PENDING

SCHEMA = "tracker.cli/1"  # one shape, two ways to ask


@dataclass(frozen=True)
class When:
    """`as_of` (default today, UTC), `known_at` (None: now) and `substance`."""

    as_of: date
    known_at: datetime | None
    substance: str
    explicit_as_of: bool = False


@dataclass
class Found:
    """One answer of a status question: the answer, the ZIP area it was asked by (or
    None), and the place's open review items (`law.review.under_review`, None)."""

    answer: Answer
    area: zips.ZipArea | None
    review: dict[str, Any] | None

    def to_dict(self) -> dict[str, Any]:
        d = zips.answer_dict(self.area, self.answer) if self.area else self.answer.to_dict()
        return {**d, "under_review": self.review}


def _head(w: When) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "as_of": w.as_of.isoformat(),
        "known_at": w.known_at.isoformat() if w.known_at else None,
        "substance": w.substance,
    }


def answers_for(conn: Connection, texts: Sequence[str], w: When) -> list[Found]:
    """One answer per text: a place (code, OCD id, name) or a US ZIP code. Raises
    PlaceNotFound, AmbiguousPlace, UsageError, zips.ZipNotFound. Open review items are a
    fact of now: given only when answering with current knowledge."""
    found: list[tuple[Answer, zips.ZipArea | None]] = []
    for text in texts:
        if zips.is_zip(text):
            area = zips.lookup(conn, text)
            found.append((zips.effective_zip(conn, area, w.substance, w.as_of, w.known_at), area))
        else:
            place = places_mod.resolve(conn, text)
            found.append((effective(conn, place, w.substance, w.as_of, w.known_at), None))
    # Only the items of the places answered and of the levels that decided them.
    codes = {c for a, _ in found for c in (a.place.code, a.decided_by and a.decided_by.code) if c}
    items = open_by_place(conn, codes) if w.known_at is None else {}
    return [
        Found(a, z, under_review(items, a.place.code, a.decided_by.code if a.decided_by else None))
        for a, z in found
    ]


def status_document(w: When, found: Sequence[Found]) -> dict[str, Any]:
    return {**_head(w), "results": [f.to_dict() for f in found]}


def list_answers(
    conn: Connection,
    w: When,
    *,
    status: str | None = None,
    within: str | None = None,
    kind: str | None = None,
) -> list[Answer]:
    """Every place (or those under `within`) with its answer, filtered by status and kind."""
    codes = None
    if within:
        codes = sorted(places_mod.descendants(conn, places_mod.resolve(conn, within).code))
    answers = effective_all(conn, w.substance, w.as_of, w.known_at, codes=codes)
    return [
        a
        for a in answers
        if (not status or a.status == status.lower()) and (not kind or a.place.kind == kind.lower())
    ]


def list_item(a: Answer) -> dict[str, Any]:
    d = a.to_dict()
    item = {k: d[k] for k in ("place", "status", "min_age", "decided_by", "record")}
    # The deciding record's mark, at the top for filters: true = to verify.
    item["verify"] = bool(a.record and a.record["verify"])
    return item


def list_document(w: When, answers: Sequence[Answer]) -> dict[str, Any]:
    return {**_head(w), "places": [list_item(a) for a in answers]}


def history_document(conn: Connection, text: str) -> dict[str, Any]:
    target = places_mod.resolve(conn, text)
    rows = [record_dict(r) for r in history_rows(conn, target.code)]
    pend = [
        pending_dict(r)
        for r in conn.execute(
            sa.select(PENDING)
            .where(PENDING.c.place_code == target.code)
            .order_by(PENDING.c.recorded_at, PENDING.c.id)
        )
    ]
    return {"schema": SCHEMA, "place": place_dict(target), "records": rows, "pending": pend}


def pending_document(conn: Connection, text: str | None) -> dict[str, Any]:
    codes = None
    if text:
        codes = [p.code for p in places_mod.chain(conn, places_mod.resolve(conn, text).code)]
    return {"schema": SCHEMA, "pending": pending(conn, codes)}


def changes_document(conn: Connection, text: str | None, since: datetime | None) -> dict[str, Any]:
    codes = None
    if text:
        codes = places_mod.descendants(conn, places_mod.resolve(conn, text).code)
    from tracker.watch.changes import list_changes  # only here: not on `status`'s path

    return {"schema": SCHEMA, "changes": list_changes(conn, codes, since)}
