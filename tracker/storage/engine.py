"""The database: engine set-up for SQLite and PostgreSQL, transactions, migrations.

SQLite (the embedded default) runs in WAL mode with a busy timeout; a write transaction
starts with `BEGIN IMMEDIATE`, so two writers queue instead of failing half-way.
PostgreSQL is the path for several replicas. The schema's revision and migrations are
`tracker.storage.schema`'s; `bootstrap_lock` serializes them, and the data sync, between
processes sharing one database.
"""

from __future__ import annotations

import fcntl
import logging
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from tracker.errors import StorageError, TrackerError
from tracker.timeutil import utcnow

logger = logging.getLogger(__name__)

_PG_MIGRATE_LOCK = 0x7472_6163  # "trac": one advisory lock id for migrations and data sync


def _sqlite_path(url: sa.URL) -> Path | None:
    db = url.database
    if not db or db == ":memory:" or db.startswith("file:"):
        return None
    return Path(db).expanduser()


def make_engine(url: str, **kwargs: Any) -> Engine:
    """An engine for `url`; the parent folder of a SQLite file is created."""
    try:
        parsed = sa.make_url(url)
    except sa.exc.ArgumentError:
        raise StorageError(
            f"invalid database URL {url!r}",
            "Use sqlite:///PATH or postgresql+psycopg://user@host/db in TRACKER_DATABASE_URL.",
        ) from None
    if parsed.get_backend_name() == "sqlite":
        path = _sqlite_path(parsed)
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StorageError(
                    f"cannot create the folder for the database {path}: {exc}",
                    "Set TRACKER_DATA_DIR or TRACKER_DATABASE_URL to a writable place.",
                ) from None
        engine = sa.create_engine(
            parsed, connect_args={"timeout": 30, "check_same_thread": False}, **kwargs
        )
        _configure_sqlite(engine)
        return engine
    if parsed.get_backend_name() == "postgresql":
        if parsed.drivername == "postgresql":
            parsed = parsed.set(drivername="postgresql+psycopg")
        try:
            return sa.create_engine(parsed, pool_pre_ping=True, **kwargs)
        except ModuleNotFoundError as exc:  # the driver is the `postgres` extra
            raise StorageError(
                f"PostgreSQL needs the {exc.name} driver, which is not installed",
                "Install the tracker with its PostgreSQL extra: "
                "pip install 'kratom-tracker[postgres]'.",
            ) from None
    raise StorageError(
        f"unsupported database {parsed.get_backend_name()!r}",
        "The tracker runs on SQLite (default) or PostgreSQL.",
    )


