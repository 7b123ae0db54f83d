"""The JSON documents of the API, in the shapes of the CLI's `--json` (README: JSON
output), so a program can switch between `tracker ... --json` and `/api/v1/...`:

    status_document   tracker status PLACE... --json   (places, names or ZIP codes)
    list_document     tracker list [--status] [--in] [--kind] --json
    history_document  tracker history PLACE --json
    pending_document  tracker pending [PLACE] --json
    changes_document  tracker changes [PLACE] [--since] --json

`tests/test_web_api.py` holds them to the CLI's output, and `openapi.yaml` describes them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.law import places as places_mod
from tracker.law import zips
from tracker.law.effective import effective, effective_all, pending, pending_dict, place_dict
from tracker.law.history import history_rows, record_dict
from tracker.storage.tables_core import PENDING
from tracker.watch.changes import list_changes
from tracker.web.params import When

SCHEMA = "tracker.cli/1"  # the CLI's: one shape, two ways to ask


def _head(w: When) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "as_of": w.as_of.isoformat(),
        "known_at": w.known_at.isoformat() if w.known_at else None,
        "substance": w.substance,
    }


def answer_for(conn: Connection, text: str, w: When) -> dict[str, Any]:
    """One answer: a place (code, OCD id, name) or a US ZIP code (with `zip`). Raises
    PlaceNotFound, AmbiguousPlace, UsageError, zips.ZipNotFound."""
    if zips.is_zip(text):
        area = zips.lookup(conn, text)
        return zips.answer_dict(
            area, zips.effective_zip(conn, area, w.substance, w.as_of, w.known_at)
        )
    place = places_mod.resolve(conn, text)
    return effective(conn, place, w.substance, w.as_of, w.known_at).to_dict()


def status_document(conn: Connection, texts: Sequence[str], w: When) -> dict[str, Any]:
    return {**_head(w), "results": [answer_for(conn, t, w) for t in texts]}


def list_document(
    conn: Connection,
    w: When,
    *,
    status: str | None = None,
    within: str | None = None,
    kind: str | None = None,
) -> dict[str, Any]:
    codes = None
    if within:
        codes = sorted(places_mod.descendants(conn, places_mod.resolve(conn, within).code))
    answers = effective_all(conn, w.substance, w.as_of, w.known_at, codes=codes)
    items = []
    for a in answers:
        if (status and a.status != status) or (kind and a.place.kind != kind):
            continue
        d = a.to_dict()
        items.append({k: d[k] for k in ("place", "status", "min_age", "decided_by", "record")})
    return {**_head(w), "places": items}


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
    return {"schema": SCHEMA, "changes": list_changes(conn, codes, since)}
