"""Opening the database ready for use: schema migrated, places and shipped records loaded.

The common case (nothing changed since the last start) costs one small query and a
digest of each data file. Otherwise the work runs under the bootstrap lock, so several
processes starting together do it once.

Migrating on start follows the `auto_migrate` setting (`decide`):
- `on`: a database behind this code is migrated;
- `off`: it is refused (SchemaError, exit 2): `tracker db upgrade` migrates it;
- `auto` (default): SQLite is migrated (one process owns it); PostgreSQL only when it is
  empty or no daemon replica has been seen in the last `REPLICA_ALIVE` (a rolling
  upgrade must not change the schema under the replicas still running the old code).
A database *ahead* of this code (migrated by a newer tracker) is never migrated: it is
opened for reading only, and every write raises SchemaError.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from tracker.errors import SchemaError
from tracker.law import places
from tracker.law.recordset import RECORDS_PREFIX, file_digest, record_files
from tracker.paths import jurisdictions_dir
from tracker.settings import Settings
from tracker.storage import schema
from tracker.storage.engine import Database, bootstrap_lock, make_engine
from tracker.storage.tables_core import DATA_FILE as FILE
from tracker.timeutil import utcnow

logger = logging.getLogger(__name__)

PLACES_KEY = "places/*"
REPLICA_ALIVE = timedelta(minutes=1)  # heartbeats come every 10 s


def open_database(settings: Settings, *, ready: bool = True) -> Database:
    """The configured database; with `ready`, migrated (as `auto_migrate` allows) and
    loaded with shipped data."""
    db = Database(make_engine(settings.effective_database_url))
    if ready:
        ensure_ready(db, auto_migrate=settings.auto_migrate)
    return db


def _live_replicas(db: Database) -> list[str]:
    from tracker.storage.tables_service import DAEMON_REPLICA  # PostgreSQL, migrating only

    with db.read() as conn:
        if not sa.inspect(conn).has_table("daemon_replica"):
            return []
        rows = conn.execute(
            sa.select(DAEMON_REPLICA.c.hostname, DAEMON_REPLICA.c.pid).where(
                DAEMON_REPLICA.c.seen_at >= utcnow() - REPLICA_ALIVE
            )
        ).all()
    return [f"{host} (pid {pid})" for host, pid in rows]


def decide(db: Database, auto_migrate: str) -> bool:
    """Whether this start may migrate a database that is empty or behind (see the module
    docstring). Raises SchemaError when it may not, saying what to do."""
    if auto_migrate == "on" or (auto_migrate == "auto" and db.is_sqlite):
        return True
    seen = schema.state(db)
    if auto_migrate == "auto":
        if seen.status == "empty":
            return True
        running = _live_replicas(db)
        if not running:
            return True
        raise SchemaError(
            f"{seen.describe()}, and replicas are running: {', '.join(running)}",
            "Migrating now would change the schema under them. Stop them, then run "
            "`tracker db upgrade` (or set TRACKER_AUTO_MIGRATE=on to migrate anyway).",
        )
    raise SchemaError(
        f"{seen.describe()}, and auto_migrate is off",
        "Run `tracker db upgrade` to migrate it, then start again.",
    )


def _wanted(root: Path) -> dict[str, str]:
    """What the loaded data should be: the places digest and each record file's digest,
    computed without parsing any file (the common case, nothing changed, never needs the
    YAML parser or the loader)."""
    wanted = {PLACES_KEY: places.places_digest(root)}
    for path in record_files(root):
        wanted[str(path.relative_to(root))] = file_digest(path)
    return wanted


def ensure_ready(db: Database, root: Path | None = None, *, auto_migrate: str = "on") -> bool:
    """Migrate (as `auto_migrate` allows), sync places, load changed record files and
    retract the items of removed ones. Returns True if anything ran. A database ahead of
    this code is left as it is and opened for reading only (`db.refuse_writes`)."""
    root = root or jurisdictions_dir()
    seen = schema.state(db)
    if seen.status == "ahead":
        db.refuse_writes = schema.ahead_error(seen)
        return False
    migrated = seen.status != "current" and decide(db, auto_migrate) and schema.upgrade(db)
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
        from tracker.law.loader import load_records

        load_records(db, root)
    return True
