"""Conditional GET and a small response cache, keyed by what the data depends on.

Every answer of the pages and the API is a function of the request and of the data:
the status and pending-measure history, the events, the page changes and checks (last
verified, review state), and the day (a default `as_of` is today). `Freshness.stamp`
reads all of that in one query on primary keys (the newest row ids, and the newest
successful check), about 0.1 ms on SQLite. Rows are only ever added to these tables
(history is append-only: a superseding belief inserts rows in the same transaction that
closes the old ones), so the newest ids change whenever an answer may change.

Under load the stamp is read at most once per `web_cache_ttl` seconds (default 1), so
a change reaches the pages and the API within that time.

`Cache.answer(request, build)`: the ETag is a hash of the stamp and the request (path
and query); `If-None-Match` (or `If-Modified-Since` against the newest knowledge time)
is answered 304 at once; otherwise a response built earlier for the same ETag is
served from memory (an LRU of `size` entries), else `build()` runs. Errors are not
cached. Answers carry `Cache-Control: no-cache` (revalidate every time: cheap). A client
that accepts gzip gets the answer compressed, once per cached entry (the status page
shrinks from about 650 kB to about 60 kB), with an ETag of its own.
"""

from __future__ import annotations

import gzip
import hashlib
import threading
import time
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
GZIP_MIN = 1024  # smaller answers are sent as they are


class Freshness:
    """The stamp, read from the database at most once per `ttl` seconds (0: every time):
    under load most requests then need no database round trip, and a change shows
    within `ttl` (`web_cache_ttl`)."""

    def __init__(self, db: Database, ttl: float = 0.0) -> None:
        self.db = db
        self.ttl = ttl
        self._last: tuple[float, Stamp] | None = None
        self._lock = threading.Lock()

    def stamp(self) -> Stamp:
        if self.ttl <= 0:
            return self._read()
        now = time.monotonic()
        with self._lock:
            if self._last is not None and now - self._last[0] < self.ttl:
                return self._last[1]
        fresh = self._read()
        with self._lock:
            self._last = (now, fresh)
        return fresh

    def _read(self) -> Stamp:
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


def _accepts_gzip(request: Request) -> bool:
    for part in request.headers.get("accept-encoding", "").split(","):
        name, _, q = part.strip().partition(";")
        if name.strip().lower() == "gzip":
            return q.strip().replace(" ", "") not in ("q=0", "q=0.0")
    return False


@dataclass
class _Entry:
    response: Response
    gzipped: bytes | None = None  # made on first demand, once per entry


class Cache:
    """At most `size` answers and `max_bytes` of bodies, least recently used first out
    (a status page is about 650 kB: a crawler walking every `as_of` stays bounded)."""

    def __init__(
        self, db: Database, size: int = 256, ttl: float = 0.0, max_bytes: int = 64 << 20
    ) -> None:
        self.freshness = Freshness(db, ttl)
        self.size = size
        self.max_bytes = max_bytes
        self._bytes = 0
        self._entries: OrderedDict[str, _Entry] = OrderedDict()
        self._lock = threading.Lock()

    def answer(self, request: Request, build: Callable[[], Response]) -> Response:
        stamp = self.freshness.stamp()
        etag = _etag(stamp, request)
        gzip_ok = _accepts_gzip(request)
        # Each encoding is a representation of its own, with its own ETag.
        sent_etag = etag[:-1] + '-gz"' if gzip_ok else etag
        validators = {
            "ETag": sent_etag,
            "Last-Modified": format_datetime(stamp.modified, usegmt=True),
            "Cache-Control": "no-cache",
            "Vary": "Accept-Encoding",
        }
        if _not_modified(request, sent_etag, stamp.modified):
            return Response(304, b"", headers=validators)
        with self._lock:
            entry = self._entries.get(etag)
            if entry is not None:
                self._entries.move_to_end(etag)
        if entry is None:
            built = build()
            if built.status != 200:
                return built
            entry = _Entry(built)
            with self._lock:
                if etag not in self._entries:
                    self._entries[etag] = entry
                    self._bytes += len(built.body)
                while len(self._entries) > self.size or self._bytes > self.max_bytes:
                    _, old = self._entries.popitem(last=False)
                    self._bytes -= len(old.response.body)
        cached = entry.response
        body, headers = cached.body, {**cached.headers, **validators}
        if gzip_ok and len(body) >= GZIP_MIN:
            if entry.gzipped is None:
                entry.gzipped = gzip.compress(body, compresslevel=6, mtime=0)
            body = entry.gzipped
            headers["Content-Encoding"] = "gzip"
        # A new response: the app adds headers and cookies to what it sends.
        return Response(cached.status, body, cached.content_type, headers, [])
