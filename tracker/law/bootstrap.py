"""Opening the database ready for use: schema migrated, places and shipped records loaded.

The common case (nothing changed since the last start) costs one small query and a
digest of each data file. Otherwise the work runs under the bootstrap lock, so several
processes starting together do it once.
"""

from __future__ import annotations

import logging
from pathlib import Path

import sqlalchemy as sa

from tracker.law import places
from tracker.law.loader import RECORDS_PREFIX, load_records
from tracker.law.recordfile import file_digest, record_files
from tracker.paths import jurisdictions_dir
from tracker.settings import Settings
from tracker.storage.engine import Database, bootstrap_lock, make_engine, migrate
from tracker.storage.tables_core import DATA_FILE as FILE
from tracker.timeutil import utcnow

logger = logging.getLogger(__name__)

PLACES_KEY = "places/*"


def open_database(settings: Settings, *, ready: bool = True) -> Database:
    """The configured database; with `ready`, migrated and loaded with shipped data."""
    db = Database(make_engine(settings.effective_database_url))
    if ready:
        ensure_ready(db)
    return db


def _wanted(root: Path) -> dict[str, str]:
    wanted = {PLACES_KEY: places.places_digest(root)}
    for path in record_files(root):
        wanted[str(path.relative_to(root))] = file_digest(path)
    return wanted


def ensure_ready(db: Database, root: Path | None = None) -> bool:
    """Migrate, sync places, load changed record files and retract the items of removed
    ones. Returns True if anything ran."""
    root = root or jurisdictions_dir()
    migrated = migrate(db)
    wanted = _wanted(root)
    with db.read() as conn:
        stored: dict[str, str] = dict(conn.execute(sa.select(FILE.c.path, FILE.c.sha256)).all())
    gone = any(k.startswith(RECORDS_PREFIX) and k not in wanted for k in stored)
    if not migrated and not gone and all(stored.get(k) == v for k, v in wanted.items()):
        return False
    with bootstrap_lock(db):
        with db.read() as conn:
            stored = dict(conn.execute(sa.select(FILE.c.path, FILE.c.sha256)).all())
        if stored.get(PLACES_KEY) != wanted[PLACES_KEY]:
            with db.write() as conn:
                count = places.sync_places(conn, root)
                conn.execute(FILE.delete().where(FILE.c.path == PLACES_KEY))
                conn.execute(
                    FILE.insert().values(
                        path=PLACES_KEY, sha256=wanted[PLACES_KEY], loaded_at=utcnow()
                    )
                )
            logger.info("places synced: %d", count)
        load_records(db, root)
    return True
