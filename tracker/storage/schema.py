"""The schema's revision: what this code expects, what the database holds, and bringing
the database up to date on purpose.

Revisions are read from the migration files (`migrations/versions/*.py`) with a regular
expression, so the common case, a database already current, costs one small query and
never imports Alembic. The database is:

- `empty`: no schema at all (a fresh SQLite file or PostgreSQL database);
- `current`: at this code's head revisions;
- `behind`: at older revisions this code knows: `upgrade` brings it forward;
- `ahead`: at a revision this code does not know, written by a newer tracker: this code
  must not write to it (it may not know a column or a constraint), and never migrates it.

Whether a start migrates on its own is the `auto_migrate` setting, decided in
`tracker.law.bootstrap`. `differences` compares the tables this code defines with the
live schema (Alembic's autogenerate comparison): `tracker db check` and the tests.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.errors import SchemaError
from tracker.storage.engine import Database, _storage_errors, bootstrap_lock

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


@cache
def _revisions() -> tuple[frozenset[str], frozenset[str]]:
    """(every revision this code knows, its heads), from the migration files."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        text = path.read_text(encoding="utf-8")
        rev = re.search(r'^revision\s*(?::[^=]*)?=\s*["\']([^"\']+)', text, re.M)
        down = re.search(r"^down_revision\s*(?::[^=]*)?=\s*(.+)$", text, re.M)
        if rev:
            revisions.add(rev.group(1))
        if down:
            parents.update(re.findall(r'["\']([^"\']+)["\']', down.group(1)))
    return frozenset(revisions), frozenset(revisions - parents)


def expected_heads() -> set[str]:
    """The head revisions of this code's migrations."""
    return set(_revisions()[1])


def current_heads(conn: Connection) -> set[str]:
    """The revisions recorded in the database (empty for a database without a schema)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return set()
    return {row[0] for row in conn.execute(sa.text("SELECT version_num FROM alembic_version"))}


@dataclass(frozen=True)
class SchemaState:
    database: frozenset[str]
    code: frozenset[str]
    known: frozenset[str]

    @property
    def status(self) -> str:
        """`empty`, `current`, `behind` or `ahead` (see the module docstring)."""
        if not self.database:
            return "empty"
        if self.database == self.code:
            return "current"
        if self.database - self.known:
            return "ahead"
        return "behind"

    def describe(self) -> str:
        have = ", ".join(sorted(self.database)) or "no schema"
        want = ", ".join(sorted(self.code))
        return f"the database is at {have}; this tracker's schema is {want}"


def state(db: Database) -> SchemaState:
    known, heads = _revisions()
    with _storage_errors(db._where), db.engine.connect() as conn:
        return SchemaState(frozenset(current_heads(conn)), heads, known)


def metadata() -> sa.MetaData:
    """Every table this code defines: the core (SQLModel), page watching, alerts, the
    daemon, the review loop and the web's rate limits (the migrations' autogenerate target
    too)."""
    from sqlmodel import SQLModel

    import tracker.storage.tables_alerts
    import tracker.storage.tables_core
    import tracker.storage.tables_review
    import tracker.storage.tables_service
    import tracker.storage.tables_watch
    import tracker.storage.tables_web  # noqa: F401

    return SQLModel.metadata


def _run_migrations(conn: Connection) -> None:
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["connection"] = conn
    command.upgrade(cfg, "heads")


def upgrade(db: Database) -> bool:
    """Bring the schema to this code's heads, under the bootstrap lock (processes starting
    together migrate once). Returns True if anything ran. Never touches a database that is
    ahead of this code (raises SchemaError)."""
    with _storage_errors(db._where):
        if state(db).status == "current":
            return False
        with bootstrap_lock(db), db.engine.begin() as conn:
            known, heads = _revisions()
            now = SchemaState(frozenset(current_heads(conn)), heads, known)
            if now.status == "current":
                return False
            if now.status == "ahead":
                raise ahead_error(now)
            logger.info("applying database migrations (%s)", now.describe())
            _run_migrations(conn)
    return True


def differences(db: Database) -> list[str]:
    """How the live schema differs from the tables this code defines (Alembic's
    autogenerate comparison), one line each; empty when they agree."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    with _storage_errors(db._where), db.engine.connect() as conn:
        context = MigrationContext.configure(
            conn, opts={"compare_type": True, "render_as_batch": db.is_sqlite}
        )
        diffs = compare_metadata(context, metadata())
    return [_describe(d) for d in diffs]


def _describe(diff: object) -> str:
    if isinstance(diff, tuple) and diff:
        name = getattr(diff[1], "name", None) if len(diff) > 1 else None
        return f"{diff[0]} {name or diff[1:]!r}"
    if isinstance(diff, list):  # column modifications come as a list of tuples
        return "; ".join(_describe(d) for d in diff)
    return repr(diff)


def ahead_error(seen: SchemaState) -> SchemaError:
    return SchemaError(
        f"{seen.describe()}: a newer tracker migrated it, and this one must not write to it",
        "Upgrade this installation to the version the other replicas run (reading still "
        "works: status, list, history, export).",
    )
