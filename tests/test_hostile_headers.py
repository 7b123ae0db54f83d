"""Header injection in mail, against a real aiosmtpd server: a line break (CR, LF, and
what else `str.splitlines` breaks at: VT, FF, FS, RS, NEL, U+2028) or a control
character in an address, a subscriber name or a source title is refused where it is
entered; a value that gets into the database anyway (a hand edit, an older version)
makes its own message dead, never sent with an extra header, and never blocks the
others."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.support.alerting import Clock, dispatcher, make_settings, record, sqlite_copy, subscribe
from tests.support.mail import MailServer
from tracker.alerts import subscriptions
from tracker.errors import UsageError
from tracker.law.datafile import Entry
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import OUTBOX, SUBSCRIBER
from tracker.watch.sources import validate

INJECT = "\r\nBcc: victim@evil.example"


@pytest.fixture
def db(tmp_path: Path, templates: Any) -> Iterator[Database]:
    yield from sqlite_copy(tmp_path, templates.sqlite_empty)


@pytest.mark.parametrize(
    "address",
    [
        "eve@example.org" + INJECT,
        "eve@example.org\nRCPT TO:<victim@evil.example>",
        "eve@example.org>\r\nDATA",
        "eve@example.org\x00",
        "Eve <eve@example.org>",
    ],
)
def test_addresses_with_line_breaks_are_refused(db: Database, address: str) -> None:
    with db.write() as conn, pytest.raises(UsageError, match="invalid email address"):
        subscriptions.subscribe(conn, address, places=[])


SEPARATORS = ["\r\n", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1e", "\x85", "\u2028", "\x00"]


@pytest.mark.parametrize("separator", SEPARATORS)
def test_names_with_any_line_break_are_refused(db: Database, separator: str) -> None:
    with db.write() as conn, pytest.raises(UsageError, match="line break"):
        subscriptions.subscribe(
            conn, "eve@example.org", places=[], name=f"Eve{separator}Bcc: victim@evil.example"
        )


def test_the_cli_refuses_a_name_with_a_line_break(cli: Any) -> None:
    result = cli("subscribe", "eve@example.org", "--name", "Eve\nBcc: victim@evil.example")
    assert result.code == 2 and "line break" in result.err


@pytest.mark.parametrize(
    "title", ["Code" + INJECT, "Code\nX-Evil: 1", "Code\x85Bcc: x", "Code\u2028"]
)
def test_source_titles_with_line_breaks_are_refused(title: str) -> None:
    entry = Entry(key="code", place="US-RI", url="https://x.example/code", kind="html", title=title)
    with pytest.raises(ValueError, match="one line"):
        validate(entry, "operator")


@pytest.mark.parametrize("url", ["https://x.example/a\r\nHost: evil", "https://x.example/a b"])
def test_source_urls_with_line_breaks_or_spaces_are_refused(url: str) -> None:
    with pytest.raises(ValueError, match="invalid url"):
        validate(Entry(key="code", place="US-RI", url=url, kind="html"), "operator")


@pytest.mark.parametrize("separator", SEPARATORS)
def test_a_line_break_stored_anyway_kills_its_message_only(
    db: Database, tmp_path: Path, separator: str
) -> None:
    """Regression: VT, FF, FS, GS and RS passed the check (only CR and LF were refused),
    then the email package refused to serialize the message inside the batch's send,
    and the dispatcher failed every batch: no mail to anyone, for as long as that row
    was pending. Now the row is dead, with its reason, and the others are sent."""
    eve = subscribe(db, "eve@example.org", places=[])
    subscribe(db, "bob@example.org", places=[])
    with db.write() as conn:  # a hand edit, or a row from before names were checked
        conn.execute(
            SUBSCRIBER.update()
            .where(SUBSCRIBER.c.id == eve)
            .values(name=f"Eve{separator}Bcc: victim@evil.example")
        )
    record(db, "US-AL", "banned")
    with MailServer(tmp_path, tls="none") as server:
        stats = dispatcher(db, make_settings(**server.settings()), Clock()).run()
    assert stats.dead == 1 and stats.sent == 1
    (msg,) = server.messages
    assert msg["To"].addresses[0].addr_spec == "bob@example.org" and msg.get_all("Bcc") is None
    assert server.sink.envelopes[0][1] == ["bob@example.org"]
    with db.read() as conn:
        dead = conn.execute(sa.select(OUTBOX).where(OUTBOX.c.status == "dead")).one()
    assert dead.subscriber_id == eve and "header injection refused" in dead.last_error
