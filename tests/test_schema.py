"""The schema on purpose: the migrations build exactly the tables the code defines,
`auto_migrate` decides when a start may migrate, and a tracker older than its database
reads but never writes."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.conftest import (
    BACKENDS,
    _pg_url,
    create_pg_database,
    drop_pg_database,
)
from tracker.storage import schema
from tracker.storage.engine import Database, make_engine
from tracker.storage.tables_service import DAEMON_REPLICA
from tracker.timeutil import utcnow

FUTURE = "9999_from_a_newer_tracker"
BEFORE_LAST = "0004_daemon"


def test_migrations_build_exactly_the_tables_the_code_defines(empty_db: Database) -> None:
    """Alembic's autogenerate comparison finds nothing to add, drop or change."""
    assert schema.state(empty_db).status == "current"
    assert schema.differences(empty_db) == []


def test_the_comparison_sees_a_difference(empty_db: Database) -> None:
    with empty_db.write() as conn:
        conn.execute(sa.text("DROP INDEX ix_status_known"))
    found = schema.differences(empty_db)
    assert any("ix_status_known" in line for line in found), found


def _migrate_to(url: str, revision: str) -> None:
    """Migrate the database at `url` up to `revision` only (as an older tracker did)."""
    engine = make_engine(url)
    with engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(schema.MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def behind_url(request: pytest.FixtureRequest, tmp_path) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """A database migrated only up to the revision before the last (an older tracker's)."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.db'}"
        name = None
    else:
        name = create_pg_database()
        url = _pg_url(name)
    _migrate_to(url, BEFORE_LAST)
    try:
        yield url
    finally:
        if name:
            drop_pg_database(name)


def _heartbeat(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as conn:
        conn.execute(
            DAEMON_REPLICA.insert().values(
                owner="old-replica",
                hostname="node-1",
                pid=4242,
                version="0.0.9",
                http=None,
                started_at=utcnow() - timedelta(hours=1),
                seen_at=utcnow(),
            )
        )
    engine.dispose()


def _state(url: str) -> str:
    db = Database(make_engine(url))
    try:
        return schema.state(db).status
    finally:
        db.dispose()


def test_auto_migrates_sqlite_and_an_idle_postgres(cli, behind_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRACKER_DATABASE_URL", behind_url)
    assert _state(behind_url) == "behind"
    done = cli("status", "US-AL")
    assert done.code == 0, done.err
    assert _state(behind_url) == "current"


def test_auto_never_migrates_postgres_under_running_replicas(cli, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    name = create_pg_database()
    url = _pg_url(name)
    try:
        _migrate_to(url, BEFORE_LAST)
        _heartbeat(url)
        monkeypatch.setenv("TRACKER_DATABASE_URL", url)
        refused = cli("status", "US-AL")
        assert refused.code == 2
        assert "replicas are running: node-1 (pid 4242)" in refused.err
        assert "tracker db upgrade" in refused.err
        assert _state(url) == "behind"  # nothing was changed

        monkeypatch.setenv("TRACKER_AUTO_MIGRATE", "on")  # told to: it migrates
        assert cli("status", "US-AL").code == 0
        assert _state(url) == "current"
    finally:
        drop_pg_database(name)


def test_off_refuses_until_db_upgrade(cli, behind_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRACKER_DATABASE_URL", behind_url)
    monkeypatch.setenv("TRACKER_AUTO_MIGRATE", "off")
    refused = cli("status", "US-AL")
    assert refused.code == 2 and "auto_migrate is off" in refused.err
    assert _state(behind_url) == "behind"

    current = cli("db", "current", "--json")
    assert json.loads(current.out)["status"] == "behind"
    assert cli("db", "check").code == 1

    upgraded = cli("db", "upgrade")
    assert upgraded.code == 0 and upgraded.out.startswith("migrated:")
    assert cli("db", "check").code == 0
    assert cli("status", "US-AL").code == 0  # and the data loads on the next start


def test_a_tracker_older_than_its_database_reads_but_never_writes(
    cli, loaded_url: str, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    engine = make_engine(loaded_url)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = :v"), {"v": FUTURE})
    engine.dispose()
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)

    assert json.loads(cli("db", "current", "--json").out)["status"] == "ahead"
    read = cli("status", "US-RI", "--json")
    assert read.code == 0, read.err
    assert json.loads(read.out)["results"][0]["place"]["code"] == "US-RI"

    write = cli(
        "record", "US-RI", "banned", "--from", "2030-01-01", "--citation", "Test Act 1",
        "--source", "https://legislature.example/act",
    )  # fmt: skip
    assert write.code == 2
    assert "a newer tracker migrated it" in write.err
    refused = cli("db", "upgrade")
    assert refused.code == 2 and "newer tracker" in refused.err
    with Database(make_engine(loaded_url)).read() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalar() == FUTURE


def test_postgres_without_its_driver_says_how_to_install_it(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """psycopg is the `postgres` extra: without it, a clear message and exit 3 (the driver
    is hidden from a child process, as on an installation without the extra)."""
    import os
    import subprocess
    import sys

    probe = (
        "import sys; sys.modules['psycopg'] = None\n"
        "from tracker.cli import main\n"
        "main(['status', 'US-AL'])"
    )
    env = {**os.environ, "TRACKER_DATABASE_URL": "postgresql://tracker@127.0.0.1/none"}
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 3, done.stderr
    assert "PostgreSQL needs the psycopg driver" in done.stderr
    assert "pip install 'kratom-tracker[postgres]'" in done.stderr


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_database_of_the_web_rate_release_gets_every_later_table(
    backend: str, tmp_path: Path
) -> None:
    """A release stamped its databases `0008_web_rate` right after `0005_subscriber_place`,
    without `0006_knowledge` and `0007_review`. Upgrading such a database must add them
    (an edited down_revision once made Alembic count them as applied: no review_item)."""
    if backend == "sqlite":
        url, name = f"sqlite:///{tmp_path / 'web-rate.db'}", None
    else:
        name = create_pg_database()
        url = _pg_url(name)
    try:
        _migrate_to(url, "0008_web_rate")
        db = Database(make_engine(url))
        try:
            with db.read() as conn:
                assert not sa.inspect(conn).has_table("review_item")
                assert sa.inspect(conn).has_table("web_rate")
            assert schema.state(db).status == "behind"
            assert schema.upgrade(db) is True
            assert schema.state(db).status == "current"
            assert schema.differences(db) == []
        finally:
            db.dispose()
    finally:
        if name:
            drop_pg_database(name)
