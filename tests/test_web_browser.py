"""A person's way through the public service, in a real headless Chromium against a real
daemon (`python -m tracker run`, mail written as .eml files): open the status page,
look up a ZIP code, open its place, subscribe to it, follow the confirmation link from
the mail file, change the preferences, unsubscribe. No console errors (CSP violations
would be), and a screenshot of each step in $TRACKER_TEST_ARTIFACTS."""

from __future__ import annotations

import re
import socket
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Templates
from tests.support.browser import chromium, errors, shot
from tests.support.daemons import DaemonGroup, daemon_env, sqlite_data_dir
from tests.support.waiting import wait_for as _wait
from tracker.storage.engine import Database, make_engine
from tracker.storage.tables_alerts import SUBSCRIBER


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _mail_link(folder: Path, path: str) -> str:
    """The `path` link of the newest confirmation mail in the mail folder."""

    def find() -> str | None:
        for eml in sorted(folder.glob("*.eml"), key=lambda p: p.stat().st_mtime, reverse=True):
            msg = message_from_bytes(eml.read_bytes(), policy=default)
            text = msg.get_body(("plain",)).get_content()
            found = re.search(r"(http://\S+" + re.escape(path) + r"\?token=\S+)", text)
            if found:
                return found.group(1)
        return None

    return str(_wait(f"a mail with a {path} link", find))


def _subscriber(db: Database, email: str) -> Any:
    with db.read() as conn:
        return conn.execute(sa.select(SUBSCRIBER).where(SUBSCRIBER.c.email == email)).first()


@pytest.mark.slow
def test_a_person_finds_a_place_subscribes_and_unsubscribes(
    tmp_path: Path, templates: Templates, capsys: pytest.CaptureFixture[str]
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    data = sqlite_data_dir(tmp_path, templates.sqlite_loaded)
    port = _free_port()
    env = daemon_env(
        data_dir=data,
        http_port=port,
        public_url=f"http://127.0.0.1:{port}",
        dispatch_poll=0.5,
        export_poll=0,
    )
    db = Database(make_engine(f"sqlite:///{data / 'tracker.db'}"))
    shots: list[Path] = []
    with DaemonGroup(tmp_path) as group, chromium(tmp_path) as browser:
        d = group.start("web", env).wait_ready()
        # 1. The status page, with its search box.
        browser.get(d.base + "/")
        assert len(browser.find_elements(By.CSS_SELECTOR, ".us-grid .tile.state")) == 51
        shots.append(shot(browser, "web-1-status-page"))
        # 2. A ZIP code in the search box.
        box = browser.find_element(By.ID, "site-q")
        box.send_keys("38801")
        box.submit()
        _wait("the ZIP page", lambda: "/zip/38801" in browser.current_url)
        assert "Tupelo, Lee County, US-MS" in browser.find_element(By.TAG_NAME, "main").text
        shots.append(shot(browser, "web-2-zip-38801"))
        # 3. Its place.
        browser.find_element(By.CSS_SELECTOR, "a.place-link").click()
        _wait("the place page", lambda: "/places/" in browser.current_url)
        assert browser.find_element(By.TAG_NAME, "h1").text.endswith("Tupelo, MS (city)")
        assert "Every level" in browser.page_source
        shots.append(shot(browser, "web-3-place-tupelo"))
        # 4. Subscribe to it.
        browser.find_element(By.LINK_TEXT, "Subscribe to this place").click()
        places = browser.find_element(By.NAME, "places")
        assert places.get_attribute("value") == "ocd-division/country:us/state:ms/place:tupelo"
        browser.find_element(By.NAME, "email").send_keys("reader@example.org")
        browser.find_element(By.CSS_SELECTOR, "input[name=cadence][value=daily]").click()
        Select(browser.find_element(By.NAME, "hour")).select_by_value("7")
        tz = browser.find_element(By.NAME, "tz")
        tz.clear()
        tz.send_keys("America/Chicago")
        shots.append(shot(browser, "web-4-subscribe-form"))
        browser.find_element(By.CSS_SELECTOR, "form.stack button[type=submit]").click()
        _wait("the answer", lambda: "Check your mail" in browser.page_source)
        assert _subscriber(db, "reader@example.org").status == "pending"
        shots.append(shot(browser, "web-5-check-your-mail"))
        # 5. The confirmation link, from the .eml file the daemon wrote.
        confirm = _mail_link(data / "mail", "/confirm")
        assert confirm.startswith(d.base)
        browser.get(confirm)
        assert _subscriber(db, "reader@example.org").status == "pending"  # a GET changes nothing
        browser.find_element(By.CSS_SELECTOR, "main form button").click()
        _wait("confirmed", lambda: "Subscription confirmed" in browser.page_source)
        assert _subscriber(db, "reader@example.org").status == "active"
        shots.append(shot(browser, "web-6-confirmed"))
        # 6. Preferences, from the signed link in the mail.
        browser.get(_mail_link(data / "mail", "/preferences"))
        browser.find_element(By.CSS_SELECTOR, "input[name=cadence][value=weekly]").click()
        Select(browser.find_element(By.NAME, "weekday")).select_by_value("fri")
        browser.find_element(By.CSS_SELECTOR, "input[name=substance][value='7-OH']").click()
        browser.find_element(By.CSS_SELECTOR, "button[name=do][value=save]").click()
        _wait("saved", lambda: "Saved." in browser.page_source)
        row = _subscriber(db, "reader@example.org")
        assert (row.cadence, row.weekday, row.substances) == ("weekly", 4, ["7-OH"])
        shots.append(shot(browser, "web-7-preferences-saved"))
        # 7. Unsubscribe.
        browser.find_element(By.CSS_SELECTOR, "button[name=do][value=unsubscribe]").click()
        _wait("unsubscribed", lambda: "receives no more alerts" in browser.page_source)
        assert _subscriber(db, "reader@example.org").status == "unsubscribed"
        shots.append(shot(browser, "web-8-unsubscribed"))
        assert errors(browser) == []
        assert d.stop() == 0, d.errors()[-2000:]
    db.dispose()
    with capsys.disabled():
        print("\nweb screenshots:\n  " + "\n  ".join(str(p) for p in shots))
