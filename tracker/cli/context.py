"""What every command needs: settings and a database that is ready to use."""

from __future__ import annotations

from functools import cache

from tracker.settings import Settings, load_settings
from tracker.storage.engine import Database


@cache
def settings() -> Settings:
    from tracker.service.daemon_config import apply_policy

    loaded = load_settings()
    apply_policy(loaded)  # min_every and check_jitter: the same in every command
    return loaded


@cache
def database() -> Database:
    from tracker.law.bootstrap import open_database

    return open_database(settings())


def close() -> None:
    """Close the database a command opened, if it opened one. On SQLite the last close
    also checkpoints the write-ahead log into the database file and removes the `-wal`
    and `-shm` files; left to the process's end, that happens only if a garbage
    collection reaches the connections."""
    if database.cache_info().currsize:
        database().dispose()
        database.cache_clear()
