"""Alembic environment: runs on the connection the tracker hands it (see db.migrate).

For autogenerate during development (then edit the result by hand):

    TRACKER_DATABASE_URL=sqlite:////tmp/dev.db \
        alembic -c tracker/storage/migrations/alembic.ini revision --autogenerate -m "..."
"""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

# Every table module, so that autogenerate sees every table: the core (SQLModel), page
# watching, alerts and the daemon.
import tracker.storage.tables_alerts
import tracker.storage.tables_core
import tracker.storage.tables_service
import tracker.storage.tables_watch
import tracker.storage.tables_web  # noqa: F401

config = context.config
target_metadata = SQLModel.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    from tracker.settings import load_settings
    from tracker.storage.engine import make_engine

    engine = make_engine(load_settings().effective_database_url)
    with engine.begin() as conn:
        _run(conn)
