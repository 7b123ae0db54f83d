"""Is the database there? Retry with backoff, then give up clearly.

`is_db_error(exc)`: an error that means the database could not be reached or went away
(StorageError, or SQLAlchemy's operational and disconnection errors), as opposed to a
bug or bad data.

`DbHealth` is shared by every job of a daemon replica:
- a job calls `should_try()` before touching the database: always True while the
  database is up; while it is down, True only once per backoff step (1, 2, 4 ... 30 s),
  so one job at a time probes and the log is not flooded;
- it reports `ok()` or `failed(exc)`;
- `given_up()` is True once the database has been down longer than `retry_for`
  seconds: the daemon then stops with exit status 3. Any success before that resets it.

`open_with_retry(open_fn, retry_for, stop)` does the same at start: it calls `open_fn`
until it succeeds, retrying database errors with backoff for up to `retry_for` seconds
then raises a StorageError naming the last error; StopRequested if `stop` is set while
it waits.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa

from tracker.errors import StorageError

logger = logging.getLogger(__name__)
T = TypeVar("T")
MAX_BACKOFF = 30.0


def is_db_error(exc: BaseException) -> bool:
    return isinstance(exc, StorageError | sa.exc.OperationalError | sa.exc.InterfaceError) or bool(
        getattr(exc, "connection_invalidated", False)
    )


def _describe(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


class DbHealth:
    def __init__(self, retry_for: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.retry_for = retry_for
        self.clock = clock
        self.down_since: float | None = None
        self.last_error = ""
        self._backoff = 1.0
        self._next_try = 0.0
        self._lock = threading.Lock()

    @property
    def up(self) -> bool:
        return self.down_since is None

    def should_try(self) -> bool:
        with self._lock:
            if self.down_since is None:
                return True
            now = self.clock()
            if now < self._next_try:
                return False
            self._next_try = now + self._backoff
            self._backoff = min(self._backoff * 2, MAX_BACKOFF)
            return True

    def ok(self) -> None:
        with self._lock:
            if self.down_since is not None:
                logger.warning(
                    "database reachable again after %.1f s", self.clock() - self.down_since
                )
            self.down_since = None
            self._backoff = 1.0

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            self.last_error = _describe(exc)
            if self.down_since is None:
                self.down_since = self.clock()
                self._next_try = self.down_since + self._backoff
                logger.error(
                    "database unreachable: %s; retrying with backoff for up to %.0f s",
                    self.last_error,
                    self.retry_for,
                )

    def down_for(self) -> float:
        return 0.0 if self.down_since is None else self.clock() - self.down_since

    def given_up(self) -> bool:
        return self.down_since is not None and self.down_for() > self.retry_for


class StopRequested(Exception):
    """A stop signal arrived while waiting for the database at start."""


def open_with_retry(
    open_fn: Callable[[], T], retry_for: float, stop: threading.Event | None = None
) -> T:
    """`open_fn()`, retried on database errors with backoff for up to `retry_for` s."""
    start = time.monotonic()
    delay = 1.0
    while True:
        try:
            return open_fn()
        except Exception as exc:
            if not is_db_error(exc):
                raise
            waited = time.monotonic() - start
            if waited + delay > retry_for:
                raise StorageError(
                    f"database unreachable for {waited:.0f} s: {_describe(exc)}",
                    "Check TRACKER_DATABASE_URL and that the server is running; the daemon "
                    "retries for db_retry_for seconds before giving up.",
                ) from exc
            logger.warning(
                "database unreachable at start: %s; retrying in %.0f s", _describe(exc), delay
            )
            if stop is not None and stop.wait(delay):
                raise StopRequested from None
            if stop is None:
                time.sleep(delay)
            delay = min(delay * 2, MAX_BACKOFF)
