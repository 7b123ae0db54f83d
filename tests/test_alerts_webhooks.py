"""Webhooks to a real local receiver that verifies every signature with the
`standardwebhooks` package: delivery, retries (500 then 200), 410, redirects, hangs,
Retry-After, secret rotation, refused addresses, and the `tracker webhooks` commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.alerting import Clock, dispatcher, make_settings, record, sqlite_copy
from tests.support.receivers import Reply, WebhookReceiver
from tracker.alerts import webhooks
from tracker.alerts.dispatch import Dispatcher
from tracker.errors import UsageError
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import OUTBOX, WEBHOOK


@pytest.fixture
def sqlite_db(tmp_path: Path, templates: Any) -> Iterator[Database]:
    yield from sqlite_copy(tmp_path, templates.sqlite_empty)


@pytest.fixture
def rx() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as receiver:
        yield receiver


def _endpoint(db: Database, rx: WebhookReceiver, **filters: Any) -> Any:
    with db.write() as conn:
        ep = webhooks.add(conn, rx.url, allow_loopback=True, **filters)
    rx.secrets = [ep.secret]
    return ep


def _rows(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id)))


def test_signed_delivery_verified_by_standardwebhooks(
    empty_db: Database, rx: WebhookReceiver
) -> None:
    record(empty_db, "US", "legal", start="2020-01-01")  # else US-RI stays unknown
    ep = _endpoint(empty_db, rx, places=["US-RI"])
    _endpoint_th = _endpoint(empty_db, rx, places=["TH"])
    rx.secrets = [ep.secret]
    assert ep.secret.startswith("whsec_") and _endpoint_th.id != ep.id
    event_id = record(empty_db, "US-RI", "regulated", min_age=21)
    stats = dispatcher(empty_db, make_settings(), Clock()).run()
    assert stats.sent == 1
    (req,) = rx.requests
    assert req.verified_with == [0]
    assert req.headers["webhook-id"] == f"event_{event_id}_webhook_{ep.id}"
    body = req.payload
    assert body["type"] == "status_changed" and body["timestamp"].endswith("+00:00")
    assert body["data"]["place"] == "US-RI" and body["data"]["new_status"] == "regulated"
    assert body["data"]["event_id"] == event_id and body["data"]["min_age"] == 21


def test_receiver_answering_500_then_200_gets_it_once(
    empty_db: Database, rx: WebhookReceiver
) -> None:
    _endpoint(empty_db, rx)
    rx.script = [Reply(500), Reply(500)]
    record(empty_db, "US-AL", "banned")
    clock = Clock()
    for _ in range(3):
        dispatcher(empty_db, make_settings(), clock).run()
        clock.advance(seconds=2)
    assert dispatcher(empty_db, make_settings(), clock).run().handled == 0
    assert [r.status for r in rx.requests] == [500, 500, 200]
    assert len(set(rx.delivered())) == len(rx.delivered()) == 1
    assert len({r.headers["webhook-id"] for r in rx.requests}) == 1  # stable across retries
    assert len({r.body for r in rx.requests}) == 1
    assert all(r.verified_with == [0] for r in rx.requests)
    (row,) = _rows(empty_db)
    assert (row.status, row.attempts) == ("sent", 3)


def test_410_dead_letters_and_disables_the_endpoint(
    empty_db: Database, rx: WebhookReceiver
) -> None:
    ep = _endpoint(empty_db, rx)
    rx.script = [Reply(410)]
    record(empty_db, "US-AL", "banned")
    settings = make_settings(smtp_host="", operator_email="ops@tracker.test")
    stats = dispatcher(empty_db, settings, Clock()).run()
    assert stats.dead == 1
    with empty_db.read() as conn:
        status, reason = conn.execute(
            sa.select(WEBHOOK.c.status, WEBHOOK.c.disabled_reason).where(WEBHOOK.c.id == ep.id)
        ).one()
    assert status == "disabled" and "410" in reason
    notices = list((settings.data_path / "mail").glob("notice*.eml"))
    assert len(notices) == 1 and "disabled" in notices[0].read_text()
    record(empty_db, "US-AL", "restricted")  # a disabled endpoint gets nothing new
    assert [r.channel for r in _rows(empty_db)].count("webhook") == 1


def test_redirect_is_not_followed(sqlite_db: Database, rx: WebhookReceiver) -> None:
    _endpoint(sqlite_db, rx)
    rx.script = [Reply(301, {"Location": rx.url + "/moved"})]
    record(sqlite_db, "US-AL", "banned")
    assert dispatcher(sqlite_db, make_settings(), Clock()).run().retry == 1
    assert len(rx.requests) == 1  # the Location was never fetched
    (row,) = _rows(sqlite_db)
    assert row.status == "pending" and "redirect" in row.last_error


def test_hanging_receiver_times_out_and_is_retried(
    sqlite_db: Database, rx: WebhookReceiver
) -> None:
    _endpoint(sqlite_db, rx)
    rx.script = [Reply(200, delay=2.0)]
    record(sqlite_db, "US-AL", "banned")
    clock = Clock()
    stats = dispatcher(sqlite_db, make_settings(webhook_timeout=0.3), clock).run()
    assert stats.retry == 1
    (row,) = _rows(sqlite_db)
    assert "no answer" in row.last_error
    clock.advance(seconds=2)
    assert dispatcher(sqlite_db, make_settings(), clock).run().sent == 1


def test_retry_after_is_honoured(sqlite_db: Database, rx: WebhookReceiver) -> None:
    _endpoint(sqlite_db, rx)
    rx.script = [Reply(503, {"Retry-After": "120"})]
    record(sqlite_db, "US-AL", "banned")
    clock = Clock()
    dispatcher(sqlite_db, make_settings(), clock).run()
    (row,) = _rows(sqlite_db)
    assert row.due_at - clock() == timedelta(seconds=120)
    clock.advance(seconds=119)
    assert dispatcher(sqlite_db, make_settings(), clock).run().handled == 0
    clock.advance(seconds=1)
    assert dispatcher(sqlite_db, make_settings(), clock).run().sent == 1


def test_rotation_signs_with_both_secrets_until_the_old_expires(
    sqlite_db: Database, rx: WebhookReceiver
) -> None:
    ep = _endpoint(sqlite_db, rx)
    clock = Clock()
    with sqlite_db.write() as conn:
        new = webhooks.rotate(conn, ep.id, keep_old=timedelta(hours=1), now=clock())
    rx.secrets = [new.secret, ep.secret]
    record(sqlite_db, "US-AL", "banned")
    dispatcher(sqlite_db, make_settings(), clock).run()
    assert rx.requests[-1].verified_with == [0, 1]
    assert len(rx.requests[-1].headers["webhook-signature"].split(" ")) == 2
    clock.advance(hours=2)
    record(sqlite_db, "US-AL", "restricted")
    dispatcher(sqlite_db, make_settings(), clock).run()
    assert rx.requests[-1].verified_with == [0]  # only the new secret now


def test_private_and_loopback_urls_are_refused(sqlite_db: Database) -> None:
    with sqlite_db.write() as conn:
        with pytest.raises(UsageError, match="refused address") as private:
            webhooks.add(conn, "http://10.1.2.3/hook", allow_loopback=True)
        assert "never fetched" in private.value.hint
        with pytest.raises(UsageError, match="refused address") as loop:
            webhooks.add(conn, "http://127.0.0.1:9/hook", allow_loopback=False)
        assert "TRACKER_ALLOW_LOOPBACK" in loop.value.hint
        with pytest.raises(UsageError, match="invalid webhook URL"):
            webhooks.add(conn, "ftp://example.org/hook", allow_loopback=True)


@pytest.fixture
def cli_db(tmp_path: Path, templates: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    for db in sqlite_copy(tmp_path, templates.sqlite_loaded):
        monkeypatch.setenv("TRACKER_DATABASE_URL", str(db.engine.url))
        yield db


def test_webhooks_commands(
    cli: Any, cli_db: Database, rx: WebhookReceiver, monkeypatch: Any
) -> None:
    refused = cli("webhooks", "add", rx.url)
    assert refused.code == 2 and "TRACKER_ALLOW_LOOPBACK" in refused.err
    monkeypatch.setenv("TRACKER_ALLOW_LOOPBACK", "1")
    added = cli("webhooks", "add", rx.url, "--place", "US-*", "--kind", "status_changed")
    assert added.code == 0, added.err
    secret = added.out.split("shown once): ")[1].strip()
    rx.secrets = [secret]
    listed = cli("webhooks", "list", "--json")
    (ep,) = json.loads(listed.out)["webhooks"]
    assert ep["places"] == ["US-*"] and ep["kinds"] == ["status_changed"]
    assert secret not in listed.out
    tested = cli("webhooks", "test", str(ep["id"]))
    assert tested.code == 0 and rx.requests[-1].verified_with == [0]
    assert json.loads(rx.requests[-1].body)["type"] == "test"
    rotated = cli("webhooks", "rotate", str(ep["id"]))
    rx.secrets = [rotated.out.split("shown once): ")[1].splitlines()[0].strip(), secret]
    assert cli("webhooks", "test", str(ep["id"])).code == 0
    assert rx.requests[-1].verified_with == [0, 1]
    rx.script = [Reply(500)]
    failed = cli("webhooks", "test", str(ep["id"]))
    assert failed.code == 1 and "HTTP 500" in failed.err
    assert cli("webhooks", "remove", str(ep["id"])).code == 0
    missing = cli("webhooks", "remove", str(ep["id"]))
    assert missing.code == 2 and "no webhook endpoint" in missing.err


def test_a_notice_recorded_by_a_lane_just_after_a_query_is_still_sent(
    empty_db: Database, rx: WebhookReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The run looks again when a lane was sending as it queried. Here the lane (a slow
    410) ends, and records its operator notice, exactly between a query that found
    nothing and the run's check of the lanes: the notice goes out in the same run. (It
    was left for the next run; seen once, as a failure of the 410 test above, in a full
    test run beside four busy processes.)"""
    _endpoint(empty_db, rx)
    rx.script = [Reply(410, delay=0.5)]
    record(empty_db, "US-AL", "banned")
    settings = make_settings(smtp_host="", operator_email="ops@tracker.test")
    plain = Dispatcher._batch

    def lane_ends_right_after(self: Dispatcher, *args: Any) -> bool:
        found = plain(self, *args)
        if not found:
            args[-1].drain()  # `lanes`: the lane ends now, after the query
        return found

    monkeypatch.setattr(Dispatcher, "_batch", lane_ends_right_after)
    stats = dispatcher(empty_db, settings, Clock()).run()
    assert stats.dead == 1
    notices = list((settings.data_path / "mail").glob("notice*.eml"))
    assert len(notices) == 1 and "410 Gone" in notices[0].read_text()


def test_an_unreachable_receiver_is_named_in_plain_words(empty_db: Database) -> None:
    """The row's error (and so the operator's notice) says what to check, as a failing
    source does, never the HTTP library's internals."""
    import socket

    with socket.socket() as s:  # a free port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with empty_db.write() as conn:
        webhooks.add(conn, f"http://127.0.0.1:{port}/hook", allow_loopback=True)
    record(empty_db, "US-AL", "banned")
    dispatcher(empty_db, make_settings(), Clock()).run()
    (row,) = [r for r in _rows(empty_db) if r.channel == "webhook"]
    assert row.last_error == (
        f"cannot reach the host 127.0.0.1:{port}: connection refused (is the server down?)"
    )
    assert "ConnectionPool" not in row.last_error and " at 0x" not in row.last_error
