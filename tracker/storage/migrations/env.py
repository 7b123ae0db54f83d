"""Alembic environment: runs on the connection the tracker hands it
(`tracker.storage.schema.upgrade`).

For autogenerate during development (then edit the result by hand):

    TRACKER_DATABASE_URL=sqlite:////tmp/dev.db \
        alembic -c tracker/storage/migrations/alembic.ini revision --autogenerate -m "..."
"""

from __future__ import annotations

from alembic import context

from tracker.storage.schema import metadata

config = context.config
target_metadata = metadata()


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
