"""Self-service subscriptions on a real local server: double opt-in through the mail
(.eml files), the same answer for every address, CSRF on every form, rate limits kept
in the database (shared by replicas), suppression, and the preferences page reached
from the signed link in every mail."""

from __future__ import annotations

import re
from collections.abc import Iterator
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa
from bs4 import BeautifulSoup

from tests.support.alerting import Clock, dispatcher, make_settings, record
from tests.support.web import PublicSite
from tracker.settings import Settings
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import OUTBOX, SUBSCRIBER, SUPPRESSION
from tracker.storage.tables_web import WEB_RATE

pytestmark = pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(
        data_dir=str(tmp_path / "data"),
        public_url="http://tracker.test",
        web_mail_per_address=2,
        web_mail_per_client=6,
    )


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def site(loaded_db: Database, settings: Settings, clock: Clock) -> Iterator[PublicSite]:
    with PublicSite(loaded_db, settings, clock=clock) as s:
        yield s


def _csrf(page: Any) -> str:
    field = BeautifulSoup(page.text, "html.parser").find("input", attrs={"name": "csrf"})
    assert field is not None, page.text
    return str(field["value"])


def _subscribe(site: PublicSite, email: str, **fields: Any) -> Any:
    token = _csrf(site.get("/subscribe"))
    data = {"csrf": token, "email": email, "places": "US-AL", "cadence": "immediate"}
    data.update(fields)
    return site.post("/subscribe", data)


def _row(db: Database, email: str) -> Any:
    with db.read() as conn:
        return conn.execute(sa.select(SUBSCRIBER).where(SUBSCRIBER.c.email == email)).first()


def _queued(db: Database, email: str, purpose: str) -> int:
    with db.read() as conn:
        return int(
            conn.execute(
                sa.select(sa.func.count())
                .select_from(OUTBOX)
                .where(OUTBOX.c.recipient == email, OUTBOX.c.purpose == purpose)
            ).scalar_one()
        )


def _deliver(db: Database, settings: Settings, clock: Clock) -> list[Any]:
    """Send what is due, as the daemon does (no smtp_host: .eml files); the messages."""
    dispatcher(db, settings, clock).run()
    folder = settings.data_path / "mail"
    return [
        message_from_bytes(p.read_bytes(), policy=default) for p in sorted(folder.glob("*.eml"))
    ]


def _link(message: Any, path: str, base: str) -> str:
    """The link to `path` in a mail, pointed at the test server."""
    text = message.get_body(("plain",)).get_content()
    found = re.search(r"http://tracker\.test(" + re.escape(path) + r"\?token=\S+)", text)
    assert found, text
    return base + found.group(1)


def _main(answer: Any) -> str:
    return BeautifulSoup(answer.text, "html.parser").main.get_text(" ", strip=True)


def test_double_opt_in_through_the_mail(
    site: PublicSite, loaded_db: Database, settings: Settings, clock: Clock
) -> None:
    answer = _subscribe(
        site,
        "Ann@Example.org",
        places="US-AL, Tupelo",
        cadence="daily",
        hour="7",
        tz="America/Chicago",
    )
    assert answer.status_code == 200 and "Check your mail" in answer.text
    row = _row(loaded_db, "ann@example.org")
    assert row.status == "pending" and row.cadence == "daily" and row.hour == 7
    assert row.place_specs == ["US-AL", "Tupelo"] and row.tz == "America/Chicago"
    (mail,) = _deliver(loaded_db, settings, clock)
    assert mail["To"].addresses[0].addr_spec == "ann@example.org"
    confirm = _link(mail, "/confirm", site.url)
    page = site.get(urlsplit(confirm).path + "?" + urlsplit(confirm).query)
    assert page.status_code == 200 and _row(loaded_db, "ann@example.org").status == "pending"
    done = site.post(urlsplit(confirm).path + "?" + urlsplit(confirm).query)
    assert "Subscription confirmed" in done.text
    assert _row(loaded_db, "ann@example.org").status == "active"