def _configure_sqlite(engine: Engine) -> None:
    # pysqlite's own transaction handling would defer BEGIN until the first write and
    # cannot do BEGIN IMMEDIATE; SQLAlchemy's documented recipe takes it over.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_conn: Any, _record: Any) -> None:
        dbapi_conn.isolation_level = None
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA busy_timeout = 30000")
        cur.execute("PRAGMA journal_mode = WAL")
        cur.execute("PRAGMA synchronous = NORMAL")
        cur.execute("PRAGMA foreign_keys = ON")
        cur.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get("sqlite_immediate", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


@dataclass
class Database:
    """An engine plus the knowledge of which backend it talks to."""

    engine: Engine
    _last_knowledge_time: datetime | None = field(default=None, repr=False)
    # Set when this code must not write to the database (its schema is newer than the
    # code: `tracker.storage.schema`); reads still work.
    refuse_writes: TrackerError | None = field(default=None, repr=False)

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"

    @property
    def _where(self) -> str:
        """The database named in messages: the SQLite file, or the server and database."""
        url = self.engine.url
        return f" {url.database}" if self.is_sqlite else f" {url.host}/{url.database}"

    @property
    def is_postgres(self) -> bool:
        return self.engine.dialect.name == "postgresql"

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A write transaction: BEGIN IMMEDIATE on SQLite; committed on success."""
        if self.refuse_writes is not None:
            raise self.refuse_writes
        with _storage_errors(self._where), self.engine.connect() as conn:
            if self.is_sqlite:
                conn = conn.execution_options(sqlite_immediate=True)
            with conn.begin():
                yield conn

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (one consistent snapshot on both backends)."""
        with _storage_errors(self._where), self.engine.connect() as conn:
            if self.is_postgres:
                conn = conn.execution_options(isolation_level="REPEATABLE READ")
            with conn.begin():
                yield conn

    def dispose(self) -> None:
        self.engine.dispose()


def classify(exc: BaseException, where: str = "") -> StorageError | None:
    """A StorageError saying what to do, for a database error whose cause is known: a
    damaged file, a full disk, a read-only file or folder; None for any other error.
    `where` names the database (" /path/tracker.db") in the message."""
    orig = getattr(exc, "orig", None) or exc
    text = str(orig).lower()
    sqlstate = getattr(orig, "sqlstate", None)
    if "file is not a database" in text or "disk image is malformed" in text:
        return StorageError(
            f"the database file{where} is damaged ({str(orig).strip()})",
            "Restore it from your latest backup (deploy/README.md), or move it aside: the "
            "next start creates a new one with the shipped data, without your own records.",
        )
    if "disk i/o error" in text and _nearly_full(where.strip()):
        text = "database or disk is full"  # SQLite could not grow its -wal or -shm file
    if "database or disk is full" in text or "no space left" in text or sqlstate == "53100":
        return StorageError(
            f"the disk that holds the database{where} is full",
            "Free space on it (old exports, logs; fewer snapshots with snapshot_keep) or "
            "move the data folder to a larger disk, then run it again: nothing was "
            "half-written.",
        )
    if any(s in text for s in ("readonly database", "read-only file system", "unable to open")):
        return StorageError(
            f"cannot write to the database{where}: its file or its folder is read-only",
            "Make the data folder writable for this user (SQLite also writes a -wal file "
            "beside the database), or set TRACKER_DATA_DIR to a writable folder.",
        )
    return None


def _nearly_full(path: str) -> bool:
    """True when the disk holding `path` (a SQLite file) has less than 1 MB free."""
    if not path.startswith("/"):
        return False
    try:
        return shutil.disk_usage(Path(path).parent).free < 1 << 20
    except OSError:
        return False


@contextmanager
def _storage_errors(where: str = "") -> Iterator[None]:
    try:
        yield
    except sa.exc.DBAPIError as exc:
        known = classify(exc, where)
        if known is not None:
            raise known from exc
        if not isinstance(exc, sa.exc.OperationalError):
            raise
        raise StorageError(
            f"database error: {exc.orig}",
            "Check that the database is reachable (TRACKER_DATABASE_URL) and retry.",
        ) from exc


def knowledge_time(conn: Connection, now: datetime | None = None) -> datetime:
    """The transaction time for a write: now, but strictly after every recorded time.

    Called inside a write transaction (which holds the write lock on SQLite and the place
    lock on PostgreSQL), so knowledge time never runs backwards, even if the clock does.
    """
    now = now or utcnow()
    from tracker.storage.tables_core import STATUS as t

    latest = conn.execute(sa.select(sa.func.max(t.c.recorded_at))).scalar()
    if latest is not None and latest >= now:
        return latest + timedelta(microseconds=1)
    return now


def dialect_insert(conn: Connection, table: sa.Table) -> Any:
    """An INSERT that supports `on_conflict_do_nothing` on SQLite and PostgreSQL."""
    if conn.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert(table)
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert(table)


@contextmanager
def bootstrap_lock(db: Database) -> Iterator[None]:
    """Serializes migrations and data sync between processes sharing one database."""
    if db.is_postgres:
        with db.engine.connect() as conn:
            conn.execute(sa.text("SELECT pg_advisory_lock(:k)"), {"k": _PG_MIGRATE_LOCK})
            conn.commit()
            try:
                yield
            finally:
                conn.execute(sa.text("SELECT pg_advisory_unlock(:k)"), {"k": _PG_MIGRATE_LOCK})
                conn.commit()
        return
    path = _sqlite_path(db.engine.url)
    if path is None:
        yield
        return
    with open(str(path) + ".lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
