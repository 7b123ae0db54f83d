"""Email alerts and digests through a real aiosmtpd server (STARTTLS with a certificate
made in the test, and AUTH): immediate alerts, daily digests at the subscriber's local
hour, a server that is down then back, refusals, timeouts, header injection, .eml files.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.support.alerting import Clock, dispatcher, make_settings, record, sqlite_copy, subscribe
from tests.support.mail import MailServer, silent_port
from tracker.alerts import digest, events, messages
from tracker.alerts.notifiers.email import EmailNotifier
from tracker.errors import ConfigError
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import OUTBOX, SUBSCRIBER, SUPPRESSION

AUTH = ("alerts", "correct horse")


@pytest.fixture
def sqlite_db(tmp_path: Path, templates: Any) -> Iterator[Database]:
    yield from sqlite_copy(tmp_path, templates.sqlite_empty)


def _rows(db: Database) -> list[sa.Row[object]]:
    with db.read() as conn:
        return list(conn.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id)))


def test_immediate_alert_over_starttls_with_auth(empty_db: Database, tmp_path: Path) -> None:
    # The federal level first (before anyone subscribes): with it unknown, Rhode Island's
    # effective status would stay unknown whatever the state records.
    record(empty_db, "US", "legal", start="2020-01-01")
    with MailServer(tmp_path, tls="starttls", auth=AUTH) as server:
        settings = make_settings(**server.settings())
        alice = subscribe(empty_db, "Alice@Example.org", places=["US-RI"], name="Alice Doe")
        subscribe(empty_db, "bob@example.org", places=["US"])  # the US includes its states
        subscribe(empty_db, "carol@example.org", places=["TH"])  # elsewhere: nothing
        event_id = record(empty_db, "US-RI", "regulated", min_age=21)
        stats = dispatcher(empty_db, settings, Clock()).run()
    assert (stats.sent, stats.retry, stats.dead) == (2, 0, 0)
    by_to = {str(m["To"]): m for m in server.messages}
    assert set(by_to) == {"Alice Doe <alice@example.org>", "bob@example.org"}
    msg = by_to["Alice Doe <alice@example.org>"]
    assert msg["Message-ID"] == f"<event.{event_id}.email.{alice}@tracker.test>"
    assert msg["Subject"] == (
        "Status changed (major): Rhode Island: kratom unknown -> regulated (21+) from 2026-04-01"
    )
    assert msg["List-Unsubscribe"].startswith("<http://127.0.0.1:8750/unsubscribe?token=")
    assert msg["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert msg["List-Id"] == "Kratom tracker alerts <alerts.tracker.test>"
    assert msg["Auto-Submitted"] == "auto-generated"
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    for part in (text, html):
        assert "unknown -&gt; regulated (21+)" in part or "unknown -> regulated (21+)" in part
        assert "Test Act US-RI §1" in part and "https://legislature.example/act" in part
    assert "Unsubscribe: http://127.0.0.1:8750/unsubscribe?token=" in text
    assert all(r.status == "sent" and r.attempts == 1 for r in _rows(empty_db))


def test_daily_digest_at_the_local_hour(empty_db: Database, tmp_path: Path) -> None:
    clock = Clock()
    sid = subscribe(
        empty_db,
        "dana@example.org",
        places=["US-*", "TH"],
        cadence="daily",
        hour=8,
        tz="Europe/Paris",
        now=clock(),
    )
    record(empty_db, "US-RI", "regulated", min_age=21)
    record(empty_db, "TH", "legal", start="2021-08-24")
    record(empty_db, "MY", "banned")  # not subscribed
    with empty_db.read() as conn:
        slot = conn.execute(
            sa.select(SUBSCRIBER.c.next_digest_at).where(SUBSCRIBER.c.id == sid)
        ).scalar_one()
    local = slot.astimezone(ZoneInfo("Europe/Paris"))
    assert (local.hour, local.minute) == (8, 0) and slot > clock()

    clock.now = slot - timedelta(minutes=1)
    assert digest.enqueue_due(empty_db, now=clock()) == 0  # one minute early
    clock.now = slot
    assert digest.enqueue_due(empty_db, now=clock()) == 1
    assert digest.enqueue_due(empty_db, now=clock()) == 0  # a period is enqueued once

    with MailServer(tmp_path, tls="starttls", auth=AUTH) as server:
        stats = dispatcher(empty_db, make_settings(**server.settings()), clock).run()
    assert stats.sent == 1
    (msg,) = server.messages
    assert msg["Subject"] == "Daily kratom status digest: 2 change(s) in 2 place(s)"
    assert msg["Message-ID"] == f"<digest.{sid}.{slot:%Y%m%dT%H%MZ}@tracker.test>"
    text = msg.get_body(("plain",)).get_content()
    assert text.index("== Rhode Island (US-RI) ==") < text.index("== Thailand (TH) ==")
    assert "unknown -> legal" in text and "Malaysia" not in text
    with empty_db.read() as conn:
        nxt = conn.execute(
            sa.select(SUBSCRIBER.c.next_digest_at).where(SUBSCRIBER.c.id == sid)
        ).scalar_one()
    assert nxt.astimezone(ZoneInfo("Europe/Paris")).hour == 8
    assert (nxt - slot).total_seconds() in (23 * 3600, 24 * 3600, 25 * 3600)


def test_a_long_digest_names_every_change_and_shows_the_first_in_full(
    sqlite_db: Database,
) -> None:
    clock = Clock()
    places = ["US-AL", "US-RI"]  # two groups: the cut falls inside the second
    sid = subscribe(sqlite_db, "long@example.org", places=places, cadence="daily", now=clock())
    n = messages.DIGEST_FULL + 7
    with sqlite_db.write() as conn:
        for i in range(n):
            events.emit(
                conn,
                "page_changed",
                importance="major",
                title=f"{places[i % 2]}: page {i:03d} changed",
                place_code=places[i % 2],
                payload={"source_url": f"https://x.example/{i}", "diff_excerpt": f"+ line {i}"},
            )
    with sqlite_db.read() as conn:
        clock.now = conn.execute(
            sa.select(SUBSCRIBER.c.next_digest_at).where(SUBSCRIBER.c.id == sid)
        ).scalar_one()
    assert digest.enqueue_due(sqlite_db, now=clock()) == 1
    settings = make_settings(smtp_host="")  # .eml files
    assert dispatcher(sqlite_db, settings, clock).run().sent == 1
    (eml,) = (Path(settings.data_path) / "mail").glob("*.eml")
    msg = message_from_bytes(eml.read_bytes(), policy=default)
    text = msg.get_body(("plain",)).get_content()
    html = msg.get_body(("html",)).get_content()
    assert f"the other {n - messages.DIGEST_FULL}, one line each" in text
    for i in range(n):  # every change is named, in both parts
        assert f"page {i:03d} changed" in text and f"page {i:03d} changed" in html
    # In full (with their diff) only the first DIGEST_FULL; the rest are one line each.
    assert text.count("+ line ") == messages.DIGEST_FULL
    assert html.count("<pre") == messages.DIGEST_FULL
    brief = "\n- Official page changed (major; no kratom terms): "
    assert text.count(brief) == n - messages.DIGEST_FULL
    # US-AL (54 changes) comes first and is whole; the last 7 of US-RI are brief.
    assert text.index("== US-RI") < text.index(brief)
    assert text.index("page 092 changed") < text.index("== US-RI")  # US-AL, in full
    assert "<https://x.example/105>" in text and 'href="https://x.example/105"' in html
    assert f"{brief}US-RI: page 093 changed" in text
    assert f"{brief}US-RI: page 091 changed" not in text


def test_mail_server_down_then_back_delivers_each_message_once(
    empty_db: Database, tmp_path: Path
) -> None:
    server = MailServer(tmp_path, tls="starttls", auth=AUTH)  # not started yet: down
    settings = make_settings(**server.settings())
    clock = Clock()
    for n in range(5):
        subscribe(empty_db, f"user{n}@example.org", places=["US-AL"])
    record(empty_db, "US-AL", "banned")
    down = dispatcher(empty_db, settings, clock).run()
    assert (down.sent, down.retry) == (0, 5)
    assert all("unavailable" in (r.last_error or "") for r in _rows(empty_db))
    clock.advance(seconds=5)
    down = dispatcher(empty_db, settings, clock).run()  # still down: second attempt
    assert down.retry == 5 and {r.attempts for r in _rows(empty_db)} == {2}
    with server:
        clock.advance(seconds=5)
        back = dispatcher(empty_db, settings, clock).run()
        clock.advance(minutes=30)
        again = dispatcher(empty_db, settings, clock).run()
    assert (back.sent, again.handled) == (5, 0)
    ids = [m["Message-ID"] for m in server.messages]
    assert len(ids) == len(set(ids)) == 5
    assert {r.status for r in _rows(empty_db)} == {"sent"}


def test_refusals_4xx_retry_5xx_dead_letter_and_suppress(
    empty_db: Database, tmp_path: Path
) -> None:
    clock = Clock()
    for who in ("ok", "later", "gone"):
        subscribe(empty_db, f"{who}@example.org", places=["US-AL"])
    record(empty_db, "US-AL", "banned")
    with MailServer(tmp_path, tls="starttls", auth=AUTH) as server:
        server.sink.refuse["later@example.org"] = "450 4.2.1 mailbox busy"
        server.sink.refuse["gone@example.org"] = "550 5.1.1 no such user"
        settings = make_settings(**server.settings(), operator_email="ops@tracker.test")
        first = dispatcher(empty_db, settings, clock).run()
        # sent: ok@ and, in the same run, the operator's notice about gone@
        assert (first.sent, first.retry, first.dead) == (2, 1, 1)
        rows = {r.recipient: r for r in _rows(empty_db)}
        assert rows["later@example.org"].status == "pending"
        assert "450" in rows["later@example.org"].last_error
        assert rows["gone@example.org"].status == "dead"
        assert "550" in rows["gone@example.org"].last_error
        del server.sink.refuse["later@example.org"]
        clock.advance(seconds=5)
        second = dispatcher(empty_db, settings, clock).run()
    assert second.sent == 1  # the 4xx, retried
    to = sorted(str(m["To"]) for m in server.messages)
    assert to == ["later@example.org", "ok@example.org", "ops@tracker.test"]
    notice = next(m for m in server.messages if m["To"] == "ops@tracker.test")
    assert "gone@example.org" in notice.get_body(("plain",)).get_content()
    with empty_db.read() as conn:
        assert (
            conn.execute(
                sa.select(SUPPRESSION.c.reason).where(SUPPRESSION.c.email == "gone@example.org")
            ).scalar()
            == "bounced"
        )
        status = conn.execute(
            sa.select(SUBSCRIBER.c.status).where(SUBSCRIBER.c.email == "gone@example.org")
        ).scalar()
    assert status == "suppressed"
    record(empty_db, "US-AL", "restricted")  # a later event skips the suppressed address
    with empty_db.read() as conn:
        later = (
            conn.execute(
                sa.select(OUTBOX.c.recipient).where(OUTBOX.c.purpose == "alert", OUTBOX.c.id > 4)
            )
            .scalars()
            .all()
        )
    assert "gone@example.org" not in later


def test_wrong_password_is_retried_not_lost(sqlite_db: Database, tmp_path: Path) -> None:
    subscribe(sqlite_db, "erin@example.org", places=["US-AL"])
    record(sqlite_db, "US-AL", "banned")
    with MailServer(tmp_path, tls="starttls", auth=AUTH) as server:
        settings = make_settings(**server.settings(password="wrong"))
        stats = dispatcher(sqlite_db, settings, Clock()).run()
    assert (stats.sent, stats.retry) == (0, 1) and server.messages == []
    (row,) = _rows(sqlite_db)
    assert row.status == "pending" and "SMTP login refused: 535" in row.last_error


def test_hanging_server_times_out_and_retries(sqlite_db: Database) -> None:
    subscribe(sqlite_db, "finn@example.org", places=["US-AL"])
    record(sqlite_db, "US-AL", "banned")
    with silent_port() as port:
        settings = make_settings(
            smtp_host="127.0.0.1", smtp_port=port, smtp_tls="starttls", smtp_timeout=0.5
        )
        stats = dispatcher(sqlite_db, settings, Clock()).run()
    assert stats.retry == 1
    (row,) = _rows(sqlite_db)
    assert row.status == "pending" and "unavailable" in row.last_error


def test_implicit_tls_mode(sqlite_db: Database, tmp_path: Path) -> None:
    subscribe(sqlite_db, "gus@example.org", places=["US-AL"])
    record(sqlite_db, "US-AL", "banned")
    with MailServer(tmp_path, tls="tls") as server:
        stats = dispatcher(sqlite_db, make_settings(**server.settings()), Clock()).run()
    assert stats.sent == 1 and len(server.messages) == 1


def test_plain_smtp_only_for_a_local_relay_without_password() -> None:
    with pytest.raises(ConfigError, match="in the clear"):
        EmailNotifier(make_settings(smtp_host="mail.example.org", smtp_tls="none"))
    with pytest.raises(ConfigError, match="password"):
        EmailNotifier(make_settings(smtp_host="127.0.0.1", smtp_tls="none", smtp_username="u"))
    with pytest.raises(ConfigError, match="smtp_ca_file"):
        EmailNotifier(make_settings(smtp_host="127.0.0.1", smtp_ca_file="/nonexistent.pem"))


def test_header_injection_in_a_subject_is_refused(sqlite_db: Database, tmp_path: Path) -> None:
    subscribe(sqlite_db, "hana@example.org", places=[])
    with sqlite_db.write() as conn:
        events.emit(
            conn,
            "pending_measure",
            importance="relevant",
            title="Bill moved\r\nBcc: victim@example.org",
            place_code="US-AL",
            substance="kratom",
        )
    with MailServer(tmp_path, tls="starttls", auth=AUTH) as server:
        stats = dispatcher(sqlite_db, make_settings(**server.settings()), Clock()).run()
    assert stats.dead == 1 and server.messages == []
    (row,) = _rows(sqlite_db)
    assert "header injection refused" in row.last_error


def test_without_smtp_messages_become_eml_files(sqlite_db: Database, tmp_path: Path) -> None:
    sid = subscribe(sqlite_db, "ivy@example.org", places=["US-AL"])
    event_id = record(sqlite_db, "US-AL", "banned")
    settings = make_settings(smtp_host="")
    assert dispatcher(sqlite_db, settings, Clock()).run().sent == 1
    files = list((settings.data_path / "mail").glob("*.eml"))
    assert [f.name for f in files] == [f"event.{event_id}.email.{sid}.eml"]
    msg = message_from_bytes(files[0].read_bytes(), policy=default)
    assert msg["To"] == "ivy@example.org" and msg["List-Unsubscribe-Post"]
