"""Damaged snapshot rows: find them, move them aside, keep going.

A snapshot row whose data is not zlib, or whose text is not UTF-8 (a bad disk, a bad
restore, a hand edit), makes every read of it fail, including the diff a check computes
when the page changes. `readable(conn, sha)` says whether a row can be read;
`quarantine(db, sha, reason)` moves the row whole into `snapshot_quarantine` (nothing is
thrown away) and deletes it from `snapshot`, in one transaction. A snapshot that is
missing is handled everywhere like one removed by the retention rule: the next change of
that page is diffed against an empty text, so the change is still reported (never
silently missed), with every line shown as added; and a later check that sees the same
text stores the snapshot again.
"""

from __future__ import annotations

import logging
import zlib
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.storage.engine import Database
from tracker.storage.tables_service import SNAPSHOT_QUARANTINE
from tracker.storage.tables_watch import SNAPSHOT, SOURCE
from tracker.timeutil import utcnow

logger = logging.getLogger(__name__)


class Damaged(Exception):
    """A snapshot row exists but cannot be read."""


def read(conn: Connection, sha: str) -> str | None:
    """The text of snapshot `sha`; None when there is no such row. Raises Damaged."""
    data = conn.execute(sa.select(SNAPSHOT.c.data).where(SNAPSHOT.c.sha == sha)).scalar()
    if data is None:
        return None
    try:
        return zlib.decompress(data).decode("utf-8")
    except (zlib.error, UnicodeDecodeError) as exc:
        raise Damaged(f"snapshot {sha} is damaged: {exc}") from None


def readable(conn: Connection, sha: str | None) -> bool:
    if sha is None:
        return True
    try:
        read(conn, sha)
    except Damaged:
        return False
    return True


def damaged_current(db: Database, source_id: int) -> str | None:
    """The sha of the source's current snapshot if that row is damaged, else None."""
    with db.read() as conn:
        sha = conn.execute(sa.select(SOURCE.c.current_sha).where(SOURCE.c.id == source_id)).scalar()
        return None if readable(conn, sha) else sha


def quarantine(db: Database, sha: str, reason: str) -> bool:
    """Move snapshot row `sha` to `snapshot_quarantine`. False if it was gone already."""
    with db.write() as conn:
        row: Any = conn.execute(sa.select(SNAPSHOT).where(SNAPSHOT.c.sha == sha)).first()
        if row is None:
            return False
        conn.execute(
            SNAPSHOT_QUARANTINE.insert().values(
                sha=sha,
                size=row.size,
                data=row.data,
                created_at=row.created_at,
                quarantined_at=utcnow(),
                reason=reason[:500],
            )
        )
        conn.execute(SNAPSHOT.delete().where(SNAPSHOT.c.sha == sha))
    logger.error(
        "snapshot %s is damaged (%s): moved to snapshot_quarantine; the next change of its "
        "page is diffed against an empty text",
        sha,
        reason,
    )
    return True