def test_the_same_answer_for_every_address(
    site: PublicSite, loaded_db: Database, settings: Settings, clock: Clock
) -> None:
    # known and active ...
    _subscribe(site, "old@example.org")
    with loaded_db.write() as conn:
        conn.execute(SUBSCRIBER.update().values(status="active"))
    # ... suppressed (unsubscribed) ...
    _subscribe(site, "gone@example.org")
    with loaded_db.write() as conn:
        from tracker.alerts import subscriptions

        subscriptions.unsubscribe(conn, "gone@example.org")
    answers = {
        email: _main(_subscribe(site, email)).replace(email, "ADDRESS")
        for email in ("old@example.org", "gone@example.org", "new@example.org")
    }
    assert len(set(answers.values())) == 1, answers
    # The active one got a link to its preferences, nothing changed for it.
    assert _queued(loaded_db, "old@example.org", "manage") == 1
    assert _row(loaded_db, "old@example.org").status == "active"
    # Asking on the form is the new opt-in a suppressed address needs: a confirmation.
    assert _row(loaded_db, "gone@example.org").status == "pending"
    mails = _deliver(loaded_db, settings, clock)
    subjects = {m["To"].addresses[0].addr_spec: str(m["Subject"]) for m in mails}
    assert subjects["old@example.org"] == "Your kratom status alerts"
    assert (
        "preferences?token="
        in mails[[m["To"].addresses[0].addr_spec for m in mails].index("old@example.org")]
        .get_body(("plain",))
        .get_content()
    )


def test_a_suppressed_address_gets_no_mail_without_a_new_opt_in(
    site: PublicSite, loaded_db: Database, settings: Settings, clock: Clock
) -> None:
    _subscribe(site, "sam@example.org", places="US-AL")
    (mail,) = _deliver(loaded_db, settings, clock)
    site.post(
        urlsplit(_link(mail, "/confirm", site.url)).path
        + "?"
        + urlsplit(_link(mail, "/confirm", site.url)).query
    )
    with loaded_db.write() as conn:
        from tracker.alerts import subscriptions

        subscriptions.unsubscribe(conn, "sam@example.org")
    before = len(_deliver(loaded_db, settings, clock))
    record(loaded_db, "US-AL", "regulated", start="2026-02-01", min_age=21)
    assert len(_deliver(loaded_db, settings, clock)) == before  # suppressed: nothing
    with loaded_db.read() as conn:
        assert conn.execute(sa.select(SUPPRESSION.c.email)).scalars().all() == ["sam@example.org"]


def test_forms_without_a_valid_csrf_token_change_nothing(
    site: PublicSite, loaded_db: Database
) -> None:
    data = {"email": "eve@example.org", "places": "US-AL", "cadence": "immediate"}
    missing = site.post("/subscribe", data)
    assert missing.status_code == 403 and "nothing was changed" in missing.text
    site.get("/subscribe")  # a cookie, but a token from elsewhere
    forged = site.post(
        "/subscribe", {**data, "csrf": "1700000000.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"}
    )
    assert forged.status_code == 403
    # A token from another browser (another cookie) does not pass either.
    other = PublicSite.__new__(PublicSite)
    import requests

    other.session, other.url = requests.Session(), site.url
    stolen = _csrf(other.get("/subscribe"))
    assert site.post("/subscribe", {**data, "csrf": stolen}).status_code == 403
    assert _row(loaded_db, "eve@example.org") is None
    with loaded_db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(OUTBOX)).scalar_one() == 0


def test_bad_input_names_what_to_fix_and_keeps_what_was_typed(
    site: PublicSite, loaded_db: Database
) -> None:
    answer = _subscribe(
        site,
        "not an address",
        places="Atlantis, <b>x</b>",
        hour="25",
        tz="Mars/Olympus",
        cadence="hourly",
    )
    assert answer.status_code == 400
    problems = [
        li.get_text() for li in BeautifulSoup(answer.text, "html.parser").select(".errors li")
    ]
    text = " ".join(problems)
    for words in (
        "email address",
        "0 to 23",
        "Mars/Olympus",
        "immediate, daily or weekly",
        "Atlantis",
    ):
        assert words in text, text
    assert 'value="Atlantis, &lt;b&gt;x&lt;/b&gt;"' in answer.text
    with loaded_db.read() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(SUBSCRIBER)).scalar_one() == 0


