"""Deliveries are isolated (issue 14, item 5) and headers folded (item 11), against a real
SMTP server (aiosmtpd), a real webhook receiver and a real slow-drip receiver."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.alerting import Clock, dispatcher, make_settings, record, sqlite_copy, subscribe
from tests.support.drip import DripServer, header_drip
from tests.support.hostile import no_hang
from tests.support.mail import MailServer
from tests.support.receivers import WebhookReceiver
from tracker.alerts import outbox, webhooks
from tracker.alerts.dispatch import Stats
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import OUTBOX


@pytest.fixture
def sqlite_db(tmp_path: Path, templates: Any) -> Iterator[Database]:
    yield from sqlite_copy(tmp_path, templates.sqlite_empty)


def _rows(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id)))


def test_a_slow_receiver_holds_back_neither_mail_nor_the_other_endpoint(
    sqlite_db: Database, tmp_path: Path
) -> None:
    """A receiver that sends its headers one byte at a time: its first delivery is cut
    at webhook_timeout and its other rows wait; meanwhile the mail and the second
    endpoint are delivered and marked sent; nothing is sent twice."""
    with (
        DripServer(*header_drip(), every=0.5, step=1) as slow,
        WebhookReceiver() as fast,
        MailServer(tmp_path) as mail,
    ):
        with sqlite_db.write() as conn:
            webhooks.add(conn, slow.url("/hook"), allow_loopback=True)  # first: sent first
            fast.secrets = [webhooks.add(conn, fast.url, allow_loopback=True).secret]
        subscribe(sqlite_db, "ana@example.org", places=["US"], cadence="immediate")
        for place in ("US-AL", "US-RI", "US-TX"):
            record(sqlite_db, place, "banned")
        settings = make_settings(**mail.settings(), webhook_timeout=10.0)
        stats: list[Stats] = []
        worker = threading.Thread(
            target=lambda: stats.append(dispatcher(sqlite_db, settings, Clock()).run())
        )
        worker.start()
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            others = [r for r in _rows(sqlite_db) if r.recipient != slow.url("/hook")]
            if others and all(r.status == "sent" for r in others):
                break
            time.sleep(0.05)
        # Everything but the slow endpoint is delivered and marked sent while the slow
        # endpoint's first delivery is still being dripped to.
        assert all(r.status == "sent" for r in others), [(r.recipient, r.status) for r in others]
        assert worker.is_alive() and slow.cut == 0 and len(slow.requests) == 1
        with no_hang(60):
            worker.join()
    (run,) = stats
    rows = _rows(sqlite_db)
    held = [r for r in rows if r.recipient == slow.url("/hook")]
    assert len(held) == 3 and all(r.status == "pending" for r in held)
    assert "no answer from" in (held[0].last_error or "") and "within 10 s" in held[0].last_error
    assert len(slow.requests) == 1  # the other two were not tried in this run
    assert len(mail.messages) == 3 and len(fast.delivered()) == len(set(fast.delivered())) == 3
    assert run.sent == 6 + sum(1 for r in rows if r.purpose == "confirm")


def test_long_display_names_and_subjects_are_folded(sqlite_db: Database, tmp_path: Path) -> None:
    name = "Ana " + "Beatriz " * 30 + "Ōkubo"
    subject = "Delivery failed: " + "a very long notice subject, " * 12 + "ñ"
    subscribe(sqlite_db, "ana@example.org", places=["US"], cadence="immediate", name=name)
    with sqlite_db.write() as conn:
        conn.execute(sa.update(OUTBOX).values(status="sent"))  # the confirmation: not this test
        outbox.enqueue(
            conn,
            "notice:long",
            channel="email",
            purpose="notice",
            recipient="operator@example.org",
            payload={"subject": subject, "lines": ["a line"]},
        )
    record(sqlite_db, "US-RI", "regulated", min_age=21)
    settings = make_settings()  # no smtp_host: each message is written as an .eml file
    assert dispatcher(sqlite_db, settings, Clock()).run().sent == 2
    files = sorted((settings.data_path / "mail").glob("*.eml"))
    assert len(files) == 2
    for path in files:
        raw = path.read_bytes()
        fields: list[list[bytes]] = []  # each header: its first line and continuations
        for line in raw.split(b"\n\n", 1)[0].splitlines():
            if line[:1] in (b" ", b"\t"):
                fields[-1].append(line)
            else:
                fields.append([line])
        people = [f for f in fields if f[0].split(b":")[0] in (b"From", b"To", b"Subject")]
        assert len(people) == 3
        assert all(len(line) <= 78 for field in people for line in field), people
        parsed = message_from_bytes(raw, policy=default)
        if parsed["To"].addresses[0].username == "ana":
            assert parsed["To"].addresses[0].display_name == name
            assert parsed["List-Unsubscribe"].startswith("<http")
        else:
            # The same words; the email package's folder may double the space before an
            # encoded word when it breaks the line there.
            assert parsed["Subject"].split() == subject.split()
