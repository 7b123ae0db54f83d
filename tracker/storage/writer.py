"""Group commit: the write transactions of many worker threads, batched.

`GroupWriter(db).run(fn, rows)` runs `fn(conn)` inside a write transaction, then inserts
`rows` in the same transaction, and returns `fn`'s value once that transaction is
committed, exactly as `with db.write() as conn: fn(conn); insert rows` would, but
concurrent callers share one transaction: the first caller becomes the leader and
commits everything queued meanwhile (up to `max_batch` at a time), the others wait.

`rows` are `(statement, parameters)` pairs for writes nothing else in the batch reads
and whose result the caller does not need (a `page_check` row, a snapshot, a version
row): the leader runs them after every `fn` of the batch, with one `executemany` per
statement, in the order statements first appear. Statements whose row count or
returned values matter (the fenced update that says whether a lease is still held, an
insert whose new id is needed) belong in `fn`.

Why: on SQLite, ten threads each opening `BEGIN IMMEDIATE` spend their time in SQLite's
busy handler, which sleeps 1, 2, 5, 10 ... ms between tries; a cycle of 1,000 checks ran
at a third of the fetch rate. On PostgreSQL it saves a round trip per check. An
`executemany` of the batch's rows costs a few microseconds per row against 40-60 us for
a statement executed on its own.

If one `fn` raises, the transaction is rolled back and the batch runs again without it,
so only that caller sees its exception and none of its writes (nor its `rows`) is kept;
`fn` must therefore be safe to run twice (it only writes through `conn`). If a batched
`executemany` fails, the batch runs again with each caller's rows inserted right after
its `fn`, so again only the caller whose row failed sees the error. If the commit itself
fails, every caller of that batch gets the error. Nothing is acknowledged before it is
durable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from sqlalchemy.engine import Connection
from sqlalchemy.sql.expression import Executable

from tracker.storage.engine import Database

T = TypeVar("T")
Rows = Sequence[tuple[Executable, Mapping[str, Any]]]


class _Item(Generic[T]):
    __slots__ = ("done", "error", "fn", "rows", "value")

    def __init__(self, fn: Callable[[Connection], T], rows: Rows) -> None:
        self.fn = fn
        self.rows = rows
        # Held until the leader releases it once the batch is over: a bare lock costs
        # a third of an Event (whose set() and wait() are Python code).
        self.done = threading.Lock()
        self.done.acquire()
        self.value: Any = None
        self.error: BaseException | None = None


class GroupWriter:
    def __init__(self, db: Database, max_batch: int = 64) -> None:
        self.db = db
        self.max_batch = max_batch
        self._lock = threading.Lock()
        self._pending: list[_Item[Any]] = []
        self._leading = False

    def run(self, fn: Callable[[Connection], T], rows: Rows = ()) -> T:
        """Run `fn(conn)` and insert `rows` in a shared write transaction; return `fn`'s
        value once committed."""
        item: _Item[T] = _Item(fn, rows)
        with self._lock:
            self._pending.append(item)
            lead = not self._leading
            self._leading = True
        if lead:
            self._lead()
        item.done.acquire()
        if item.error is not None:
            raise item.error
        return item.value

    def _lead(self) -> None:
        # Give the GIL away once before taking the batch: the threads that were about to
        # hand in their writes do so now and share this transaction. Without it most
        # batches held a single check (mean 1.7-2.5 in a cycle of 1,000 checks on ten
        # threads; 3.1-3.5 with it, and the cycle ran 9-15% faster). Costs nothing
        # when no other thread is runnable.
        time.sleep(0)
        while True:
            with self._lock:
                batch = self._pending[: self.max_batch]
                del self._pending[: self.max_batch]
                if not batch:
                    self._leading = False
                    return
            self._commit(batch)

    def _commit(self, batch: list[_Item[Any]]) -> None:
        pending = batch
        grouped = True  # rows of the whole batch in one executemany per statement
        try:
            while pending:
                failed: _Item[Any] | None = None
                try:
                    with self.db.write() as conn:
                        statements: dict[int, tuple[Executable, list[Mapping[str, Any]]]] = {}
                        for item in pending:
                            try:
                                item.value = item.fn(conn)
                                if not grouped:
                                    for stmt, params in item.rows:
                                        conn.execute(stmt, params)
                            except Exception as exc:
                                item.error, failed = exc, item
                                raise _Undo from None
                            if grouped:
                                for stmt, params in item.rows:
                                    statements.setdefault(id(stmt), (stmt, []))[1].append(params)
                        for stmt, many in statements.values():
                            try:
                                conn.execute(stmt, many)
                            except Exception:
                                raise _Ungroup from None
                    return
                except _Undo:
                    # One caller failed: undo the whole transaction and run the others
                    # again without it (cheaper than a SAVEPOINT around every caller).
                    pending = [item for item in pending if item is not failed]
                except _Ungroup:
                    # A batched row failed and we cannot tell whose: run the batch again
                    # with each caller's rows inserted after its own `fn`.
                    grouped = False
        except Exception as exc:
            for item in pending:
                item.error = item.error or exc
        finally:
            for item in batch:
                item.done.release()


class _Undo(Exception):
    pass


class _Ungroup(Exception):
    pass
