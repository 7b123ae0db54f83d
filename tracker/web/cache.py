"""Conditional GET and a small response cache, keyed by what the data depends on.

Every answer of the pages and the API is a function of the request and of the data:
the status and pending-measure history, the events, the page changes and checks (last
verified, review state), and the day (a default `as_of` is today). `Freshness.stamp`
reads all of that in one query on primary keys (the newest row ids, and the newest
successful check), about 0.1 ms on SQLite. Rows are only ever added to these tables
(history is append-only: a superseding belief inserts rows in the same transaction that
closes the old ones), so the newest ids change whenever an answer may change.

`Cache.answer(request, build)`: the ETag is a hash of the stamp and the request (path
and query); `If-None-Match` (or `If-Modified-Since` against the newest knowledge time)
is answered 304 at once; otherwise a response built earlier for the same ETag is
served from memory (an LRU of `size` entries), else `build()` runs. Errors are not
cached. Answers carry `Cache-Control: no-cache` (revalidate every time: cheap).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime, parsedate_to_datetime

import sqlalchemy as sa

from tracker.storage.engine import Database
from tracker.storage.tables_core import EVENT, PENDING, STATUS
from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE
from tracker.timeutil import as_utc, utcnow
from tracker.web.app import Request, Response


@dataclass(frozen=True)
class Stamp:
    key: str
    modified: datetime  # the newest knowledge time among the rows counted


def _newest(table: sa.Table, column: sa.ColumnElement[datetime]) -> sa.ScalarSelect[datetime]:
    newest_id = sa.select(sa.func.max(table.c.id)).scalar_subquery()
    return sa.select(column).where(table.c.id == newest_id).scalar_subquery()


_QUERY = sa.select(
    sa.select(sa.func.max(STATUS.c.id)).scalar_subquery(),
    sa.select(sa.func.max(PENDING.c.id)).scalar_subquery(),
    sa.select(sa.func.max(EVENT.c.id)).scalar_subquery(),
    sa.select(sa.func.max(PAGE_CHANGE.c.id)).scalar_subquery(),
    sa.select(sa.func.max(SOURCE.c.last_ok_at)).scalar_subquery(),
    _newest(STATUS, STATUS.c.recorded_at),
    _newest(PENDING, PENDING.c.recorded_at),
    _newest(EVENT, EVENT.c.occurred_at),
)

_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


class Freshness:
    def __init__(self, db: Database) -> None:
        self.db = db

    def stamp(self) -> Stamp:
        with self.db.read() as conn:
            row = conn.execute(_QUERY).one()
        times = [as_utc(t) for t in row[5:] if isinstance(t, datetime)]
        checked = row[4]
        if isinstance(checked, datetime):
            times.append(as_utc(checked))
        parts = [utcnow().date().isoformat(), *("-" if v is None else str(v) for v in row)]
        return Stamp("|".join(parts), max(times, default=_EPOCH).replace(microsecond=0))


def _etag(stamp: Stamp, request: Request) -> str:
    query = "&".join(f"{k}={v}" for k, vs in sorted(request.query_all.items()) for v in vs)
    digest = hashlib.sha256(f"{stamp.key}\n{request.path}\n{query}".encode()).hexdigest()
    return f'"{digest[:32]}"'


def _not_modified(request: Request, etag: str, modified: datetime) -> bool:
    tags = request.headers.get("if-none-match")
    if tags is not None:
        wanted = {t.strip().removeprefix("W/") for t in tags.split(",")}
        return etag in wanted or "*" in wanted
    since = request.headers.get("if-modified-since")
    if since:
        try:
            when = parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
        return when.tzinfo is not None and modified <= when
    return False


class Cache:
    def __init__(self, db: Database, size: int = 256) -> None:
        self.freshness = Freshness(db)
        self.size = size
        self._entries: OrderedDict[str, Response] = OrderedDict()
        self._lock = threading.Lock()

    def answer(self, request: Request, build: Callable[[], Response]) -> Response:
        stamp = self.freshness.stamp()
        etag = _etag(stamp, request)
        validators = {
            "ETag": etag,
            "Last-Modified": format_datetime(stamp.modified, usegmt=True),
            "Cache-Control": "no-cache",
        }
        if _not_modified(request, etag, stamp.modified):
            return Response(304, b"", headers=validators)
        with self._lock:
            cached = self._entries.get(etag)
            if cached is not None:
                self._entries.move_to_end(etag)
        if cached is None:
            cached = build()
            if cached.status != 200:
                return cached
            cached.headers.update(validators)
            with self._lock:
                self._entries[etag] = cached
                while len(self._entries) > self.size:
                    self._entries.popitem(last=False)
        # A copy: the app adds headers and cookies to what it sends.
        return Response(cached.status, cached.body, cached.content_type, dict(cached.headers), [])
