"""Places under review in every export: the JSON and CSV exports, the shipping lists and
the status page (opened in a real headless Chromium), for the place whose official page
changed and for the places its answer decides."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import errors, shot
from tracker.export import export
from tracker.law import review
from tracker.storage.engine import Database
from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE
from tracker.timeutil import utcnow

pytestmark = pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)


def _open_item(db: Database, place: str) -> int:
    """A relevant change of a watched page of `place`, and its open review item."""
    now = utcnow()
    with db.write() as conn:
        source_id = conn.execute(
            SOURCE.insert()
            .values(
                key=f"{place.lower()}-page", origin="operator", place_code=place, title="Act",
                url="https://example.org/act", host="https://example.org", kind="html",
                spec={}, spec_hash="x", active=True, next_check_at=now, failures=0,
                failing=False, created_at=now,
            )
            .returning(SOURCE.c.id)
        ).scalar_one()  # fmt: skip
        change_id = conn.execute(
            PAGE_CHANGE.insert()
            .values(
                source_id=source_id, place_code=place, detected_at=now, old_sha="a",
                new_sha="b", importance="relevant", keywords=["kratom"], added=1, removed=0,
                too_large=False,
            )
            .returning(PAGE_CHANGE.c.id)
        ).scalar_one()  # fmt: skip
        item = review.open_item(
            conn, change_id=change_id, place_code=place, source_id=source_id,
            keywords=["kratom"], now=now,
        )  # fmt: skip
    assert item is not None
    return item


def _text(db: Database, fmt: str, tmp_path: Path, suffix: str = "") -> str:
    out = tmp_path / f"export-{fmt}{suffix or '.txt'}"
    export(db, fmt, out)
    return out.read_text(encoding="utf-8")


def test_exports_carry_under_review(loaded_db: Database, tmp_path: Path) -> None:
    item = _open_item(loaded_db, "US-AL")  # Alabama bans kratom: on the do-not-ship list
    doc = json.loads(_text(loaded_db, "json", tmp_path, ".json"))
    by_code = {p["place"]["code"]: p for p in doc["places"]}
    al = by_code["US-AL"]["under_review"]
    assert al["items"][0]["id"] == item and al["items"][0]["keywords"] == ["kratom"]
    assert by_code["US-RI"]["under_review"] is None
    rows = {r["code"]: r for r in csv.DictReader(io.StringIO(_text(loaded_db, "csv", tmp_path)))}
    assert rows["US-AL"]["under_review_since"] == al["since"]
    assert rows["US-AL"]["review_items"].startswith(f"#{item} change #")
    assert rows["US-RI"]["under_review_since"] == ""
    ship = json.loads(_text(loaded_db, "shipping", tmp_path, ".json"))
    (al_row,) = [r for r in ship["do_not_ship"] if r["code"] == "US-AL"]
    assert al_row["under_review_since"] == al["since"]
    ship_csv = list(csv.DictReader(io.StringIO(_text(loaded_db, "shipping", tmp_path))))
    assert "under_review_since" in ship_csv[0]


def test_status_page_marks_places_under_review(
    loaded_db: Database,
    tmp_path: Path,
    browser: Any,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    _open_item(loaded_db, "US-RI")
    page = tmp_path / "status.html"
    export(loaded_db, "html", page)
    browser.get(page.as_uri())
    tile = browser.find_element(By.CSS_SELECTOR, '.tile[data-code="US-RI"]')
    assert tile.get_attribute("data-review") == "open"
    assert "(under review)" in tile.get_attribute("title")
    assert (
        browser.find_element(By.CSS_SELECTOR, '.tile[data-code="US-AL"]').get_attribute(
            "data-review"
        )
        is None
    )
    box = browser.find_element(By.ID, "q")
    box.send_keys("under review")  # the search finds places under review
    visible = [
        r for r in browser.find_elements(By.CSS_SELECTOR, "#places tbody tr") if r.is_displayed()
    ]
    assert visible and all("under review" in r.text for r in visible)
    assert any(r.text.startswith("Rhode Island") for r in visible)
    assert browser.find_element(By.ID, "shown").text == str(len(visible))
    box.clear()
    tile.click()
    details = browser.find_element(By.ID, "p-US-RI")
    WebDriverWait(browser, 10).until(lambda _: details.get_attribute("open") is not None)
    note = details.find_element(By.CSS_SELECTOR, ".review-note")
    assert note.is_displayed() and re.search(r"Under review since \d{4}-\d\d-\d\d", note.text)
    assert "change #" in note.text and "us-ri-page" in note.text
    assert errors(browser) == []
    path = shot(browser, "status-page-under-review")
    with capsys.disabled():
        print(f"\nstatus page (under review) screenshot: {path}")
