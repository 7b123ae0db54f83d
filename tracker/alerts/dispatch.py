"""The outbox dispatcher: claim due rows with a lease, send outside any transaction, and
record each outcome with a fenced update.

One batch: `lease.claim` takes up to `batch` pending rows that are due (several
dispatchers, threads or replicas on PostgreSQL, never get the same row); the messages
are built in one read transaction (suppressions checked there); each is sent through its
notifier (one SMTP connection, one HTTP session for the whole run); then, in one write
transaction, every row is completed with `lease.complete` (fenced on `lease_owner`):
`sent`, `skipped`, back to `pending` with a backoff delay, or `dead` after the last
attempt (and the operator is told). A hard bounce suppresses the address; a 410
disables the webhook endpoint. A message that cannot be built is dead at once (its row
says why) and one whose notifier fails unexpectedly is retried: neither holds up the
others.

Lanes: mail is sent in the calling thread (one SMTP connection per run), and each
webhook endpoint in a lane of its own (`Lanes`: a thread per busy endpoint, at most
`MAX_LANES`), which the batch does not wait for: one slow receiver cannot hold back
mail or the other endpoints, in this batch or the next ones. While an endpoint's lane
is busy its other rows are not claimed. Each delivery has a total deadline
(`webhook_timeout`, the notifier's), and after one that timed out or could not connect,
the lane gives its remaining rows back for a later attempt. Outcomes are recorded as
they come (each webhook at once, mail at least every `FLUSH_EVERY` seconds), so what
was delivered is marked before anything slow comes next, and a crash repeats as little
as possible. A `Dispatcher` without `lanes` has its own and waits for them at the end of
`run`; the daemon shares one `Lanes` between its runs and drains it when it stops.

Crash window (at-least-once): a dispatcher that dies after a receiver accepted a
message but before the batch's completion committed leaves the row `pending` under its
lease; when the lease expires (`lease_for`, 10 minutes) another dispatcher sends it
again. At most one batch per dispatcher can be repeated that way, and only after a
crash or a lease that ran out; the copy carries the same Message-ID or webhook-id, so
receivers can drop it. Nothing committed is ever lost: a row leaves `pending` only in
the same transaction that records its outcome.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_futures
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from tracker.alerts import messages, outbox, subscriptions, tokens, webhooks
from tracker.alerts.notifiers import Notifier, Outcome, kind_for, load
from tracker.settings import Settings
from tracker.storage import lease
from tracker.storage.engine import Database
from tracker.storage.health import is_db_error
from tracker.storage.tables_alerts import OUTBOX
from tracker.timeutil import utcnow

logger = logging.getLogger(__name__)
FLUSH_EVERY = 1.0  # seconds between two recordings of the mail lane's outcomes
MAX_LANES = 8  # webhook endpoints sent to at the same time


@dataclass
class Stats:
    sent: int = 0
    retry: int = 0
    dead: int = 0
    skipped: int = 0
    lost_lease: int = 0
    batches: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    @property
    def handled(self) -> int:
        return self.sent + self.retry + self.dead + self.skipped

    def add(self, result: str, n: int = 1) -> None:
        with self._lock:
            setattr(self, result, getattr(self, result) + n)

    def take(self) -> Stats:
        """The counts so far, reset to zero (a lane's results, collected by the caller)."""
        with self._lock:
            out = Stats(self.sent, self.retry, self.dead, self.skipped, self.lost_lease)
            self.sent = self.retry = self.dead = self.skipped = self.lost_lease = 0
        return out


class Lanes:
    """Webhook endpoints being delivered to, one thread each; their outcomes add up in
    `stats` (collect them with `stats.take()`)."""

    def __init__(self, size: int = MAX_LANES) -> None:
        self.pool = ThreadPoolExecutor(size, thread_name_prefix="webhook")
        self.busy: dict[Any, Future[None]] = {}
        self.stats = Stats()
        self.lock = threading.Lock()

    def endpoints(self) -> list[int]:
        """Endpoints whose lane is still sending."""
        with self.lock:
            return [e for e, f in self.busy.items() if not f.done() and e is not None]

    def start(self, endpoint: Any, fn: Callable[..., None], *args: Any) -> None:
        with self.lock:
            self.busy = {e: f for e, f in self.busy.items() if not f.done()}
            self.busy[endpoint] = self.pool.submit(fn, *args)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait for every lane to end; False if some were still sending after `timeout`."""
        with self.lock:
            futures = list(self.busy.values())
        _, pending = wait_futures(futures, timeout)
        for future in futures:
            if future.done() and future.exception() is not None:
                logger.error("a webhook lane failed", exc_info=future.exception())
        return not pending

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


@dataclass
class Dispatcher:
    """Delivers due outbox rows. `clock` and `backoff` are injectable (tests)."""

    db: Database
    settings: Settings
    owner: str = field(
        default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    )
    backoff: outbox.Backoff = field(default_factory=outbox.Backoff)
    clock: Callable[[], datetime] = utcnow
    lease_for: timedelta = timedelta(minutes=10)
    batch: int = 20
    # Only these outbox keys (None: every due row); `tracker digest send` delivers one.
    keys: tuple[str, ...] | None = None
    lanes: Lanes | None = None  # shared lanes (the daemon); None: own ones, waited for
    _key: bytes | None = None
    _events: dict[int, Any] = field(default_factory=dict)  # events never change: cache them
    _views: dict[int, Any] = field(default_factory=dict)  # and their rendered blocks

    def run(self, *, max_batches: int | None = None) -> Stats:
        """Deliver every row due when the run starts (rows retried during the run wait
        for their next due time). Returns what happened."""
        stats = Stats()
        started = self.clock()
        own = self.lanes is None
        lanes = self.lanes or Lanes()
        with ExitStack() as stack:
            open_notifiers: dict[str, Notifier] = {}
            try:
                while max_batches is None or stats.batches < max_batches:
                    # Asked before the batch's query: a lane that ends between that
                    # query and a later look would have recorded (a notice, say) what
                    # the query could not see yet.
                    sending = own and lanes.endpoints()
                    if self._batch(stack, open_notifiers, started, stats, lanes):
                        continue
                    if not sending:
                        break  # no lane was sending: the query saw every row due
                    lanes.drain()  # what the lanes record may be due now (a notice)
                if own:
                    lanes.drain()
            except BaseException:
                if own:
                    lanes.close()
                lease.release(self.db, OUTBOX, self.owner)  # hand back what we hold
                raise
        if own:
            lanes.close()
            done = lanes.stats.take()
            for name in ("sent", "retry", "dead", "skipped", "lost_lease"):
                stats.add(name, getattr(done, name))
        return stats

    def _batch(
        self,
        stack: ExitStack,
        open_notifiers: dict[str, Notifier],
        started: datetime,
        stats: Stats,
        lanes: Lanes,
    ) -> bool:
        now = self.clock()
        where = [OUTBOX.c.status == "pending", OUTBOX.c.due_at <= started]
        if self.keys is not None:
            where.append(OUTBOX.c.key.in_(self.keys))
        busy = lanes.endpoints()
        if busy:  # rows of an endpoint whose lane is still sending wait for it
            where.append(sa.or_(OUTBOX.c.endpoint_id.is_(None), OUTBOX.c.endpoint_id.not_in(busy)))
        rows = lease.claim(
            self.db,
            OUTBOX,
            self.owner,
            lease_for=self.lease_for,
            limit=self.batch,
            now=now,
            where=where,
        )
        if not rows:
            return False
        stats.batches += 1
        if self._key is None:
            self._key = tokens.signing_key(self.db, self.settings.signing_key)
        ctx = messages.Context(
            self.settings.mail_from,
            self.settings.public_url,
            self._key,
            now,
            events=self._events,
            views=self._views,
        )
        built: dict[int, Any] = {}
        with self.db.read() as conn:
            ctx.preload(conn, rows)
            for r in rows:
                try:
                    built[r.id] = messages.build(conn, r, ctx)
                except messages.HeaderInjection as exc:
                    built[r.id] = Outcome("dead", str(exc))
                except Exception as exc:
                    if is_db_error(exc):
                        raise
                    # One message that cannot be built (bad data, a bug) must not hold
                    # up the batch, nor every later batch that would claim it first.
                    logger.exception("outbox #%s: cannot build the message", r.id)
                    built[r.id] = Outcome("dead", f"cannot build the message: {exc!r}"[:500])
        outcomes: dict[int, Outcome] = {}
        hooks: dict[int, list[Row[Any]]] = {}  # endpoint id -> its webhook rows
        mail: list[Row[Any]] = []
        for r in rows:
            item = built[r.id]
            if isinstance(item, Outcome):
                outcomes[r.id] = built.pop(r.id)
            elif isinstance(item, messages.Skip):
                outcomes[r.id] = Outcome("skipped", built.pop(r.id).reason)
            elif r.channel == "webhook":
                hooks.setdefault(r.endpoint_id, []).append(r)
            else:
                mail.append(r)
        self._record([r for r in rows if r.id in outcomes], outcomes, stats)
        for endpoint, hook_rows in hooks.items():
            items = {r.id: built.pop(r.id) for r in hook_rows}
            lanes.start(endpoint, self._hook_lane, hook_rows, items, lanes.stats)
        self._mail_lane(stack, open_notifiers, mail, built, stats)
        return True

    def _send(self, notifier: Notifier, r: Row[Any], item: Any, kind: str) -> Outcome:
        try:
            return notifier.send(item)
        except Exception as exc:  # notifiers report failures as outcomes; this is a bug
            logger.exception("outbox #%s: the %s notifier failed", r.id, kind)
            return Outcome("retry", f"internal error while sending: {exc!r}"[:500])

    def _mail_lane(
        self,
        stack: ExitStack,
        open_notifiers: dict[str, Notifier],
        rows: list[Row[Any]],
        built: dict[int, Any],
        stats: Stats,
    ) -> None:
        """Send the mail rows in order on the run's mail notifier, recording the outcomes
        at least every FLUSH_EVERY seconds and at the end."""
        done: dict[int, Outcome] = {}
        pending: list[Row[Any]] = []
        flushed = time.monotonic()
        for i, r in enumerate(rows):
            kind = kind_for(r.channel, self.settings)
            if kind not in open_notifiers:
                open_notifiers[kind] = stack.enter_context(load(kind)(self.settings))
            done[r.id] = self._send(open_notifiers[kind], r, built.pop(r.id), kind)
            pending.append(r)
            if time.monotonic() - flushed >= FLUSH_EVERY:
                # The rows still to send keep their lease: a slow batch is not claimed
                # (and sent again) by another replica meanwhile.
                self._record(pending, done, stats, keep=[x.id for x in rows[i + 1 :]])
                pending, flushed = [], time.monotonic()
        self._record(pending, done, stats)

    def _hook_lane(self, rows: list[Row[Any]], built: dict[int, Any], stats: Stats) -> None:
        """Send one endpoint's rows in order (its own thread and session), recording each
        outcome at once; after a delivery that timed out or could not connect, the rest
        wait for their next attempt."""
        down: str | None = None
        with load("webhook")(self.settings) as notifier:
            for i, r in enumerate(rows):
                item = built.pop(r.id)
                if down is not None:
                    outcome = Outcome("retry", f"not tried: {down}")
                else:
                    outcome = self._send(notifier, r, item, "webhook")
                    if outcome.unreachable:
                        down = outcome.error or "no answer"
                self._record([r], {r.id: outcome}, stats, keep=[x.id for x in rows[i + 1 :]])

    def _record(
        self,
        rows: list[Row[Any]],
        outcomes: dict[int, Outcome],
        stats: Stats,
        keep: Sequence[int] = (),
    ) -> None:
        """Complete `rows` with their outcomes and, in the same write, renew the lease of
        the rows `keep` (those of the batch still to send)."""
        if not rows:
            return
        now = self.clock()
        with self.db.write() as conn:
            lease.extend(conn, OUTBOX, keep, self.owner, now + self.lease_for)
            for r in rows:
                o = outcomes[r.id]
                attempts = r.attempts + (0 if o.result == "skipped" else 1)
                values: dict[str, Any] = {"attempts": attempts, "last_error": o.error}
                status = o.result
                if status == "retry":
                    wait = self.backoff.delay(attempts, o.retry_after)
                    if wait is None:
                        status = "dead"
                    else:
                        values["due_at"] = now + timedelta(seconds=wait)
                values["status"] = {"retry": "pending"}.get(status, status)
                if status == "sent":
                    values["sent_at"] = now
                if not lease.complete(conn, OUTBOX, r.id, self.owner, **values):
                    logger.warning("outbox #%s: lease lost before completion; result dropped", r.id)
                    stats.add("lost_lease")
                    continue
                stats.add(status)
                if o.suppress:
                    subscriptions.unsubscribe(
                        conn, o.suppress, reason="bounced", detail=o.error, now=now
                    )
                if o.disable_endpoint and r.endpoint_id is not None:
                    webhooks.disable(conn, r.endpoint_id, o.error or "disabled")
                if status == "dead":
                    self._notice(conn, r, attempts, o.error, now)

    def _notice(
        self, conn: Connection, r: Row[Any], attempts: int, error: str | None, now: datetime
    ) -> None:
        logger.warning(
            "outbox #%s (%s to %s) is dead after %d attempt(s): %s",
            r.id,
            r.purpose,
            r.recipient,
            attempts,
            error,
        )
        operator = self.settings.operator_email
        if not operator or r.purpose == "notice":
            return  # a notice about a notice would loop
        lines = [
            f"Outbox row #{r.id} ({r.channel} {r.purpose} to {r.recipient}) could not be "
            f"delivered after {attempts} attempt(s).",
            f"Last error: {error}",
            f"Retry it with: tracker outbox retry {r.id}",
        ]
        if error and error.startswith("410"):
            lines.append(f"Webhook endpoint #{r.endpoint_id} answered 410 Gone and was disabled.")
        outbox.enqueue(
            conn,
            f"notice:dead:{r.id}:{now:%Y%m%dT%H%M%S%f}",
            channel="email",
            purpose="notice",
            recipient=operator,
            payload={"subject": f"Delivery failed: outbox #{r.id}", "lines": lines},
            now=now,
        )
