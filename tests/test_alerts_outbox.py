"""The outbox on both backends: rows written in the event's transaction, idempotent keys,
several dispatchers at once, dead-lettering with an operator notice, `tracker outbox`,
a dispatcher killed with SIGKILL mid-batch, and calendar events emitted once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.alerting import (
    Clock,
    dispatcher,
    make_settings,
    record,
    sqlite_copy,
    subscribe,
)
from tests.support.mail import MailServer
from tracker.alerts import events, outbox, subscriptions
from tracker.alerts.outbox import Backoff
from tracker.law import reminders
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import DIGEST_ITEM, OUTBOX
from tracker.storage.tables_core import EVENT

ROOT = Path(__file__).resolve().parent.parent


def _rows(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id)))


def test_rows_commit_and_roll_back_with_their_event(empty_db: Database) -> None:
    subscribe(empty_db, "now@example.org")
    subscribe(empty_db, "daily@example.org", cadence="daily")
    with pytest.raises(RuntimeError), empty_db.write() as conn:
        events.emit(conn, "pending_measure", importance="relevant", title="t", place_code="TH")
        raise RuntimeError("the cause failed")
    assert _rows(empty_db) == []
    with empty_db.write() as conn:
        first = events.emit(conn, "source_failing", importance="minor", title="x", dedupe_key="k1")
        assert first is not None
        event_id = events.emit(
            conn, "pending_measure", importance="relevant", title="t", place_code="TH"
        )
        again = events.emit(conn, "source_failing", importance="minor", title="x", dedupe_key="k1")
    assert again is None  # deduplicated; source_failing reaches only explicit subscribers
    assert [r.key for r in _rows(empty_db)] == [f"event:{event_id}:email:1"]
    with empty_db.read() as conn:
        items = conn.execute(sa.select(DIGEST_ITEM.c.event_id)).scalars().all()
    assert items == [event_id]
    with empty_db.write() as conn:  # enqueueing an existing key changes nothing
        assert (
            outbox.enqueue(
                conn,
                f"event:{event_id}:email:1",
                channel="email",
                purpose="alert",
                recipient="x@y.z",
            )
            is None
        )
    assert [r.recipient for r in _rows(empty_db)] == ["now@example.org"]


def test_several_dispatchers_deliver_each_row_once(empty_db: Database, tmp_path: Path) -> None:
    for n in range(40):
        subscribe(empty_db, f"u{n}@example.org", places=["US-AL"])
    record(empty_db, "US-AL", "banned")
    record(empty_db, "US-AL", "restricted", start="2026-06-01")
    clock = Clock()
    with MailServer(tmp_path, tls="none") as server:
        settings = make_settings(**server.settings())
        workers = [dispatcher(empty_db, settings, clock, batch=7) for _ in range(4)]
        threads = [threading.Thread(target=w.run) for w in workers]
        for t in threads:
            t.start()
        for t in threads:
            t.join(120)
    ids = Counter(m["Message-ID"] for m in server.messages)
    assert len(ids) == 80 and set(ids.values()) == {1}
    assert {r.status for r in _rows(empty_db)} == {"sent"}


def test_dead_after_the_last_attempt_then_retried(
    cli: Any, tmp_path: Path, templates: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    for db in sqlite_copy(tmp_path, templates.sqlite_loaded):
        monkeypatch.setenv("TRACKER_DATABASE_URL", str(db.engine.url))
        subscribe(db, "zoe@example.org", places=["US-AL"])
        record(db, "US-AL", "restricted", start="2027-01-01")
        clock = Clock()
        down = make_settings(smtp_host="127.0.0.1", smtp_port=9, smtp_tls="starttls")
        two = Backoff(delays=(1,), jitter=0)  # two attempts in all
        assert dispatcher(db, down, clock, backoff=two).run().retry == 1
        clock.advance(seconds=2)
        assert dispatcher(db, down, clock, backoff=two).run().dead == 1
        (row,) = [r for r in _rows(db) if r.purpose == "alert"]
        assert (row.status, row.attempts) == ("dead", 2)
        listed = cli("outbox", "--dead")
        assert listed.code == 0 and f"#{row.id}" in listed.out and "1 dead" in listed.out
        bad = cli("outbox", "retry", "999")
        assert bad.code == 2 and "no outbox row #999" in bad.err
        assert cli("outbox", "retry", str(row.id)).code == 0
        assert cli("outbox", "retry", str(row.id)).code == 2  # pending now, not dead
        monkeypatch.setenv("TRACKER_SMTP_HOST", "")
        sent = cli("outbox", "send")
        assert sent.code == 0 and "sent 1" in sent.out
        assert [r.status for r in _rows(db)] == ["sent"]


_KILLABLE = """
import sys
from tracker.storage.engine import Database, make_engine
from tracker.alerts.dispatch import Dispatcher
from tracker.settings import load_settings
db = Database(make_engine(sys.argv[1]))
Dispatcher(db, load_settings(), batch=10).run()
"""


def test_dispatcher_killed_mid_batch_loses_nothing(empty_db: Database, tmp_path: Path) -> None:
    for n in range(60):
        subscribe(empty_db, f"k{n}@example.org", places=["TH"])
    record(empty_db, "TH", "legal", start="2021-08-24")
    with MailServer(tmp_path, tls="none") as server:
        server.sink.delay = 0.02
        env = {
            **os.environ,
            "TRACKER_SMTP_HOST": "127.0.0.1",
            "TRACKER_SMTP_PORT": str(server.port),
            "TRACKER_SMTP_TLS": "none",
            "TRACKER_MAIL_FROM": "alerts@tracker.test",
            "PYTHONPATH": str(ROOT),
        }
        url = empty_db.engine.url.render_as_string(hide_password=False)
        proc = subprocess.Popen([sys.executable, "-c", _KILLABLE, url], env=env, cwd=tmp_path)
        deadline = time.monotonic() + 60
        while len(server.messages) < 25 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.01)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
        before = len(server.messages)
        assert 25 <= before < 60, "the dispatcher was not killed mid-run"
        rows = _rows(empty_db)
        held = [r for r in rows if r.status == "pending" and r.lease_owner]
        assert held, "rows of the killed dispatcher's batch stay leased"
        # Another dispatcher takes them over once the lease has run out.
        clock = Clock()
        clock.advance(minutes=11)
        stats = dispatcher(empty_db, make_settings(**server.settings()), clock).run()
    assert {r.status for r in _rows(empty_db)} == {"sent"}
    ids = Counter(m["Message-ID"] for m in server.messages)
    assert len(ids) == 60  # nothing lost
    repeated = [k for k, n in ids.items() if n > 1]
    assert len(repeated) <= 10 and all(n == 2 for n in ids.values() if n > 1)  # one batch
    assert stats.sent == 60 - (before - len(repeated))


def test_unsubscribed_after_enqueue_is_skipped_not_sent(sqlite_db: Database) -> None:
    subscribe(sqlite_db, "late@example.org", places=["US-AL"])
    record(sqlite_db, "US-AL", "banned")
    with sqlite_db.write() as conn:
        subscriptions.unsubscribe(conn, "late@example.org")
    stats = dispatcher(sqlite_db, make_settings(smtp_host=""), Clock()).run()
    assert (stats.sent, stats.skipped) == (0, 1)
    (row,) = _rows(sqlite_db)
    assert row.status == "skipped" and "suppressed" in row.last_error


@pytest.fixture
def sqlite_db(tmp_path: Path, templates: Any) -> Iterator[Database]:
    yield from sqlite_copy(tmp_path, templates.sqlite_empty)


def test_effective_and_expiring_events_are_emitted_once(empty_db: Database) -> None:
    today = date(2026, 4, 1)
    subscribe(empty_db, "cal@example.org", kinds=["effective", "expiring"])
    record(empty_db, "US-RI", "regulated", start="2026-04-01", min_age=21)
    record(
        empty_db, "US-FL", "restricted", start="2025-08-01", expires="2026-04-20", substance="7-OH"
    )
    record(empty_db, "US-AL", "banned", start="2026-05")  # month only: no "today"
    first = reminders.emit_due(empty_db, today, expiring_days=30)
    again = reminders.emit_due(empty_db, today, expiring_days=30)
    later = reminders.emit_due(empty_db, today + timedelta(days=3), expiring_days=30)
    assert (first.effective, first.expiring) == (1, 1)
    assert (again.effective, again.expiring, later.effective, later.expiring) == (0, 0, 0, 0)
    with empty_db.read() as conn:
        found = conn.execute(
            sa.select(EVENT.c.kind, EVENT.c.title, EVENT.c.payload)
            .where(EVENT.c.kind.in_(["effective", "expiring"]))
            .order_by(EVENT.c.id)
        ).all()
    assert [(k, t) for k, t, _ in found] == [
        ("effective", "Rhode Island: kratom regulated (21+) takes effect today"),
        ("expiring", "Florida: 7-OH restricted rule expires 2026-04-20 (19 days)"),
    ]
    assert found[1][2]["days_left"] == 19 and found[0][2]["citation"] == "Test Act US-RI §1"
    alerts = [r.key for r in _rows(empty_db)]
    assert len(alerts) == 2  # the subscriber asked for exactly these kinds


def test_a_slow_batch_keeps_the_lease_of_the_rows_it_has_still_to_send(
    empty_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each send here takes most of a lease. The batch renews the lease of the rows it
    has still to send whenever it records outcomes, so another replica claiming meanwhile
    gets none of them (it would have sent them a second time)."""
    from tracker.alerts import dispatch
    from tracker.storage import lease

    clock = Clock()
    with empty_db.write() as conn:
        for n in range(3):
            outbox.enqueue(
                conn,
                f"notice:test:{n}",
                channel="email",
                purpose="notice",
                recipient="ops@tracker.test",
                payload={"subject": f"notice {n}", "lines": ["a line"]},
                now=clock(),
            )
    run = dispatcher(empty_db, make_settings(), clock)
    monkeypatch.setattr(dispatch, "FLUSH_EVERY", 0.0)  # record after every send
    plain = dispatch.Dispatcher._send
    stolen: list[int] = []

    def slow(self: dispatch.Dispatcher, *args: Any) -> Any:
        outcome = plain(self, *args)
        clock.advance(seconds=self.lease_for.total_seconds() * 0.8)
        other = lease.claim(
            empty_db,
            OUTBOX,
            "another-replica",
            lease_for=self.lease_for,
            limit=10,
            now=clock(),
            where=[OUTBOX.c.status == "pending"],  # as a dispatcher claims
        )
        stolen.extend(r.id for r in other)
        return outcome

    monkeypatch.setattr(dispatch.Dispatcher, "_send", slow)
    stats = run.run()
    assert stats.sent == 3
    assert stolen == []
