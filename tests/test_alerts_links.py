"""The HTTP endpoint for the links in mail, served for real on 127.0.0.1: GET shows a
page and changes nothing, POST confirms or unsubscribes (RFC 8058 one-click), and
tampered, expired or misused tokens are refused."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
import sqlalchemy as sa

from tests.support.alerting import Clock, dispatcher, make_settings, record, subscribe
from tests.support.mail import MailServer
from tracker.alerts import subscriptions, tokens
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import SUBSCRIBER, SUPPRESSION
from tracker.timeutil import utcnow
from tracker.web import app as web


def _status(db: Database, email: str) -> str:
    with db.read() as conn:
        return str(
            conn.execute(sa.select(SUBSCRIBER.c.status).where(SUBSCRIBER.c.email == email)).scalar()
        )


def _local(url: str, base: str) -> str:
    """The link as mailed (public_url), pointed at the test server instead."""
    parts = urlsplit(url)
    return f"{base}{parts.path}?{parts.query}"


def test_unsubscribe_by_one_click_post(empty_db: Database, served: str, tmp_path: Path) -> None:
    subscribe(empty_db, "uma@example.org", places=["US-AL"])
    record(empty_db, "US-AL", "banned")
    with MailServer(tmp_path, tls="starttls", auth=("a", "b")) as server:
        dispatcher(empty_db, make_settings(**server.settings()), Clock()).run()
    (msg,) = server.messages
    link = _local(msg["List-Unsubscribe"].strip("<>"), served)
    page = requests.get(link, timeout=5)
    assert page.status_code == 200 and '<form method="post"' in page.text
    assert _status(empty_db, "uma@example.org") == "active"  # a GET changes nothing
    form = {"content-type": "application/x-www-form-urlencoded"}
    click = requests.post(link, data="List-Unsubscribe=One-Click", headers=form, timeout=5)
    assert click.status_code == 200 and "receives no more alerts" in click.text
    assert _status(empty_db, "uma@example.org") == "unsubscribed"
    with empty_db.read() as conn:
        assert conn.execute(sa.select(SUPPRESSION.c.reason)).scalar() == "unsubscribed"
    assert requests.post(link, timeout=5).status_code == 200  # twice is fine


def test_confirm_link(empty_db: Database, served: str) -> None:
    with empty_db.write() as conn:
        sid = subscriptions.subscribe(
            conn, "cy@example.org", places=[], cadence="daily", hour=9, tz="Asia/Bangkok"
        ).subscriber_id
    key = tokens.signing_key(empty_db)
    token = tokens.make(key, "confirm", sid, "cy@example.org", utcnow() + timedelta(days=1))
    url = f"{served}/confirm?token={token}"
    assert "Confirm your subscription" in requests.get(url, timeout=5).text
    assert _status(empty_db, "cy@example.org") == "pending"
    done = requests.post(url, timeout=5)
    assert done.status_code == 200 and "Subscription confirmed" in done.text
    with empty_db.read() as conn:
        row = conn.execute(sa.select(SUBSCRIBER).where(SUBSCRIBER.c.id == sid)).one()
    assert row.status == "active" and row.next_digest_at is not None


def test_bad_tokens_are_refused(empty_db: Database, served: str) -> None:
    sid = subscribe(empty_db, "vic@example.org")
    key = tokens.signing_key(empty_db)
    good = tokens.make(key, "unsubscribe", sid, "vic@example.org", utcnow() + timedelta(days=1))
    body, mac = good.split(".")
    soon, past = utcnow() + timedelta(days=1), utcnow() - timedelta(days=1)
    cases: dict[str, Any] = {
        "tampered": body + "." + ("A" if mac[0] != "A" else "B") + mac[1:],
        "expired": tokens.make(key, "unsubscribe", sid, "vic@example.org", past),
        "other action": tokens.make(key, "confirm", sid, "vic@example.org", soon),
        "other address": tokens.make(key, "unsubscribe", sid, "x@example.org", soon),
        "garbage": "not-a-token",
        "missing": "",
        "unknown subscriber": tokens.make(key, "unsubscribe", 999, "vic@example.org", soon),
    }
    for name, token in cases.items():
        answer = requests.post(f"{served}/unsubscribe?token={token}", timeout=5)
        assert answer.status_code == 400, name
        expected = "has expired" if name == "expired" else "not valid"
        assert expected in answer.text, name
    assert _status(empty_db, "vic@example.org") == "active"


def test_routes(served: str) -> None:
    assert requests.get(f"{served}/nowhere", timeout=5).status_code == 404
    wrong = requests.put(f"{served}/unsubscribe", timeout=5)
    assert wrong.status_code == 405 and wrong.headers["Allow"] == "GET, HEAD, POST"
    app = web.App()
    app.add("/healthz", lambda request: web.Response.text("ok\n"))
    with pytest.raises(ValueError, match="already taken"):
        app.add("/healthz", lambda request: web.Response.text("again\n"))
