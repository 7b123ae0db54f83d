"""The status page: self-contained (nothing loaded from anywhere), 51 US tiles, every
piece of data escaped, and it works in a real headless Chromium with no console errors.

Chromium and its driver are Debian's (installed by tests/run); the page is opened over
file://. A screenshot is saved outside the source tree, in $TRACKER_TEST_ARTIFACTS or
<temp dir>/tracker-test-artifacts, and its path is printed.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from bs4 import BeautifulSoup

from tests.support.browser import errors, shot
from tracker.export import export
from tracker.law.belief import Belief
from tracker.law.dates import PartialDate
from tracker.law.history import record_belief
from tracker.storage.engine import Database

pytestmark = pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)

# Read at import: the isolated_env fixture clears TRACKER_* variables before each test.

EVIL_CITATION = "<script>window.__pwned = 1</script>Nev. Rev. Stat. 453"
EVIL_NOTE = '<img src=x onerror="window.__pwned = 2"><b>bold</b> & "quoted"'
EVIL_URL = "javascript:window.__pwned = 3"


def _record_evil(db: Database) -> None:
    with db.write() as conn:
        record_belief(
            conn,
            Belief(
                place_code="US-NV",
                substance="kratom",
                status="banned",
                source_tier="secondary",
                origin="test",
                valid_from=PartialDate.parse("2020-01-01"),
                instrument_citation=EVIL_CITATION,
                instrument_url=EVIL_URL,
                instrument_title="</title><style>body{display:none}</style>",
                note=EVIL_NOTE,
                source_url="https://example.org/nv?a=1&b=<2>",
            ),
        )


@pytest.fixture
def page(loaded_db: Database, tmp_path: Path) -> Path:
    _record_evil(loaded_db)
    out = tmp_path / "status.html"
    export(loaded_db, "html", out)
    return out


def test_page_is_self_contained_and_escapes_data(page: Path) -> None:
    html = page.read_text(encoding="utf-8")
    soup = BeautifulSoup(html, "html.parser")
    assert len(soup.select(".us-grid .tile.state")) == 51
    assert {t["data-code"] for t in soup.select(".us-grid .tile.state")} >= {"US-DC", "US-AK"}
    world = {t["data-code"]: t["class"] for t in soup.select(".tile.country")}
    assert len(world) == 243  # ISO 3166-1 has 249 codes; six are US territories (own tiles)
    assert "st-regulated" in world["TH"] and "st-banned" in world["AU"]
    assert "st-legal" in world["US"] and "st-unknown" in world["AD"]
    # Nothing is loaded: one inline script, one inline style, no external references.
    scripts = soup.find_all("script")
    assert len(scripts) == 1 and not scripts[0].get("src")
    assert not soup.find_all(["link", "img", "iframe", "object", "embed"])
    assert "@import" not in html and "url(" not in html
    csp = soup.find("meta", attrs={"http-equiv": "Content-Security-Policy"})["content"]
    directives = dict(d.strip().split(" ", 1) for d in csp.split(";"))
    assert directives["default-src"] == "'none'" and directives["img-src"] == "'none'"
    assert re.fullmatch(r"'sha256-[A-Za-z0-9+/=]+'", directives["script-src"])  # only ours
    # Data is text: never live markup, never a javascript: link.
    assert "<script>window.__pwned" not in html and "<img src=x" not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;Nev. Rev. Stat. 453" in html
    assert "&lt;img src=x onerror=&#34;window.__pwned = 2&#34;&gt;" in html
    assert "javascript:" not in html
    hrefs = [a["href"] for a in soup.find_all("a")]
    assert all(h.startswith(("#", "https://", "http://")) for h in hrefs)
    assert "https://example.org/nv?a=1&amp;b=&lt;2&gt;" in html
    # Each place: chain, history and citations with the source tier.
    ri = soup.find("details", id="p-US-RI")
    text = ri.get_text(" ", strip=True)
    assert "R.I. Gen. Laws ch. 21-28.12" in text and "official" in text
    assert "2017 to 2026-04-01" in text and "2026-04-01 to no end" in text
    assert "no period (undated document: answers for no date)" in text and "seed" in text
    assert [td.get_text(strip=True) for td in ri.select("table.chain tbody tr td:first-child")] == [
        "state",
        "federal",
    ]
    legend = soup.select_one(".legend").get_text(" ", strip=True)
    for words in ("X = Banned", "! = Restricted", "R = Regulated", "L = Legal", "? = Unknown"):
        assert words in legend
    assert "vendor or advocacy page (lead only)" in legend


def test_page_shows_the_new_places_and_marks_unverified_facts(page: Path) -> None:
    soup = BeautifulSoup(page.read_text(encoding="utf-8"), "html.parser")
    local = soup.select_one("ul.local").get_text(" ", strip=True)
    for name in ("Tupelo, MS", "Ouachita Parish, LA", "Denver, CO", "Suffolk County, NY"):
        assert name in local, name
    assert len(soup.select("ul.local li")) == 57
    rows = {
        tr.select_one("td a").get_text(strip=True): tr for tr in soup.select("#places tbody tr")
    }
    assert rows["New York (US-NY)"].select_one(".unverified").get_text() == "unverified"
    assert rows["Rhode Island (US-RI)"].select_one(".unverified") is None
    assert "vendor" in rows["Argentina (AR)"].get_text(" ") and rows["Argentina (AR)"].select_one(
        ".unverified"
    )
    assert rows["Tupelo, MS (city)"]["data-status"] == "banned"
    ny = soup.find("details", id="p-US-NY").get_text(" ", strip=True)
    assert "Checked 2026-01-16" in ny and "unverified" in ny
    world = soup.select_one("#world-h").find_parent("section")
    line = world.select_one(".international").get_text(" ", strip=True)
    assert line.startswith("International (UN, not a place)") and "legal" in line
    assert "Single Convention on Narcotic Drugs 1961" in line and "checked 2021-12-07" in line


def test_page_in_headless_chromium(
    page: Path, browser: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    browser.get(page.as_uri())
    tiles = browser.find_elements(By.CSS_SELECTOR, ".us-grid .tile.state")
    assert len(tiles) == 51 and all(t.is_displayed() for t in tiles)
    assert browser.execute_script("return typeof window.__pwned") == "undefined"
    assert browser.execute_script("return document.images.length") == 0
    # The search box filters the table (the inline script ran under the CSP).
    box = browser.find_element(By.ID, "q")
    box.send_keys("rhode")
    assert browser.find_element(By.ID, "shown").text == "1"
    visible = [
        r for r in browser.find_elements(By.CSS_SELECTOR, "#places tbody tr") if r.is_displayed()
    ]
    assert len(visible) == 1 and "Rhode Island" in visible[0].text
    box.clear()
    box.send_keys("tupelo")  # a city of the research
    assert browser.find_element(By.ID, "shown").text == "1"
    row = next(
        r for r in browser.find_elements(By.CSS_SELECTOR, "#places tbody tr") if r.is_displayed()
    )
    assert "Tupelo" in row.text and "Banned" in row.text and "unverified" in row.text
    box.clear()
    international = browser.find_element(By.CSS_SELECTOR, ".international")
    assert international.is_displayed() and "not a place" in international.text
    # A tile opens its place's details.
    browser.find_element(By.CSS_SELECTOR, '.tile[data-code="US-NV"]').click()
    details = browser.find_element(By.ID, "p-US-NV")
    WebDriverWait(browser, 10).until(lambda _: details.get_attribute("open") is not None)
    assert EVIL_CITATION in details.text  # shown as text
    assert errors(browser) == []
    browser.execute_script("window.scrollTo(0, 0); location.hash = '';")
    path = shot(browser, "status-page")
    assert not re.match(str(Path(__file__).resolve().parent.parent), str(path.resolve()))
    with capsys.disabled():
        print(f"\nstatus page screenshot: {path}")
