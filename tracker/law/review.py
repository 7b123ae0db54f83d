"""The review loop: a place whose official page changed is *under review* until an
operator looks at the change and says what it means for the place's status.

- `open_item` (called by `tracker.watch.store` in the transaction that stores a
  kratom-relevant page change) opens one item for the place the page belongs to.
- `close_recorded` closes the items of a change when a status is recorded with the change
  as its evidence (`tracker record ... --change N`; `evidence` gives the watched page as
  the source and the changed lines as the quote); `dismiss` closes an item without a new
  status (`tracker review N --dismiss "why"`), which counts as a verification of the
  place's current record; `close_reverted` closes the items of a change the page undid.
- Closing keeps who, when and why on the item (`closed_by`, `closed_at`, `reason`); items
  are never deleted, so `tracker review --closed` is the loop's history.

Who closed an item is the name the operator gives (`--by`), by default the login name
and host of the command (`user@host`); the watcher closes reverted items as `watch`.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.errors import UsageError
from tracker.law.dates import PartialDate
from tracker.storage.engine import dialect_insert
from tracker.storage.tables_core import PLACE
from tracker.storage.tables_review import REVIEW_ITEM
from tracker.timeutil import utcnow

QUOTE_MAX = 1000  # characters of changed lines kept as a record's quote


def open_item(
    conn: Connection,
    *,
    change_id: int,
    place_code: str,
    source_id: int | None,
    keywords: Iterable[str],
    now: datetime,
) -> int | None:
    """Open the item of `change_id` for `place_code` in the caller's transaction.
    Returns its id (None when that change already has an item for the place)."""
    stmt = (
        dialect_insert(conn, REVIEW_ITEM)
        .values(
            place_code=place_code,
            source_id=source_id,
            change_id=change_id,
            keywords=list(keywords),
            opened_at=now,
            state="open",
        )
        .on_conflict_do_nothing(index_elements=["change_id", "place_code"])
        .returning(REVIEW_ITEM.c.id)
    )
    new_id = conn.execute(stmt).scalar()
    return int(new_id) if new_id is not None else None


def _close(
    conn: Connection,
    where: Any,
    *,
    state: str,
    by: str,
    now: datetime,
    reason: str | None = None,
    record_id: int | None = None,
    event_id: int | None = None,
) -> list[int]:
    ids = list(
        conn.execute(
            sa.select(REVIEW_ITEM.c.id).where(where, REVIEW_ITEM.c.state == "open")
        ).scalars()
    )
    if ids:
        conn.execute(
            REVIEW_ITEM.update()
            .where(REVIEW_ITEM.c.id.in_(ids), REVIEW_ITEM.c.state == "open")
            .values(
                state=state,
                closed_at=now,
                closed_by=by,
                reason=reason,
                record_id=record_id,
                event_id=event_id,
            )
        )
    return ids


def close_reverted(
    conn: Connection, change_id: int, reversal_id: int, *, now: datetime
) -> list[int]:
    """Close the open items of `change_id`: the page went back to the version before it
    (`reversal_id` is the change that reported the reversal)."""
    return _close(
        conn,
        REVIEW_ITEM.c.change_id == change_id,
        state="reverted",
        by="watch",
        now=now,
        reason=f"the page went back to its earlier version (change #{reversal_id})",
    )


def close_recorded(
    conn: Connection,
    change_id: int,
    place_code: str,
    *,
    by: str,
    record_id: int | None,
    event_id: int | None,
    now: datetime | None = None,
    reason: str | None = None,
) -> list[int]:
    """Close the open items of `change_id` for `place_code`: a status was recorded with
    the change as its evidence (`record_id`, `event_id`; None when the same record was
    already current, which then stands confirmed)."""
    return _close(
        conn,
        sa.and_(REVIEW_ITEM.c.change_id == change_id, REVIEW_ITEM.c.place_code == place_code),
        state="recorded",
        by=by,
        now=now or utcnow(),
        reason=reason,
        record_id=record_id,
        event_id=event_id,
    )


def dismiss(
    conn: Connection, item_id: int, reason: str, *, by: str, now: datetime | None = None
) -> dict[str, Any]:
    """Close item `item_id` without a status change. Raises UsageError for an unknown or
    closed item, or an empty reason."""
    if not reason.strip():
        raise UsageError(
            "a dismissal needs a reason",
            'Say why the change does not alter the status: --dismiss "..."',
        )
    item = get(conn, item_id)
    if item["state"] != "open":
        raise UsageError(
            f"review item #{item_id} is already closed ({item['state']} by "
            f"{item['closed_by']} at {item['closed_at']})",
            "`tracker review` lists the open items.",
        )
    _close(
        conn,
        REVIEW_ITEM.c.id == item_id,
        state="dismissed",
        by=by,
        now=now or utcnow(),
        reason=reason.strip(),
    )
    return get(conn, item_id)


# ---------------------------------------------------------------- evidence


@dataclass(frozen=True)
class Evidence:
    """What a detected change offers as the source of a record."""

    change_id: int
    place_code: str
    source_url: str
    source_title: str
    source_origin: str
    quote: str | None
    detected_on: PartialDate


def changed_lines(unified: str | None) -> list[str]:
    """The added lines of a unified diff, or (when nothing was added) the removed ones
    marked `removed:`."""
    if not unified:
        return []
    lines = unified.splitlines()
    added = [x[1:] for x in lines if x.startswith("+") and not x.startswith("+++")]
    if added:
        return added
    return ["removed: " + x[1:] for x in lines if x.startswith("-") and not x.startswith("---")]


def evidence(conn: Connection, change_id: int) -> Evidence:
    """The watched page of change `change_id` as a source, its changed lines as the quote.
    Raises UsageError for an unknown change."""
    from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE

    row = conn.execute(
        sa.select(PAGE_CHANGE, SOURCE.c.url, SOURCE.c.title, SOURCE.c.origin)
        .join(SOURCE, SOURCE.c.id == PAGE_CHANGE.c.source_id)
        .where(PAGE_CHANGE.c.id == change_id)
    ).first()
    if row is None:
        raise UsageError(
            f"no change #{change_id}", "`tracker changes` and `tracker review` list them."
        )
    quote = " / ".join(changed_lines(row.unified_diff))
    if len(quote) > QUOTE_MAX:
        quote = quote[: QUOTE_MAX - 1] + "…"
    return Evidence(
        change_id=row.id,
        place_code=row.place_code,
        source_url=row.url,
        source_title=row.title,
        source_origin=row.origin,
        quote=quote or None,
        detected_on=PartialDate(row.detected_at.date(), "day"),
    )


# ---------------------------------------------------------------- reading


def _query() -> Any:
    # The watch tables are imported here, not at the top: `open_by_place` answers every
    # `tracker status` and, with no open item, needs neither them nor this query.
    from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE

    return (
        sa.select(
            REVIEW_ITEM,
            PLACE.c.name.label("place_name"),
            SOURCE.c.key.label("source_key"),
            SOURCE.c.title.label("source_title"),
            SOURCE.c.url.label("source_url"),
            PAGE_CHANGE.c.detected_at,
            PAGE_CHANGE.c.importance,
            PAGE_CHANGE.c.added,
            PAGE_CHANGE.c.removed,
            PAGE_CHANGE.c.reverts_change_id,
        )
        .join(PLACE, PLACE.c.code == REVIEW_ITEM.c.place_code)
        .join(PAGE_CHANGE, PAGE_CHANGE.c.id == REVIEW_ITEM.c.change_id)
        .outerjoin(SOURCE, SOURCE.c.id == REVIEW_ITEM.c.source_id)
    )


def item_dict(r: Any, now: datetime | None = None) -> dict[str, Any]:
    """The documented JSON shape of one review item (README: JSON output)."""
    now = now or utcnow()
    end = r.closed_at or now
    return {
        "id": r.id,
        "place": r.place_code,
        "place_name": r.place_name,
        "state": r.state,
        "opened_at": r.opened_at.isoformat(),
        "open_days": (end - r.opened_at).days,
        "keywords": list(r.keywords or []),
        "change": {
            "id": r.change_id,
            "detected_at": r.detected_at.isoformat(),
            "importance": r.importance,
            "added": r.added,
            "removed": r.removed,
            "reverts": r.reverts_change_id,
        },
        "source": {"key": r.source_key, "title": r.source_title, "url": r.source_url},
        "closed_at": r.closed_at.isoformat() if r.closed_at else None,
        "closed_by": r.closed_by,
        "reason": r.reason,
        "record_id": r.record_id,
        "event_id": r.event_id,
    }


def items(
    conn: Connection,
    codes: Iterable[str] | None = None,
    *,
    closed: bool = False,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Open items (or closed ones, newest closed first) of some places (None: all); open
    items come oldest first."""
    q = _query()
    if closed:
        q = q.where(REVIEW_ITEM.c.state != "open").order_by(
            REVIEW_ITEM.c.closed_at.desc(), REVIEW_ITEM.c.id.desc()
        )
    else:
        q = q.where(REVIEW_ITEM.c.state == "open").order_by(
            REVIEW_ITEM.c.opened_at, REVIEW_ITEM.c.id
        )
    if codes is not None:
        q = q.where(REVIEW_ITEM.c.place_code.in_(sorted(set(codes))))
    return [item_dict(r, now) for r in conn.execute(q)]


