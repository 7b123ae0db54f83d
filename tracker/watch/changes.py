"""Detected page changes as plain dicts, newest first: `tracker changes --json` and the
web API's `/api/v1/changes` answer with the same list."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE

LIMIT = 1000


def list_changes(
    conn: Connection,
    codes: Iterable[str] | None = None,
    since: datetime | None = None,
    limit: int = LIMIT,
) -> list[dict[str, Any]]:
    """Changes of the pages of `codes` (all when None) detected at or after `since`."""
    query = (
        sa.select(PAGE_CHANGE, SOURCE.c.key, SOURCE.c.title, SOURCE.c.url)
        .join(SOURCE, SOURCE.c.id == PAGE_CHANGE.c.source_id)
        .order_by(PAGE_CHANGE.c.detected_at.desc(), PAGE_CHANGE.c.id.desc())
    )
    if since is not None:
        query = query.where(PAGE_CHANGE.c.detected_at >= since)
    if codes is not None:
        query = query.where(PAGE_CHANGE.c.place_code.in_(sorted(codes)))
    return [
        {
            "id": r.id,
            "detected_at": r.detected_at.isoformat(),
            "place": r.place_code,
            "source": r.key,
            "title": r.title,
            "url": r.url,
            "importance": r.importance,
            "keywords": r.keywords,
            "added": r.added,
            "removed": r.removed,
            "too_large": r.too_large,
            "event_id": r.event_id,
            "reverts": r.reverts_change_id,
        }
        for r in conn.execute(query.limit(limit))
    ]
