"""`tracker db`: the database schema on purpose: where it is, bring it up to date, check it.

These commands open the database without migrating or loading anything first (every
other command does so as `auto_migrate` allows).
"""

from __future__ import annotations

import sys

import click

from tracker.cli.context import settings
from tracker.cli.output import SCHEMA, echo_json, json_option
from tracker.storage import schema
from tracker.storage.engine import Database, make_engine


def _open() -> Database:
    return Database(make_engine(settings().effective_database_url))


def _state_json(seen: schema.SchemaState) -> dict[str, object]:
    return {
        "database": sorted(seen.database),
        "code": sorted(seen.code),
        "status": seen.status,
        "auto_migrate": settings().auto_migrate,
    }


@click.group()
def db() -> None:
    """The database schema: `current`, `upgrade`, `check`."""


@db.command()
@json_option
def current(as_json: bool) -> None:
    """Show the schema revision of the database and of this tracker.

    Status: empty (no schema yet), current, behind (`tracker db upgrade` brings it
    forward) or ahead (a newer tracker migrated it: this one only reads).
    """
    database = _open()
    try:
        seen = schema.state(database)
    finally:
        database.dispose()
    if as_json:
        echo_json({"schema": SCHEMA, **_state_json(seen)})
        return
    click.echo(f"database: {', '.join(sorted(seen.database)) or 'no schema'}")
    click.echo(f"tracker:  {', '.join(sorted(seen.code))}")
    click.echo(f"status:   {seen.status} (auto_migrate = {settings().auto_migrate})")


@db.command()
def upgrade() -> None:
    """Migrate the database to this tracker's schema now, whatever `auto_migrate` says.

    Runs under the same lock as a start, so it is safe beside starting replicas; stop
    replicas running older code first (they do not know the new schema). A database
    migrated by a newer tracker is refused.
    """
    database = _open()
    try:
        ran = schema.upgrade(database)
        seen = schema.state(database)
    finally:
        database.dispose()
    click.echo(("migrated: " if ran else "already current: ") + seen.describe())


@db.command()
@json_option
def check(as_json: bool) -> None:
    """Check that the database schema is current and matches the tables this tracker
    defines (exit 0), or say what differs (exit 1).

    For deployment scripts: run it after `tracker db upgrade`.
    """
    database = _open()
    try:
        seen = schema.state(database)
        diffs = schema.differences(database) if seen.status == "current" else []
    finally:
        database.dispose()
    ok = seen.status == "current" and not diffs
    if as_json:
        echo_json({"schema": SCHEMA, **_state_json(seen), "differences": diffs, "ok": ok})
    else:
        click.echo(f"status: {seen.status}: {seen.describe()}")
        for line in diffs:
            click.echo(f"  differs: {line}")
        click.echo("ok" if ok else "not ok")
    if seen.status == "ahead":
        raise schema.ahead_error(seen)
    if not ok:
        sys.exit(1)
