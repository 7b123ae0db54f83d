"""What the alerts say after the walk-through: subjects carry importance, kratom terms and
the document (minor and relevant changes never read the same; a Federal Register document
by number, type, agency and title), digests put open reviews apart from recorded status
changes, and `tracker digest send EMAIL` sends the current digest now."""

from __future__ import annotations

import json
from pathlib import Path

from tests.test_review_loop import STATUTE, WITH_CLAUSE, Loop, loop  # noqa: F401

FEDREG = json.loads(
    (Path(__file__).resolve().parent / "data" / "pages" / "fedreg.json").read_text()
)
NEW_DOC = {
    "title": "Import Alert: Detention Without Physical Examination of Kratom",
    "type": "Notice",
    "document_number": "2026-99999",
    "html_url": "https://www.federalregister.gov/documents/2026/12/01/2026-99999/kratom",
    "publication_date": "2026-12-01",
    "effective_on": None,
    "agencies": [{"name": "Food and Drug Administration"}],
}


def test_subjects_and_digest_sections(loop: Loop) -> None:  # noqa: F811
    loop.run("sources", "add", "US-RI", loop.site.url("/ri"), "--key", "ri-act", "--title", "Act")
    loop.run("check")
    loop.run("subscribe", "carol@example.org", "--place", "US-RI", "--confirmed")
    loop.run(
        "subscribe", "bob@example.org", "--place", "US-RI", "--cadence", "daily", "--confirmed"
    )
    minor = STATUTE.replace("by rule", "by regulation")
    loop.site.page("/ri", minor)
    assert loop.json("check")["results"][0]["importance"] == "minor"
    assert loop.json("review")["items"] == []  # a minor change opens no review item
    loop.site.page("/ri", WITH_CLAUSE.replace("by rule", "by regulation"))
    assert loop.json("check")["results"][0]["importance"] == "relevant"
    loop.run(
        "record", "US-RI", "banned", "--substance", "7-OH", "--from", "2026-12-01",
        "--citation", "Test §5", "--source", "https://legislature.example/x",
    )  # fmt: skip
    loop.deliver()
    subjects = [m["Subject"] for m in loop.mail.messages if m["To"] == "carol@example.org"]
    assert subjects == [
        "Official page changed (minor; no kratom terms): Rhode Island: Act changed",
        "Official page changed (relevant; mentions 7-hydroxymitragynine, 7-OH): "
        "Rhode Island: Act changed",
        "Status changed (major): Rhode Island: 7-OH restricted -> banned from 2026-12-01",
    ]

    preview = loop.run("digest", "preview", "bob@example.org").out
    sent = loop.run("digest", "send", "bob@example.org")
    assert "sent a digest of 3 change(s) to bob@example.org" in sent.out
    (digest,) = [m for m in loop.mail.messages if m["To"] == "bob@example.org"]
    assert digest["Subject"] == (
        "Daily kratom status digest: 3 change(s) in 1 place(s), 1 under review"
    )
    assert f"Subject: {digest['Subject']}" in preview
    text = digest.get_body(("plain",)).get_content()
    recorded = text.index("STATUS CHANGES RECORDED (1)")
    review = text.index("UNDER REVIEW: AN OFFICIAL PAGE CHANGED, NO STATUS RECORDED YET (1)")
    other = text.index("OTHER CHANGES (1)")
    assert recorded < review < other
    assert text.index("restricted -> banned") < review < text.index("mentions 7-hydrox")
    assert text.index("(minor; no kratom terms)") > other
    html = digest.get_body(("html",)).get_content()
    assert "Under review: an official page changed, no status recorded yet (1)" in html

    # Sent and marked: nothing waits any more; the regular schedule is kept.
    again = loop.cli("digest", "send", "bob@example.org")
    assert again.code == 2 and "nothing is waiting" in again.err
    assert loop.cli("digest", "preview", "bob@example.org").code == 2
    subscriber = loop.json("subscribers")["subscribers"]
    (bob,) = [s for s in subscriber if s["email"] == "bob@example.org"]
    assert bob["next_digest_at"] is not None
    immediate = loop.cli("digest", "send", "carol@example.org")
    assert immediate.code == 2 and "gets no digest" in immediate.err
    unknown = loop.cli("digest", "send", "nobody@example.org")
    assert unknown.code == 2 and "not subscribed" in unknown.err


def test_a_review_closed_before_the_digest_is_not_shown_as_waiting(loop: Loop) -> None:  # noqa: F811
    loop.run("sources", "add", "US-RI", loop.site.url("/ri"), "--key", "ri-act")
    loop.run("check")
    loop.run(
        "subscribe", "dan@example.org", "--place", "US-RI", "--cadence", "weekly", "--confirmed"
    )
    loop.site.page("/ri", WITH_CLAUSE)
    loop.run("check")
    (item,) = loop.json("review")["items"]
    loop.run("review", str(item["id"]), "--dismiss", "already covered by (c)")
    shown = loop.run("digest", "preview", "dan@example.org").out
    assert "under review" not in shown.split("\n")[2]  # the subject line
    assert "OTHER CHANGES (1)" in shown and "UNDER REVIEW:" not in shown


def test_a_federal_register_alert_names_the_document(loop: Loop) -> None:  # noqa: F811
    loop.site.page("/fr", json.dumps(FEDREG), "application/json")
    loop.run("sources", "add", "US", loop.site.url("/fr"), "--kind", "federal_register",
             "--key", "fr", "--title", "Federal Register: kratom")  # fmt: skip
    loop.run("check")
    loop.run("subscribe", "eve@example.org", "--place", "US", "--confirmed")
    grown = {**FEDREG, "count": 3, "results": [*FEDREG["results"], NEW_DOC]}
    loop.site.page("/fr", json.dumps(grown), "application/json")
    (result,) = loop.json("check")["results"]
    assert result["importance"] == "relevant"
    loop.deliver()
    (mail,) = [m for m in loop.mail.messages if m["To"] == "eve@example.org"]
    assert mail["Subject"] == (
        "Official page changed (relevant; mentions kratom): United States: Federal Register: "
        "kratom changed: FR Doc. 2026-99999 (Notice, Food and Drug Administration): Import "
        "Alert: Detention Without Physical Examination of Kratom"
    )
    body = mail.get_body(("plain",)).get_content()
    assert "document: FR Doc. 2026-99999 (Notice, Food and Drug Administration)" in body