def test_rate_limits_hold_across_replicas(
    loaded_db: Database, settings: Settings, clock: Clock, site: PublicSite
) -> None:
    # Two mails at most per address per window, whatever the replica asked.
    with PublicSite(loaded_db, settings, clock=clock) as other:
        for s in (site, other, site):
            clock.advance(seconds=1)  # outbox keys carry the time: one per request
            assert _subscribe(s, "rita@example.org").status_code == 200
    assert _queued(loaded_db, "rita@example.org", "confirm") == 2
    # Six requests per client: the seventh is refused (429), from either replica.
    with PublicSite(loaded_db, settings, clock=clock) as other:
        for n in range(3):
            assert _subscribe(other, f"p{n}@example.org").status_code == 200
        refused = _subscribe(other, "late@example.org")
    assert refused.status_code == 429 and refused.headers["Retry-After"] == "3600"
    assert _row(loaded_db, "late@example.org") is None
    with loaded_db.read() as conn:
        buckets = conn.execute(sa.select(WEB_RATE.c.bucket)).scalars().all()
    assert not any("rita" in b for b in buckets)  # addresses are kept only as hashes
    # The window passes: mail again.
    clock.advance(hours=1, seconds=1)
    assert _subscribe(site, "rita@example.org").status_code == 200
    assert _queued(loaded_db, "rita@example.org", "confirm") == 3


def test_preferences_from_the_link_in_every_mail(
    site: PublicSite, loaded_db: Database, settings: Settings, clock: Clock
) -> None:
    _subscribe(site, "pat@example.org", places="US-AL")
    (confirm_mail,) = _deliver(loaded_db, settings, clock)
    link = _link(confirm_mail, "/confirm", site.url)
    site.post(urlsplit(link).path + "?" + urlsplit(link).query)
    record(loaded_db, "US-AL", "regulated", start="2026-02-01", min_age=21)
    alert = _deliver(loaded_db, settings, clock)[-1]
    prefs = _link(alert, "/preferences", site.url)
    path = urlsplit(prefs).path + "?" + urlsplit(prefs).query
    page = site.get(path)
    assert page.status_code == 200 and "pat@example.org" in page.text
    assert page.headers["Cache-Control"] == "no-store"
    form = BeautifulSoup(page.text, "html.parser")
    assert form.find("input", attrs={"name": "places"})["value"] == "US-AL"
    saved = site.post(
        path,
        {
            "csrf": _csrf(page),
            "do": "save",
            "places": "US-*, TH",
            "cadence": "weekly",
            "hour": "18",
            "weekday": "fri",
            "tz": "Europe/Paris",
            "substance": "7-OH",
        },
    )
    assert saved.status_code == 200 and "Saved." in saved.text
    row = _row(loaded_db, "pat@example.org")
    assert (row.status, row.cadence, row.hour, row.weekday, row.tz) == (
        "active",
        "weekly",
        18,
        4,
        "Europe/Paris",
    )
    assert row.place_specs == ["US-*", "TH"] and row.substances == ["7-OH"]
    assert row.next_digest_at is not None
    # Without a valid CSRF token nothing changes.
    assert site.post(path, {"do": "unsubscribe"}).status_code == 403
    assert _row(loaded_db, "pat@example.org").status == "active"
    # Unsubscribe from the same page.
    page = site.get(path)
    gone = site.post(path, {"csrf": _csrf(page), "do": "unsubscribe"})
    assert "receives no more alerts" in gone.text
    assert _row(loaded_db, "pat@example.org").status == "unsubscribed"
    # A tampered link shows nothing about anyone.
    bad = site.get(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"))
    assert bad.status_code == 400 and "pat@example.org" not in bad.text
