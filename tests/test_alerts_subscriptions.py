"""Subscriptions: validation of what people type, place patterns and children, digest
slots across DST, double opt-in, the suppression list, and the subscriber commands."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from tests.support.alerting import Clock, dispatcher, make_settings, record, sqlite_copy
from tracker.alerts import subscriptions
from tracker.errors import PlaceNotFound, UsageError
from tracker.law.places import resolve_specs
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import DIGEST_ITEM, OUTBOX, SUBSCRIBER


@pytest.fixture
def sqlite_db(tmp_path: Path, templates: Any) -> Iterator[Database]:
    yield from sqlite_copy(tmp_path, templates.sqlite_empty)


@pytest.mark.parametrize(
    "bad",
    [
        "not-an-address",
        "a@b",
        "Alice <alice@example.org>",
        "alice@example.org\r\nBcc: x@example.org",
        "two@example.org,three@example.org",
        "a" * 250 + "@example.org",
        "",
    ],
)
def test_invalid_addresses_are_refused(bad: str) -> None:
    with pytest.raises(UsageError, match="invalid email address"):
        subscriptions.normalize_email(bad)


def test_addresses_are_normalized() -> None:
    assert subscriptions.normalize_email("  Alice.Doe+kratom@Example.ORG ") == (
        "alice.doe+kratom@example.org"
    )


def test_bad_subscription_input(sqlite_db: Database) -> None:
    with sqlite_db.write() as conn:
        with pytest.raises(UsageError, match="line break"):
            subscriptions.subscribe(conn, "a@example.org", places=[], name="Eve\nBcc: x@y.org")
        with pytest.raises(PlaceNotFound) as unknown:
            resolve_specs(conn, ["Rhode Iland"])
        assert "Rhode Island" in unknown.value.hint
        with pytest.raises(UsageError, match="matches no place"):
            resolve_specs(conn, ["XX-*"])
        with pytest.raises(UsageError, match="unknown place code"):
            subscriptions.subscribe(conn, "a@example.org", places=["Rhode Island"])
        with pytest.raises(UsageError, match="unknown time zone"):
            subscriptions.subscribe(conn, "a@example.org", places=[], tz="Mars/Olympus")
        with pytest.raises(UsageError, match="not a event kind"):
            subscriptions.subscribe(conn, "a@example.org", places=[], kinds=["gossip"])
        assert subscriptions.listing(conn) == []  # nothing half-written


def test_patterns_and_children(empty_db: Database) -> None:
    with empty_db.write() as conn:
        specs, codes = resolve_specs(conn, ["US-*"])
        sid = subscriptions.subscribe(
            conn, "p@example.org", places=codes, place_specs=specs, confirmed=True
        ).subscriber_id
        row = conn.execute(sa.select(SUBSCRIBER).where(SUBSCRIBER.c.id == sid)).one()
    assert row.place_specs == ["US-*"] and "US-RI" in row.place_codes
    assert "US" not in row.place_codes and len(row.place_codes) >= 57  # states, DC, territories
    record(empty_db, "US", "legal", start="2020-01-01")  # federal level: not a state
    sd = "ocd-division/country:us/state:ca/place:san_diego"
    record(empty_db, sd, "banned", start="2025-01-01")  # a city inside a state: included
    assert [r.recipient for r in _outbox(empty_db)] == ["p@example.org"]
    assert _outbox(empty_db)[0].event_id is not None


def test_switching_to_immediate_sends_what_waited_for_the_digest(empty_db: Database) -> None:
    with empty_db.write() as conn:
        sid = subscriptions.subscribe(
            conn, "d@example.org", places=["US-RI"], cadence="daily", confirmed=True
        ).subscriber_id
    record(empty_db, "US-RI", "banned", start="2020-01-01")
    record(empty_db, "US-RI", "legal", start="2021-01-01")
    assert _outbox(empty_db) == []  # daily: the two events wait for the digest
    with empty_db.write() as conn:
        subscriptions.subscribe(
            conn, "d@example.org", places=["US-RI"], cadence="immediate", confirmed=True
        )
        waiting = conn.execute(
            sa.select(DIGEST_ITEM).where(DIGEST_ITEM.c.subscriber_id == sid)
        ).all()
    alerts = _outbox(empty_db)
    assert len(alerts) == 2 and {a.recipient for a in alerts} == {"d@example.org"}
    assert {a.key for a in alerts} == {f"event:{a.event_id}:email:{sid}" for a in alerts}
    assert sorted(i.digest_key for i in waiting) == sorted(a.key for a in alerts)
    with empty_db.write() as conn:  # saying it again sends nothing twice
        subscriptions.subscribe(
            conn, "d@example.org", places=["US-RI"], cadence="immediate", confirmed=True
        )
    assert len(_outbox(empty_db)) == 2


def _outbox(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(OUTBOX).where(OUTBOX.c.purpose == "alert")))


def test_digest_slots_follow_local_time_across_dst() -> None:
    paris = ZoneInfo("Europe/Paris")
    before = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # clocks go forward on Sunday the 29th
    first = subscriptions.next_slot("daily", 8, 0, "Europe/Paris", before)
    second = subscriptions.next_slot("daily", 8, 0, "Europe/Paris", first)
    assert first is not None and second is not None
    assert (first.hour, second.hour) == (7, 6)  # 08:00 CET, then 08:00 CEST, in UTC
    assert first.astimezone(paris).hour == second.astimezone(paris).hour == 8
    weekly = subscriptions.next_slot("weekly", 18, 4, "America/New_York", before)
    assert weekly is not None and weekly.astimezone(ZoneInfo("America/New_York")).weekday() == 4
    assert subscriptions.next_slot("immediate", 8, 0, "UTC", before) is None
    # 02:00 does not exist in Paris on 2026-03-29: the digest comes at 03:00 CEST.
    saturday = datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    skipped = subscriptions.next_slot("daily", 2, 0, "Europe/Paris", saturday)
    assert skipped == datetime(2026, 3, 29, 1, 0, tzinfo=UTC)


def test_double_opt_in_then_unsubscribe_and_suppression(sqlite_db: Database) -> None:
    with sqlite_db.write() as conn:
        done = subscriptions.subscribe(conn, "opt@example.org", places=["US-AL"])
    assert done.status == "pending" and done.confirmation_key
    record(sqlite_db, "US-AL", "banned")  # not confirmed yet: no alert
    settings = make_settings(smtp_host="")
    assert dispatcher(sqlite_db, settings, Clock()).run().sent == 1
    (eml,) = (settings.data_path / "mail").glob("confirm*.eml")
    msg = message_from_bytes(eml.read_bytes(), policy=default)
    assert "http://127.0.0.1:8750/confirm?token=" in msg.get_body(("plain",)).get_content()
    assert msg["List-Unsubscribe"] is None
    assert [r.purpose for r in _all(sqlite_db)] == ["confirm"]
    with sqlite_db.write() as conn:
        assert subscriptions.activate(conn, done.subscriber_id)
        assert not subscriptions.activate(conn, done.subscriber_id)  # once
        assert subscriptions.unsubscribe(conn, "opt@example.org")
        with pytest.raises(UsageError, match="suppression list") as refused:
            subscriptions.subscribe(conn, "opt@example.org", places=["US-AL"])
        assert "--resubscribe" in refused.value.hint
    with sqlite_db.write() as conn:
        again = subscriptions.subscribe(conn, "opt@example.org", places=["US-AL"], resubscribe=True)
    assert again.status == "pending" and again.confirmation_key != done.confirmation_key


def _all(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(conn.execute(sa.select(OUTBOX).order_by(OUTBOX.c.id)))


@pytest.fixture
def cli_db(tmp_path: Path, templates: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Database]:
    for db in sqlite_copy(tmp_path, templates.sqlite_loaded):
        monkeypatch.setenv("TRACKER_DATABASE_URL", str(db.engine.url))
        yield db


def test_subscriber_commands(cli: Any, cli_db: Database) -> None:
    bad = cli("subscribe", "not-an-address", "--place", "US-RI")
    assert bad.code == 2 and "invalid email address" in bad.err
    unknown = cli("subscribe", "a@example.org", "--place", "Atlantis")
    assert unknown.code == 2 and "unknown place" in unknown.err
    ok = cli(
        "subscribe",
        "Ann@Example.org",
        "--place",
        "US-*",
        "--place",
        "TH",
        "--cadence",
        "daily",
        "--hour",
        "8",
        "--tz",
        "Europe/Paris",
        "--json",
    )
    assert ok.code == 0, ok.err
    sub = json.loads(ok.out)["subscriber"]
    assert sub["email"] == "ann@example.org" and sub["status"] == "pending"
    assert sub["places"] == ["US-*", "TH"] and sub["tz"] == "Europe/Paris"
    listed = cli("subscribers")
    assert "ann@example.org" in listed.out and "daily at 08:00 Europe/Paris" in listed.out
    nothing = cli("digest", "preview", "ann@example.org")
    assert nothing.code == 2 and "nothing is waiting" in nothing.err
    assert cli("unsubscribe", "ann@example.org").out.startswith("unsubscribed")
    assert "already" in cli("unsubscribe", "ann@example.org").out
    again = cli("subscribe", "ann@example.org", "--place", "TH")
    assert again.code == 2 and "suppression list" in again.err


def test_digest_preview_command(cli: Any, cli_db: Database) -> None:
    ok = cli(
        "subscribe", "pre@example.org", "--place", "US-RI", "--cadence", "weekly", "--confirmed"
    )
    assert ok.code == 0, ok.err
    record(cli_db, "US-RI", "banned", start="2027-01-01")
    shown = cli("digest", "preview", "pre@example.org")
    assert shown.code == 0, shown.err
    assert "Subject: Weekly kratom status digest: 1 change(s) in 1 place(s)" in shown.out
    assert "== Rhode Island (US-RI) ==" in shown.out and "-> banned" in shown.out
    html = cli("digest", "preview", "pre@example.org", "--html")
    assert "<h2" in html.out and "Rhode Island" in html.out
    with cli_db.read() as conn:  # a preview marks nothing and sends nothing
        assert conn.execute(sa.select(sa.func.count()).select_from(OUTBOX)).scalar() == 0


def test_a_second_digest_sent_in_the_same_minute_is_refused_not_lost(
    empty_db: Database,
) -> None:
    """`tracker digest send` keys its row by the minute. A second send in that minute
    must not mark new items with the first row's key (they would never be sent): it is
    refused, and the new item keeps waiting."""
    from tests.support.alerting import subscribe
    from tracker.alerts import digest

    subscribe(empty_db, "dora@example.org", places=["US-AL"], cadence="daily", hour=7)
    record(empty_db, "US-AL", "banned")
    now = datetime(2026, 12, 2, 9, 30, 5, tzinfo=UTC)
    with empty_db.write() as conn:
        key, count = digest.enqueue_now(conn, "dora@example.org", now=now)
    assert count == 1
    record(empty_db, "US-AL", "restricted", start="2026-05-01")
    with pytest.raises(UsageError, match="less than a minute ago"), empty_db.write() as conn:
        digest.enqueue_now(conn, "dora@example.org", now=now.replace(second=40))
    with empty_db.read() as conn:
        subscriber_id = conn.execute(
            sa.select(SUBSCRIBER.c.id).where(SUBSCRIBER.c.email == "dora@example.org")
        ).scalar_one()
        assert len(digest.pending_items(conn, subscriber_id)) == 1
        sent_rows = conn.execute(sa.select(OUTBOX.c.key).where(OUTBOX.c.purpose == "digest"))
        assert [r.key for r in sent_rows] == [key]
