"""Loading the shipped records in `jurisdictions/records/` into the history.

Seed files load first and only where no current record covers the same place and time
(`record_belief(..., fill_gaps=True)`), so seed claims never override cited records;
record files load after, superseding whatever they overlap (see `tracker.law.recordfile` for
the formats and validation).

Loading is idempotent: each item is identified by a digest of its content. An unchanged
file is skipped; in a changed file, new items are recorded as new beliefs and removed
items are retracted (their current rows closed). A record file that no longer exists
(such as `records/curated.yaml`, superseded by the research files) has every item
retracted the same way: history keeps what it said, and the files that replace it give
the current versions. Old versions are never edited. Every file is validated whole
before anything is written, and each file loads (or is retracted) in one transaction, so
a malformed file loads nothing and names its line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.alerts import events
from tracker.law.history import record_belief, retract
from tracker.law.places import data_codes
from tracker.law.recordfile import Item, parse_file
from tracker.law.recordset import RECORDS_PREFIX, file_digest, record_files
from tracker.storage.engine import Database, knowledge_time
from tracker.storage.tables_core import DATA_FILE as FILE
from tracker.storage.tables_core import IMPORTED_ITEM as ITEM
from tracker.storage.tables_core import INTERNATIONAL, PENDING, PLACE
from tracker.timeutil import utcnow

logger = logging.getLogger(__name__)


@dataclass
class FileReport:
    path: str
    skipped: bool = False
    removed: bool = False  # the file is gone: every item it had loaded was retracted
    added: int = 0
    retracted: int = 0


@dataclass
class LoadReport:
    files: list[FileReport] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return any(not f.skipped for f in self.files)


# ---------------------------------------------------------------- loading


def load_records(db: Database, root: Path, *, force: bool = False) -> LoadReport:
    """Load every changed record file and retract the items of removed ones. Validates
    all files before writing anything."""
    with db.read() as conn:
        places = data_codes(conn)
        stored: dict[str, str] = dict(conn.execute(sa.select(FILE.c.path, FILE.c.sha256)).all())
    report = LoadReport()
    plans = []
    present = set()
    for path in record_files(root):
        rel = str(path.relative_to(root))
        present.add(rel)
        digest = file_digest(path)
        if stored.get(rel) == digest and not force:
            report.files.append(FileReport(rel, skipped=True))
            continue
        plans.append((rel, digest, parse_file(path, root, places)))
    removed = sorted(k for k in stored if k.startswith(RECORDS_PREFIX) and k not in present)
    for rel in removed:
        with db.write() as conn:
            report.files.append(_remove(conn, rel))
    for rel, digest, items in plans:
        with db.write() as conn:
            report.files.append(_apply(conn, rel, digest, items))
    return report


def _active(conn: Connection, rel: str) -> dict[str, tuple[str, int | None]]:
    """The items of file `rel` loaded and not retracted: digest -> (kind, row id)."""
    return {
        h: (k, r)
        for h, k, r in conn.execute(
            sa.select(ITEM.c.item_hash, ITEM.c.kind, ITEM.c.row_id).where(
                ITEM.c.origin == rel, ITEM.c.retracted_at.is_(None)
            )
        )
    }


def _retract_item(
    conn: Connection, rel: str, h: str, kind: str, row_id: int | None, t: Any
) -> None:
    if kind == "status" and row_id is not None:
        retract(conn, row_id, now=t)
    elif row_id is not None:
        table = PENDING if kind == "pending" else INTERNATIONAL
        conn.execute(
            table.update()
            .where(table.c.id == row_id, table.c.superseded_at.is_(None))
            .values(superseded_at=t)
        )
    conn.execute(
        ITEM.update().where(ITEM.c.origin == rel, ITEM.c.item_hash == h).values(retracted_at=t)
    )


def _remove(conn: Connection, rel: str) -> FileReport:
    """Retract every item of a record file that no longer exists."""
    report = FileReport(rel, removed=True)
    t = knowledge_time(conn)
    for h, (kind, row_id) in _active(conn, rel).items():
        _retract_item(conn, rel, h, kind, row_id, t)
        report.retracted += 1
    conn.execute(FILE.delete().where(FILE.c.path == rel))
    logger.info("%s is gone: %d items retracted", rel, report.retracted)
    return report


def _apply(conn: Connection, rel: str, digest: str, items: list[Item]) -> FileReport:
    report = FileReport(rel)
    t = knowledge_time(conn)
    active = _active(conn, rel)
    wanted = {item.digest for item in items}
    for h, (kind, old_id) in active.items():
        if h in wanted:
            continue
        _retract_item(conn, rel, h, kind, old_id, t)
        report.retracted += 1
    for item in items:
        if item.digest in active:
            continue
        row_id: int | None
        if item.belief is not None:
            seed = item.belief.source_tier == "seed"
            done = record_belief(conn, item.belief, at=t, fill_gaps=seed)
            row_id = done.inserted[0] if done.inserted else None
        elif item.international is not None:
            row_id = _add_international(conn, item, rel, t)
        else:
            row_id = _add_pending(conn, item, rel, t)
        # An item removed earlier and now back: its old import row is replaced.
        conn.execute(ITEM.delete().where(ITEM.c.origin == rel, ITEM.c.item_hash == item.digest))
        conn.execute(
            ITEM.insert().values(
                origin=rel,
                item_hash=item.digest,
                kind=item.kind,
                row_id=row_id,
                loaded_at=t,
                retracted_at=None,
            )
        )
        report.added += 1
    conn.execute(FILE.delete().where(FILE.c.path == rel))
    conn.execute(FILE.insert().values(path=rel, sha256=digest, loaded_at=utcnow()))
    logger.info("loaded %s: %d added, %d retracted", rel, report.added, report.retracted)
    return report


def _add_international(conn: Connection, item: Item, origin: str, t: Any) -> int:
    record = dict(item.international or {})
    new_id = conn.execute(
        INTERNATIONAL.insert()
        .values(
            code=record["code"],
            substance=record["substance"],
            status=record["status"],
            record=record,
            origin=origin,
            recorded_at=t,
            superseded_at=None,
        )
        .returning(INTERNATIONAL.c.id)
    ).scalar_one()
    return int(new_id)


def _add_pending(conn: Connection, item: Item, origin: str, t: Any) -> int:
    values = dict(item.pending or {})
    same = PENDING.c.place_code == values["place_code"]
    previous = conn.execute(
        sa.select(PENDING).where(
            same, PENDING.c.measure == values["measure"], PENDING.c.superseded_at.is_(None)
        )
    ).first()
    if previous is not None:
        conn.execute(PENDING.update().where(PENDING.c.id == previous.id).values(superseded_at=t))
    new_id = conn.execute(
        PENDING.insert()
        .values(**values, origin=origin, recorded_at=t, superseded_at=None)
        .returning(PENDING.c.id)
    ).scalar_one()
    stage_from = previous.stage if previous is not None else None
    if stage_from != values["stage"]:
        name = conn.execute(
            sa.select(PLACE.c.name).where(PLACE.c.code == values["place_code"])
        ).scalar()
        events.emit(
            conn,
            "pending_measure",
            importance="relevant",
            title=f"{name}: {values['measure']} ({values['stage']})",
            place_code=values["place_code"],
            substance=values["substance"],
            payload={
                **{k: (v.isoformat() if isinstance(v, date) else v) for k, v in values.items()},
                "previous_stage": stage_from,
            },
            occurred_at=t,
        )
    return int(new_id)
