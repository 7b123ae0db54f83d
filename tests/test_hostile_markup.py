"""Script and markup in watched pages never become live markup: a real check cycle sees a
page whose text is full of markup (and whose real markup holds scripts and event
handlers), then the HTML diff, the alert and digest mails (received by aiosmtpd) and the
status page are rendered, parsed with lxml, and searched for script elements, event
handler attributes and javascript: URLs coming from that text. The text itself must
still be there, shown as text."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import timedelta
from email.message import EmailMessage
from pathlib import Path

import lxml.html
import pytest
import sqlalchemy as sa
import yaml

from tests.support.alerting import Clock, dispatcher, make_settings, subscribe
from tests.support.hostile import live_markup
from tests.support.mail import MailServer
from tests.support.pages import PageServer
from tracker.alerts import digest
from tracker.export import export
from tracker.law.belief import Belief
from tracker.law.dates import PartialDate
from tracker.law.history import record_belief
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import SUBSCRIBER
from tracker.storage.tables_watch import PAGE_CHANGE
from tracker.watch.cycle import run_cycle
from tracker.watch.fetch import Fetcher
from tracker.watch.watcher import WatchConfig, Watcher

# Text of the page (escaped in its HTML, so it is text after extraction).
HOSTILE = [
    "<script>alert('text')</script>",
    "<img src=x onerror=alert(1)>",
    '<a href="javascript:alert(2)">see the statute</a>',
    "</pre></div><script>alert(3)</script><div><pre>",
    '"><svg onload=alert(4)>',
    "{{ 7*7 }} {% for x in range(3) %}x{% endfor %}",
    "<iframe src=//evil.example/></iframe>",
    "<meta http-equiv=refresh content='0;url=javascript:alert(5)'>",
    "javascript:alert(6)",
]
# Real markup of the page: dropped or reduced to its text by extraction.
RAW = (
    "<script>alert('raw')</script><img src=x onerror=alert(7)><svg onload=alert(8)></svg>"
    '<a href="javascript:alert(9)" onclick="alert(10)">kratom link</a>'
)
TITLE = "<b onmouseover=alert(11)>Code § 1</b>"


def _page(version: int) -> str:
    lines = "".join(f"<p>{html.escape(h)} (v{version})</p>" for h in HOSTILE)
    return (
        f"<html><body><main><h1>Kratom rule</h1><p>Version {version} of the kratom rule.</p>"
        f"{lines}{RAW}</main></body></html>"
    )


@pytest.fixture
def changed(empty_db: Database, tmp_path: Path) -> Iterator[Database]:
    """Two subscribers (immediate, daily), then a baseline and a change of the page."""
    subscribe(empty_db, "now@example.org", places=["US-RI"])
    subscribe(empty_db, "daily@example.org", places=["US-RI"], cadence="daily")
    root, data = tmp_path / "shipped", tmp_path / "data"
    (root / "sources").mkdir(parents=True)
    data.mkdir()
    fetcher = Fetcher(allow_loopback=True, user_agent="t", timeout=2, retries=0)
    w = Watcher(empty_db, fetcher, WatchConfig(host_delay=0))
    with PageServer() as site:
        site.page("/code", _page(1))
        entry = {
            "key": "hostile",
            "place": "US-RI",
            "kind": "html",
            "url": site.url("/code"),
            "title": TITLE,
            "select": ["main"],
        }
        (data / "sources.yaml").write_text(yaml.safe_dump({"sources": [entry]}))
        assert [r.outcome for r in run_cycle(w, root, data).results] == ["baseline"]
        site.page("/code", _page(2))
        assert [r.outcome for r in run_cycle(w, root, data).results] == ["changed"]
    yield empty_db


def _text(markup: str) -> str:
    return str(lxml.html.document_fromstring(markup).text_content())


def test_html_diff_shows_page_markup_as_text(changed: Database) -> None:
    with changed.read() as conn:
        diff = conn.execute(sa.select(PAGE_CHANGE.c.html_diff)).scalar_one()
    assert live_markup(diff) == []
    shown = _text(diff)
    for h in HOSTILE:
        assert h.split(" ")[0] in shown  # there, as text
    assert "alert('raw')" not in shown and "onerror=alert(7)" not in shown  # dropped


def _html_part(msg: EmailMessage) -> str:
    part = msg.get_body(("html",))
    assert part is not None
    return str(part.get_content())


def test_alert_and_digest_mail_show_page_markup_as_text(changed: Database, tmp_path: Path) -> None:
    clock = Clock()
    with MailServer(tmp_path, tls="none") as server:
        settings = make_settings(**server.settings())
        with changed.write() as conn:  # the daily subscriber's digest hour has come
            conn.execute(SUBSCRIBER.update().values(next_digest_at=clock() - timedelta(minutes=1)))
        assert digest.enqueue_due(changed, now=clock()) == 1
        stats = dispatcher(changed, settings, clock).run()
    assert stats.sent == 2 and len(server.messages) == 2
    for msg in server.messages:
        body = _html_part(msg)
        assert live_markup(body) == [], (msg["To"], live_markup(body))
        shown = _text(body)
        assert "<script>alert('text')</script>" in shown and "{{ 7*7 }}" in shown
        assert "49" not in shown.replace("2049", "")  # no template ran on page text
        if "now@" in str(msg["To"]):  # the alert's subject names the source, as text
            assert str(msg["Subject"]).endswith(f"{TITLE} changed")


def test_status_page_shows_copied_page_markup_as_text(loaded_db: Database, tmp_path: Path) -> None:
    """Text copied from a watched page into a record (citation, quote, note, conditions,
    links) is escaped on the status page; only http(s) links are emitted."""
    with loaded_db.write() as conn:
        record_belief(
            conn,
            Belief(
                place_code="US-RI",
                substance="kratom",
                status="regulated",
                source_tier="official",
                origin="test",
                valid_from=PartialDate.parse("2026-01-01"),
                min_age=21,
                conditions=tuple(HOSTILE[:3]),
                instrument_citation=HOSTILE[0],
                instrument_title=HOSTILE[3],
                instrument_url="javascript:alert(12)",
                source_url="javascript:alert(13)",
                source_title=TITLE,
                source_quote=HOSTILE[4],
                note=HOSTILE[7],
            ),
        )
    hostile = tmp_path / "status.html"
    export(loaded_db, "html", hostile)
    own = len(lxml.html.parse(str(hostile)).xpath("//script"))
    assert own == 1  # the page's own script, allowed by its CSP hash
    text = hostile.read_text()
    assert live_markup(text, own_scripts=own) == []
    assert "<script>alert('text')</script>" in _text(text)