def get(conn: Connection, item_id: int) -> dict[str, Any]:
    """One item, open or closed. Raises UsageError for an unknown id."""
    row = conn.execute(_query().where(REVIEW_ITEM.c.id == item_id)).first()
    if row is None:
        raise UsageError(f"no review item #{item_id}", "`tracker review` lists the open items.")
    return item_dict(row)


def open_by_place(
    conn: Connection, codes: Iterable[str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Open items keyed by place code, oldest first (for status displays and exports)."""
    out: dict[str, list[dict[str, Any]]] = {}
    anything_open = sa.select(REVIEW_ITEM.c.id).where(REVIEW_ITEM.c.state == "open").limit(1)
    if conn.execute(anything_open).first() is None:
        return out
    for item in items(conn, codes):
        out.setdefault(item["place"], []).append(item)
    return out


def under_review(
    open_items: dict[str, list[dict[str, Any]]], place_code: str, decided_by: str | None
) -> dict[str, Any] | None:
    """What a display says about a place under review: its own open items and those of
    the level that decides its answer; None when there are none.

    `{since, items: [{id, place, change, source, opened_at}]}`, `since` the oldest
    opening time."""
    codes = [place_code] + ([decided_by] if decided_by and decided_by != place_code else [])
    found = [i for code in codes for i in open_items.get(code, [])]
    if not found:
        return None
    found.sort(key=lambda i: (i["opened_at"], i["id"]))
    return {
        "since": found[0]["opened_at"],
        "items": [
            {
                "id": i["id"],
                "place": i["place"],
                "change": i["change"]["id"],
                "source": i["source"]["key"],
                "opened_at": i["opened_at"],
                "keywords": i["keywords"],
            }
            for i in found
        ],
    }
