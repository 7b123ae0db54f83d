"""Is the history intact after a fault? Checks on the database, each returning problems
in words (an empty list means intact).

- Page changes: each page the drill bumped (once) has exactly one `page_change`, no other
  page has one; each change names its `page_changed` event (whose payload names the
  change back), its new text is the source's current version, both texts are readable
  snapshots; a `changed` check row exists per change; nothing was quarantined.
- Status history: every row seen before the fault is still there, unchanged except that
  `superseded_at` may have been set once; current knowledge never overlaps in valid
  time; the drill's own records are there.
- Outbox: nothing left pending or dead.
- SQLite: `PRAGMA integrity_check` says ok.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import sqlalchemy as sa

from tracker.law.belief import bounds, overlaps
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import OUTBOX
from tracker.storage.tables_core import EVENT, STATUS
from tracker.storage.tables_service import SNAPSHOT_QUARANTINE
from tracker.storage.tables_watch import PAGE_CHANGE, PAGE_CHECK, SOURCE
from tracker.watch import quarantine

StatusRows = dict[int, dict[str, Any]]


def status_rows(db: Database) -> StatusRows:
    with db.read() as conn:
        return {r.id: dict(r._mapping) for r in conn.execute(sa.select(STATUS))}


def change_events(db: Database, keys: list[str]) -> dict[str, list[int]]:
    """Event ids of the page changes of the drill's sources, by source key."""
    out: dict[str, list[int]] = defaultdict(list)
    with db.read() as conn:
        rows = conn.execute(
            sa.select(SOURCE.c.key, PAGE_CHANGE.c.event_id)
            .join(PAGE_CHANGE, PAGE_CHANGE.c.source_id == SOURCE.c.id)
            .where(SOURCE.c.key.in_(keys))
        )
        for key, event_id in rows:
            out[key].append(event_id)
    return out


def page_problems(db: Database, keys: list[str], bumped: set[str]) -> list[str]:
    problems: list[str] = []
    with db.read() as conn:
        changes = conn.execute(
            sa.select(PAGE_CHANGE, SOURCE.c.key, SOURCE.c.current_sha)
            .join(SOURCE, SOURCE.c.id == PAGE_CHANGE.c.source_id)
            .where(SOURCE.c.key.in_(keys))
        ).all()
        per_key = Counter(c.key for c in changes)
        missing = sorted(bumped - set(per_key))
        if missing:
            problems.append(f"{len(missing)} bumped page(s) without a change: {missing[:3]}")
        twice = sorted(k for k, n in per_key.items() if n > 1)
        if twice:
            problems.append(f"{len(twice)} page(s) with more than one change: {twice[:3]}")
        strays = sorted(set(per_key) - bumped)
        if strays:
            problems.append(f"changes on pages that never changed: {strays[:3]}")
        events = {
            e.id: e
            for e in conn.execute(
                sa.select(EVENT).where(EVENT.c.id.in_([c.event_id for c in changes]))
            )
        }
        for c in changes:
            ev = events.get(c.event_id)
            if ev is None or ev.kind != "page_changed" or ev.payload.get("change_id") != c.id:
                problems.append(f"change #{c.id} ({c.key}) has no matching page_changed event")
            if c.new_sha != c.current_sha:
                problems.append(f"change #{c.id} ({c.key}): its new text is not the current one")
            for sha in (c.old_sha, c.new_sha):
                try:
                    if quarantine.read(conn, sha) is None:
                        problems.append(f"change #{c.id}: snapshot {sha[:12]} missing")
                except quarantine.Damaged as exc:
                    problems.append(str(exc))
        checked = conn.execute(
            sa.select(sa.func.count())
            .select_from(PAGE_CHECK)
            .join(SOURCE, SOURCE.c.id == PAGE_CHECK.c.source_id)
            .where(SOURCE.c.key.in_(keys), PAGE_CHECK.c.outcome == "changed")
        ).scalar_one()
        if checked != len(changes):
            problems.append(f"{checked} 'changed' check rows for {len(changes)} changes")
        moved = conn.execute(sa.select(sa.func.count()).select_from(SNAPSHOT_QUARANTINE)).scalar()
        if moved:
            problems.append(f"{moved} snapshot(s) quarantined as damaged")
    return problems


def status_problems(db: Database, before: StatusRows, recorded: int) -> list[str]:
    problems: list[str] = []
    after = status_rows(db)
    for row_id, old in before.items():
        new = after.get(row_id)
        if new is None:
            problems.append(f"status row #{row_id} disappeared")
            continue
        changed = {k for k in old if old[k] != new[k]}
        if changed - {"superseded_at"} or (changed and old["superseded_at"] is not None):
            problems.append(f"status row #{row_id} was edited: {sorted(changed)}")
    current: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for row in after.values():
        if row["superseded_at"] is None:
            current[(row["place_code"], row["substance"])].append(row)
    for (place, substance), rows in current.items():
        spans = [bounds(r) for r in rows]
        for i, a in enumerate(spans):
            if any(overlaps(a, b) for b in spans[i + 1 :]):
                problems.append(f"current knowledge of {place} {substance} overlaps itself")
                break
    new_rows = [r for i, r in after.items() if i not in before and r["origin"] == "test"]
    if recorded and not new_rows:
        problems.append("the drill's status records are missing")
    return problems


def outbox_problems(db: Database) -> list[str]:
    with db.read() as conn:
        left = dict(
            conn.execute(
                sa.select(OUTBOX.c.status, sa.func.count())
                .where(OUTBOX.c.status.in_(("pending", "dead")))
                .group_by(OUTBOX.c.status)
            ).all()
        )
    return [f"{n} outbox row(s) left {status}" for status, n in left.items() if n]


def sqlite_problems(db: Database) -> list[str]:
    if not db.is_sqlite:
        return []
    with db.read() as conn:
        verdict = conn.exec_driver_sql("PRAGMA integrity_check").scalar()
    return [] if verdict == "ok" else [f"SQLite integrity_check: {verdict}"]


def all_problems(
    db: Database, keys: list[str], bumped: set[str], before: StatusRows, recorded: int
) -> list[str]:
    return (
        page_problems(db, keys, bumped)
        + status_problems(db, before, recorded)
        + outbox_problems(db)
        + sqlite_problems(db)
    )
