"""The public pages on a real local server: the status page (the export's view, live),
place pages with every level, search, ZIP pages, feeds; security headers on every
answer; hostile text in place names, citations, notes and queries shown as text."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import feedparser
import pytest
from bs4 import BeautifulSoup

from tests.support.alerting import make_settings, record
from tests.support.web import PublicSite
from tracker.law import review
from tracker.law.belief import Belief
from tracker.law.dates import PartialDate
from tracker.law.history import record_belief
from tracker.law.places import sync_places
from tracker.paths import jurisdictions_dir
from tracker.storage.engine import Database
from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE
from tracker.timeutil import utcnow

pytestmark = pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)

EVIL_NAME = "<script>window.__pwned=1</script>Evil Town"
EVIL_OCD = "ocd-division/country:us/state:nv/place:evil_town"
EVIL_CITATION = '<img src=x onerror="window.__pwned=2">Ord. 1 & "2"'
EVIL_NOTE = "</title><style>body{display:none}</style><b>note</b>"
EVIL_URL = "javascript:window.__pwned=3"
PUBLIC_URL = "https://tracker.example.org"


def _evil_place(db: Database, tmp_path: Path) -> None:
    """A places file with a hostile name (the shipped ones copied beside it), synced."""
    root = tmp_path / "jurisdictions"
    (root / "places").mkdir(parents=True)
    for f in (jurisdictions_dir() / "places").glob("*.yaml"):
        (root / "places" / f.name).write_text(f.read_text())
    (root / "places" / "zz-evil.yaml").write_text(
        f"places:\n  - ocd_id: {EVIL_OCD}\n    name: '{EVIL_NAME}'\n    kind: city\n"
    )
    with db.write() as conn:
        sync_places(conn, root)
        record_belief(
            conn,
            Belief(
                place_code=EVIL_OCD,
                substance="kratom",
                status="banned",
                source_tier="secondary",
                origin="test",
                valid_from=PartialDate.parse("2021-03-01"),
                instrument_citation=EVIL_CITATION,
                instrument_url=EVIL_URL,
                note=EVIL_NOTE,
                source_url="https://example.org/a?b=1&c=<2>",
                verify=True,
            ),
        )


def _relevant_change(db: Database, place: str, title: str) -> None:
    """A kratom-relevant change of an official page of `place`, detected now, awaiting
    review."""
    now = utcnow()
    with db.write() as conn:
        sid = conn.execute(
            SOURCE.insert()
            .values(
                key=f"test-{place}", origin="operator", place_code=place, title=title,
                url="https://legislature.example/code", host="legislature.example",
                kind="html", spec={}, spec_hash="x", active=False, next_check_at=now,
                failures=0, failing=False, created_at=now, last_ok_at=now,
            )
            .returning(SOURCE.c.id)
        ).scalar_one()  # fmt: skip
        change = conn.execute(
            PAGE_CHANGE.insert().values(
                source_id=sid, place_code=place, detected_at=now, old_sha="a" * 64,
                new_sha="b" * 64, importance="relevant", keywords=["kratom"], added=1,
                removed=0, too_large=False,
            ).returning(PAGE_CHANGE.c.id)
        ).scalar_one()  # fmt: skip
        # ... and its review item, as the check that detects it opens one (the review loop).
        review.open_item(
            conn, change_id=change, place_code=place, source_id=sid, keywords=["kratom"], now=now
        )


@pytest.fixture
def site(loaded_db: Database, tmp_path: Path) -> Iterator[PublicSite]:
    _evil_place(loaded_db, tmp_path)
    with PublicSite(loaded_db, make_settings(public_url=PUBLIC_URL)) as s:
        yield s


def _soup(answer: Any) -> BeautifulSoup:
    return BeautifulSoup(answer.text, "html.parser")


def _no_live_markup(html: str) -> None:
    assert "window.__pwned" not in html or "&lt;" in html
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "javascript:" not in html
    soup = BeautifulSoup(html, "html.parser")
    for tag in soup.find_all(True):
        assert not any(a.lower().startswith("on") for a in tag.attrs), tag
    for script in soup.find_all("script"):
        assert script.get("src", "").startswith("/static/") and not script.string


PATHS = [
    "/",
    "/?substance=7-OH",
    "/places/US-AL",
    "/places/" + EVIL_OCD,
    "/zip/38801",
    "/search?q=Evil",
    "/search?q=%3Cscript%3Ealert(1)%3C/script%3E",
    "/places/%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    "/subscribe?place=" + EVIL_OCD,
    "/subscribe?place=%22%3E%3Cscript%3Ealert(1)%3C/script%3E",
    "/api/v1/places/US-AL",
    "/feeds/US-AL.atom",
    "/static/web.css",
    "/nowhere",
    "/confirm?token=bad",
    "/preferences?token=bad",
]


@pytest.mark.parametrize("path", PATHS)
def test_security_headers_and_escaping_everywhere(site: PublicSite, path: str) -> None:
    answer = site.get(path)
    assert answer.status_code < 500, answer.text
    h = answer.headers
    assert h["X-Content-Type-Options"] == "nosniff"
    assert h["X-Frame-Options"] == "DENY" and h["Referrer-Policy"] == "no-referrer"
    parts = (d.strip().partition(" ") for d in h["Content-Security-Policy"].split(";"))
    csp = {name: value for name, _, value in parts}
    assert csp["default-src"] == "'none'" and csp["frame-ancestors"] == "'none'"
    assert "'unsafe-inline'" not in csp.get("script-src", "")
    assert h["Strict-Transport-Security"].startswith("max-age=")  # public_url is https
    if h["Content-Type"].startswith("text/html"):
        _no_live_markup(answer.text)


def test_hostile_place_name_and_record_are_text(site: PublicSite) -> None:
    page = site.get("/places/" + EVIL_OCD)
    assert page.status_code == 200
    soup = _soup(page)
    assert soup.h1.get_text(" ", strip=True).endswith(EVIL_NAME + ", NV (city)")
    assert EVIL_CITATION in soup.get_text()
    assert EVIL_NOTE in soup.get_text()
    assert "&lt;script&gt;window.__pwned=1&lt;/script&gt;Evil Town" in page.text
    assert soup.title.get_text().startswith(EVIL_NAME)  # the title is escaped text too
    assert soup.select(".unverified")  # the record says verify: shown as unverified
    status_page = site.get("/")
    assert EVIL_NAME in _soup(status_page).get_text() and "<script>window" not in status_page.text
    feed = site.get("/feeds/" + EVIL_OCD + ".atom")
    assert feedparser.parse(feed.content).feed.title.endswith(EVIL_NAME + ", NV (city)")


def test_status_page_is_the_export_view_live(site: PublicSite, loaded_db: Database) -> None:
    page = site.get("/")
    soup = _soup(page)
    assert len(soup.select(".us-grid .tile.state")) == 51
    assert soup.find("script", src="/static/status.js") is not None
    assert soup.select_one('form.search input[name="q"]') is not None
    assert soup.select_one('form.switches select[name="substance"]') is not None
    ri = soup.find("details", id="p-US-RI")
    assert ri.select_one("a[href='/places/US-RI']") is not None
    # As-of switch: Rhode Island was banned before 2026-04-01.
    then = _soup(site.get("/?as_of=2026-01-01"))
    assert "Banned" in then.find("details", id="p-US-RI").summary.get_text()
    assert site.get("/?as_of=2999-01-01").status_code == 400
    assert "YYYY-MM-DD" in site.get("/?as_of=someday").text
    # Always current: a new record shows on the next request.
    record(loaded_db, "US-WY", "banned", start="2026-01-01")
    now = _soup(site.get("/"))
    assert "Banned" in now.find("details", id="p-US-WY").summary.get_text()


def test_answers_are_compressed_for_clients_that_accept_gzip(site: PublicSite) -> None:
    import gzip

    import requests

    plain = requests.get(site.url + "/", headers={"Accept-Encoding": "identity"}, timeout=30)
    packed = requests.get(
        site.url + "/", headers={"Accept-Encoding": "gzip"}, stream=True, timeout=30
    )
    raw = packed.raw.read(decode_content=False)
    assert packed.headers["Content-Encoding"] == "gzip" and "Content-Encoding" not in plain.headers
    assert gzip.decompress(raw) == plain.content and len(raw) < len(plain.content) / 5
    assert packed.headers["ETag"] != plain.headers["ETag"]
    assert "Accept-Encoding" in packed.headers["Vary"]


def test_place_page_shows_every_level_history_pending_and_review(
    site: PublicSite, loaded_db: Database
) -> None:
    _relevant_change(loaded_db, "US-AL", "Alabama <b>Code</b> 20-2-23")
    with loaded_db.write() as conn:  # a restatement: the shipped record becomes history
        record_belief(
            conn,
            Belief(
                place_code="US-AL", substance="kratom", status="banned",
                source_tier="secondary", origin="test",
                valid_from=PartialDate.parse("2016-05-10"), instrument_type="session_law",
                instrument_citation="Ala. Act 2016-279 (SB 226), restated by this test",
                source_url="https://legislature.example/al",
            ),
        )  # fmt: skip
    soup = _soup(site.get("/places/US-AL"))
    text = soup.get_text(" ", strip=True)
    assert "Banned" in text and "Decided by Alabama (US-AL) (state level)" in text
    rows = [
        [td.get_text(" ", strip=True) for td in tr.find_all("td")]
        for tr in soup.select("table.chain tbody tr")
    ]
    assert [r[0] for r in rows] == ["state", "federal"]
    assert "Ala. Act 2016-279" in rows[0][4] and rows[0][5] == "secondary"
    # Last verified: the later of the record's checked date and the tracker's confirmation.
    assert re.fullmatch(r"\d{4}(-\d\d(-\d\d)?)?", rows[1][6]), rows[1][6]
    assert "Pending measures" in text and "DEA" in text
    assert "History of this place" in text and "Earlier beliefs, superseded but kept" in text
    review = soup.select_one("section.review")
    assert review is not None and "Alabama <b>Code</b> 20-2-23" in review.get_text()
    assert (
        soup.select_one("a[href='/subscribe?place=US-AL']").get_text() == "Subscribe to this place"
    )


def test_search_goes_to_the_page_or_offers_a_choice(site: PublicSite) -> None:
    assert site.get("/search?q=38801").headers["Location"] == "/zip/38801"
    assert site.get("/search?q=Tupelo").headers["Location"] == (
        "/places/ocd-division/country:us/state:ms/place:tupelo"
    )
    choice = _soup(site.get("/search?q=AL"))
    assert {a["href"] for a in choice.select("ul.results a")} == {"/places/AL", "/places/US-AL"}
    missing = site.get("/search?q=Alabamaa")
    assert missing.status_code == 404 and "/places/US-AL" in missing.text
    assert site.get("/search?q=").status_code == 400
    zip_page = _soup(site.get("/zip/38801"))
    assert "Tupelo, Lee County, US-MS" in zip_page.get_text(" ", strip=True)
    assert zip_page.select_one("a.place-link")["href"].startswith("/places/ocd-division/")
    assert site.get("/zip/00000").status_code == 404
    assert site.get("/places/Atlantis").status_code == 404


def test_feed_links_itself_from_public_url(site: PublicSite, loaded_db: Database) -> None:
    record(loaded_db, "US-AL", "regulated", start="2026-02-01", min_age=21)
    answer = site.get("/feeds/US-AL.atom")
    assert answer.headers["Content-Type"].startswith("application/atom+xml")
    feed = feedparser.parse(answer.content)
    links = {link.rel: link.href for link in feed.feed.links}
    assert links["self"] == f"{PUBLIC_URL}/feeds/US-AL.atom"
    assert links["alternate"] == f"{PUBLIC_URL}/places/US-AL"
    assert any("Alabama" in e.title for e in feed.entries)
    # An event of a city is in its state's feed; another state's is not.
    record(loaded_db, "US-WY", "banned", start="2026-01-01")
    titles = [e.title for e in feedparser.parse(site.get("/feeds/US-AL.atom").content).entries]
    assert not any("Wyoming" in t for t in titles)
    assert site.get("/feeds/Atlantis.atom").status_code == 404
    etag = answer.headers["ETag"]
    assert site.get("/feeds/US-WY.atom", headers={"If-None-Match": etag}).status_code == 200


def test_local_levels_are_named_not_given_as_ocd_ids(site: PublicSite) -> None:
    """A pending measure or a rule of a local level says `Dana Point, CA`, on the place's
    page and on the status page; a county's unincorporated-area rule is not listed for a
    city inside the county."""
    ocd = "ocd-division/country:us/state:ca/place:dana_point"
    soup = _soup(site.get("/places/" + ocd))
    pending = soup.find(id="pending-h").parent.get_text(" ", strip=True)
    assert "Dana Point, CA, kratom: Ordinance banning all kratom sales" in pending
    assert "ocd-division" not in pending
    related = soup.find(id="related-h").parent.get_text(" ", strip=True)
    assert "US-CA" in related
    assert "Orange County" not in related  # its 7-OH ban binds the unincorporated area only
    page = _soup(site.get("/"))
    items = [li.get_text(" ", strip=True) for li in page.find_all("li")]
    assert any(x.startswith("Dana Point, CA, kratom: Ordinance banning all kratom") for x in items)
    assert not any(x.startswith("ocd-division") for x in items)
