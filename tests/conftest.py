"""Shared fixtures: real databases (a SQLite file and the PostgreSQL server on
127.0.0.1:5432), an isolated data directory, and the real CLI entry point.

PostgreSQL tests are not skipped when the server is down: they fail, because the
PostgreSQL path must be tested for real (`.ci/run` starts the server).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tracker.law.bootstrap import ensure_ready
from tracker.law.places import sync_places
from tracker.paths import jurisdictions_dir
from tracker.storage.engine import Database, make_engine
from tracker.storage.schema import upgrade as migrate

PG_ADMIN_URL = os.environ.get(
    "TRACKER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
BACKENDS = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]


def _pg_admin() -> sa.Engine:
    return sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")


def _pg_url(name: str) -> str:
    return sa.make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)


def create_pg_database(template: str | None = None) -> str:
    name = f"tracker_t_{uuid.uuid4().hex[:12]}"
    engine = _pg_admin()
    with engine.connect() as conn:
        conn.exec_driver_sql(
            f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        )
    engine.dispose()
    return name


def drop_pg_database(name: str) -> None:
    engine = _pg_admin()
    with engine.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    engine.dispose()


@dataclass
class Templates:
    sqlite_empty: Path
    sqlite_loaded: Path
    pg_empty: str | None = None
    pg_loaded: str | None = None


def _prepare(db: Database, loaded: bool) -> None:
    if loaded:
        ensure_ready(db)
    else:
        migrate(db)
        with db.write() as conn:
            sync_places(conn, jurisdictions_dir())
    db.dispose()


@pytest.fixture(scope="session")
def templates(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Templates]:
    """Databases prepared once per session and copied for each test (fast)."""
    folder = tmp_path_factory.mktemp("templates")
    t = Templates(folder / "empty.db", folder / "loaded.db")
    for path, loaded in ((t.sqlite_empty, False), (t.sqlite_loaded, True)):
        _prepare(Database(make_engine(f"sqlite:///{path}")), loaded)
    yield t
    for name in (t.pg_empty, t.pg_loaded):
        if name:
            drop_pg_database(name)


def _pg_template(t: Templates, loaded: bool) -> str:
    attr = "pg_loaded" if loaded else "pg_empty"
    name = getattr(t, attr)
    if name is None:
        name = create_pg_database()
        _prepare(Database(make_engine(_pg_url(name))), loaded)
        setattr(t, attr, name)
    return name


def _database_url(
    request: pytest.FixtureRequest, tmp_path: Path, templates: Templates, loaded: bool
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "tracker.db"
        shutil.copy(templates.sqlite_loaded if loaded else templates.sqlite_empty, path)
        yield f"sqlite:///{path}"
        return
    name = create_pg_database(_pg_template(templates, loaded))
    try:
        yield _pg_url(name)
    finally:
        drop_pg_database(name)


@pytest.fixture(params=BACKENDS)
def loaded_url(
    request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
) -> Iterator[str]:
    """A database URL with the schema, the places and the shipped records."""
    yield from _database_url(request, tmp_path, templates, loaded=True)


@pytest.fixture(params=BACKENDS)
def empty_url(
    request: pytest.FixtureRequest, tmp_path: Path, templates: Templates
) -> Iterator[str]:
    """A database URL with the schema and the places, and no records."""
    yield from _database_url(request, tmp_path, templates, loaded=False)


@pytest.fixture
def pg_url(templates: Templates) -> Iterator[str]:
    """A PostgreSQL database URL with the schema, the places and the shipped records, for
    tests of several processes on one database (SQLite supports one daemon)."""
    name = create_pg_database(_pg_template(templates, loaded=True))
    try:
        yield _pg_url(name)
    finally:
        drop_pg_database(name)


def use_loaded_copy(
    templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, **settings: str
) -> Path:
    """Make a copy of the loaded SQLite template this test's database, with the given
    settings as `TRACKER_<NAME>` variables; returns the copy's path."""
    db = tmp_path / "tracker.db"
    shutil.copy(templates.sqlite_loaded, db)
    monkeypatch.setenv("TRACKER_DATABASE_URL", f"sqlite:///{db}")
    for key, value in settings.items():
        monkeypatch.setenv(f"TRACKER_{key.upper()}", value)
    return db


@pytest.fixture
def served(empty_db: Database) -> Iterator[str]:
    """The app of the links in mail (`tracker.web.links`) on a free port; yields its base
    URL."""
    from tests.support.alerting import make_settings
    from tracker.web import app as web
    from tracker.web.links import make_app

    server = web.serve_in_thread(make_app(empty_db, make_settings()))
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def loaded_sqlite_dir(tmp_path: Path, templates: Templates) -> Path:
    """A data folder whose SQLite database is migrated and loaded (as after a first start)."""
    folder = tmp_path / "loaded-data"
    folder.mkdir()
    shutil.copy(templates.sqlite_loaded, folder / "tracker.db")
    return folder


@pytest.fixture
def loaded_db(loaded_url: str) -> Iterator[Database]:
    db = Database(make_engine(loaded_url))
    yield db
    db.dispose()


@pytest.fixture
def empty_db(empty_url: str) -> Iterator[Database]:
    db = Database(make_engine(empty_url))
    yield db
    db.dispose()


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test reads the user's settings or writes to the user's data directory."""
    for key in list(os.environ):
        if key.startswith("TRACKER_") and key != "TRACKER_TEST_PG":
            monkeypatch.delenv(key)
    monkeypatch.setenv("TRACKER_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # The shipped sources are real official sites: no test may reach them (nothing but
    # 127.0.0.1 is contacted, and a DNS look-up is already contact). A test of the shipped
    # sources themselves turns them on and checks only local ones.
    monkeypatch.setenv("TRACKER_SHIPPED_SOURCES", "false")
    from tracker.cli import context
    from tracker.watch import policy

    context.settings.cache_clear()
    context.database.cache_clear()
    # The scheduling policy is process-wide (set from settings by every command): start
    # each test from the defaults, whatever an earlier test's command installed.
    policy.configure(min_every=policy.MIN_EVERY, jitter=0.0, shipped=True)
    yield
    context.settings.cache_clear()
    context.database.cache_clear()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[Any]:
    """Debian's headless Chromium (selenium), for tests of a page a person sees."""
    from tests.support.browser import chromium

    with chromium(tmp_path, height=2000) as driver:
        yield driver


@pytest.fixture
def shipped_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The shipped sources listed and synced, for tests of them; such a test checks only
    its local sources by key, never the shipped (real) sites."""
    monkeypatch.setenv("TRACKER_SHIPPED_SOURCES", "true")


@dataclass
class CliResult:
    code: int
    out: str
    err: str


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]):  # type: ignore[no-untyped-def]
    """Run the real `tracker` entry point in-process: cli("status", "US-RI")."""
    from tracker.cli import context, main

    def run(*args: str) -> CliResult:
        context.settings.cache_clear()
        context.database.cache_clear()
        capsys.readouterr()
        try:
            code = main(list(args))
            code = code if isinstance(code, int) else 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        finally:
            if context.database.cache_info().currsize:
                context.database().dispose()
            context.database.cache_clear()
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run
