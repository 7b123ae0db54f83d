"""The review loop end to end, through the real `tracker` entry point, against a real local
HTTP server (the official page), a real SMTP server (aiosmtpd) and a real webhook
receiver: a watched page gains a kratom clause -> one relevant change, one review item,
`status` says under review -> `tracker record ... --change N` closes the item and one
`status_changed` event with the printed before and after reaches an immediate subscriber
and a webhook -> the page reverts -> one alert says so (and further flips say nothing).
Then the other ways out of the loop: dismissal, its history, stale records, bad input."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Templates, use_loaded_copy
from tests.support.mail import MailServer
from tests.support.pages import PageServer
from tests.support.receivers import WebhookReceiver

STATUTE = (Path(__file__).resolve().parent / "data" / "pages" / "statute.html").read_text()
CLAUSE = (
    "<p>(e) No person shall sell, distribute or offer for sale a product containing "
    "concentrated 7-hydroxymitragynine (7-OH) in this state.</p>"
)
WITH_CLAUSE = STATUTE.replace("<p>(d) The license fee", CLAUSE + "\n<p>(d) The license fee")
AUTH = ("alerts", "s3cret")


@dataclass
class Loop:
    cli: Any
    site: PageServer
    mail: MailServer
    hooks: WebhookReceiver
    db_url: str

    def run(self, *args: str) -> Any:
        result = self.cli(*args)
        assert result.code == 0, (args, result.out, result.err)
        return result

    def json(self, *args: str) -> Any:
        return json.loads(self.run(*args, "--json").out)

    def deliver(self) -> None:
        self.run("outbox", "send")

    def events(self, kind: str) -> list[Any]:
        engine = sa.create_engine(self.db_url)
        with engine.connect() as conn:
            rows = list(
                conn.execute(
                    sa.text(
                        "SELECT id, kind, title, payload FROM event WHERE kind = :k ORDER BY id"
                    ),
                    {"k": kind},
                )
            )
        engine.dispose()
        return rows


@pytest.fixture
def loop(
    cli: Any, templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Loop]:
    with (
        PageServer() as site,
        MailServer(tmp_path, tls="starttls", auth=AUTH) as mail,
        WebhookReceiver() as hooks,
    ):
        db = use_loaded_copy(
            templates,
            tmp_path,
            monkeypatch,
            allow_loopback="1",
            host_delay="0",
            fetch_timeout="2",
            fetch_retries="0",
            shipped_sources="false",  # only the page of this test is watched
            mail_from="alerts@tracker.test",
            retry_delays="1s",
            **{k: str(v) for k, v in mail.settings().items()},
        )
        site.page("/ri", STATUTE)
        yield Loop(cli, site, mail, hooks, f"sqlite:///{db}")


def test_a_kratom_clause_goes_round_the_loop(loop: Loop) -> None:
    added = loop.run(
        "sources", "add", "US-RI", loop.site.url("/ri"), "--select", "main", "--key", "ri-act"
    )
    assert "added ri-act" in added.out
    assert loop.json("check")["results"][0]["outcome"] == "baseline"
    loop.run("subscribe", "alice@example.org", "--place", "US-RI", "--confirmed")
    hook = loop.run("webhooks", "add", loop.hooks.url, "--place", "US-RI")
    loop.hooks.secrets = [hook.out.split("shown once): ")[1].split()[0]]

    # 1. The page gains a clause: one relevant change, one review item, under review.
    loop.site.page("/ri", WITH_CLAUSE)
    (result,) = loop.json("check")["results"]
    assert result["outcome"] == "changed" and result["importance"] == "relevant"
    assert result["keywords"] == ["7-hydroxymitragynine", "7-OH"]
    change = result["change_id"]
    (item,) = loop.json("review")["items"]
    assert item["place"] == "US-RI" and item["change"]["id"] == change
    assert item["state"] == "open" and item["source"]["key"] == "ri-act"
    status = loop.run("status", "US-RI", "--substance", "7-OH").out
    assert "UNDER REVIEW since" in status and f"item #{item['id']}: change #{change}" in status
    (answer,) = loop.json("status", "US-RI")["results"]
    assert answer["under_review"]["items"][0]["change"] == change
    export = json.loads(loop.run("export", "--format", "json").out)
    (ri,) = [p for p in export["places"] if p["place"]["code"] == "US-RI"]
    assert ri["under_review"]["items"][0]["id"] == item["id"]

    loop.deliver()
    (first,) = loop.mail.messages
    assert first["Subject"] == (
        "Official page changed (relevant; mentions 7-hydroxymitragynine, 7-OH): "
        "Rhode Island: ri (127.0.0.1) changed"
    )
    body = first.get_body(("plain",)).get_content()
    assert body.startswith("Official page changed (relevant;")
    assert f"under review: item #{item['id']}" in body

    # 2. Recorded with the change as evidence: the item closes, one event, the right
    #    before and after, to the subscriber and to the webhook.
    events_before = len(loop.events("status_changed"))
    recorded = loop.json(
        "record",
        "US-RI",
        "banned",
        "--substance",
        "7-OH",
        "--from",
        "2026-12-01",
        "--citation",
        "R.I. Gen. Laws § 21-28.12-5(e)",
        "--change",
        str(change),
        "--by",
        "reviewer@example",
    )
    assert recorded["reviews_closed"] == [item["id"]] and recorded["change"] == change
    (before,) = [a for a in recorded["before"] if a["as_of"] == "2026-12-01"]
    (after,) = [a for a in recorded["after"] if a["as_of"] == "2026-12-01"]
    # The federal level restricts 7-OH products (FDA's position): stricter than the state's
    # kratom act, so it was the answer before.
    assert (before["status"], before["min_age"]) == ("restricted", None)
    assert (after["status"], after["min_age"]) == ("banned", None)
    source = after["record"]["source"]
    assert source["url"] == loop.site.url("/ri") and source["tier"] == "secondary"
    assert "7-hydroxymitragynine (7-OH)" in source["quote"]
    assert loop.json("review")["items"] == []
    (closed,) = loop.json("review", "--closed")["items"]
    assert closed["state"] == "recorded" and closed["closed_by"] == "reviewer@example"
    assert (
        closed["record_id"] == recorded["inserted"][0] and closed["event_id"] == recorded["event"]
    )
    assert "UNDER REVIEW" not in loop.run("status", "US-RI", "--substance", "7-OH").out

    loop.deliver()
    status_mails = [m for m in loop.mail.messages if m["Subject"].startswith("Status changed")]
    (mail,) = status_mails
    assert mail["Subject"] == (
        "Status changed (major): Rhode Island: 7-OH restricted -> banned from 2026-12-01"
    )
    assert "restricted -> banned (7-OH)" in mail.get_body(("plain",)).get_content()
    hooks = [r.payload for r in loop.hooks.requests if r.payload["type"] == "status_changed"]
    (hook_body,) = hooks
    data = hook_body["data"]
    assert data["event_id"] == recorded["event"]
    assert (data["old_status"], data["old_min_age"]) == ([before["status"]], before["min_age"])
    assert (data["new_status"], data["min_age"]) == (after["status"], after["min_age"])
    assert all(r.verified_with == [0] for r in loop.hooks.requests)
    (event,) = loop.events("status_changed")[events_before:]
    assert event.id == recorded["event"]
    assert json.loads(event.payload)["answers"] == [
        {"before": _brief(b), "after": _brief(a)}
        for b, a in zip(recorded["before"], recorded["after"], strict=True)
    ]

    # 3. The page reverts: one alert says the clause is gone; further flips say nothing.
    loop.site.page("/ri", STATUTE)
    (undo,) = loop.json("check")["results"]
    assert undo["outcome"] == "reverted" and undo["reverts"] == change
    loop.deliver()
    reverted = [m for m in loop.mail.messages if "changed back" in m["Subject"]]
    (back,) = reverted
    assert back["Subject"].startswith("Official page changed (relevant; mentions ")
    assert f"change #{change} undone" in back["Subject"]
    assert f"change #{change} is undone" in back.get_body(("plain",)).get_content()
    undone = [r for r in loop.hooks.requests if r.payload["data"].get("reverts_change_id")]
    assert [r.payload["data"]["reverts_change_id"] for r in undone] == [change]
    # The recorded ban rested on the clause: the reversal is a review item of its own.
    (again,) = loop.json("review")["items"]
    assert again["change"]["reverts"] == change
    count = len(loop.mail.messages)
    for body in (WITH_CLAUSE, STATUTE, WITH_CLAUSE):
        loop.site.page("/ri", body)
        assert loop.json("check")["results"][0]["outcome"] == "reverted"
    loop.deliver()
    assert len(loop.mail.messages) == count == 3
    assert len(loop.events("page_changed")) == 2


def _brief(answer: dict[str, Any]) -> dict[str, Any]:
    decided = answer["decided_by"]
    return {
        "as_of": answer["as_of"],
        "status": answer["status"],
        "min_age": answer["min_age"],
        "decided_by": decided["code"] if decided else None,
    }


def test_dismissal_history_and_verification(loop: Loop) -> None:
    loop.run("sources", "add", "US-RI", loop.site.url("/ri"), "--key", "ri-act")
    loop.run("check")
    loop.site.page("/ri", WITH_CLAUSE)
    loop.run("check")
    (item,) = loop.json("review", "US")["items"]  # US includes its states
    assert loop.json("review", "TH")["items"] == []
    shown = loop.run("review", str(item["id"])).out
    assert f"--change {item['change']['id']}" in shown and "--dismiss" in shown

    bad = loop.cli("review", str(item["id"]), "--dismiss", "  ")
    assert bad.code == 2 and "needs a reason" in bad.err
    done = loop.json("review", str(item["id"]), "--dismiss", "only renumbers (e)", "--by", "ops")
    assert done["item"]["state"] == "dismissed" and done["item"]["reason"] == "only renumbers (e)"
    again = loop.cli("review", str(item["id"]), "--dismiss", "twice")
    assert again.code == 2 and "already closed (dismissed by ops" in again.err
    (closed,) = loop.json("review", "--closed")["items"]
    assert (closed["closed_by"], closed["state"]) == ("ops", "dismissed")

    # The dismissal counts as a verification of Rhode Island's record.
    export = json.loads(loop.run("export", "--format", "json").out)
    (ri,) = [p for p in export["places"] if p["place"]["code"] == "US-RI"]
    assert ri["under_review"] is None and ri["last_verified"] == closed["closed_at"]
    stale = loop.json("review", "--stale")
    assert stale["stale_days"] == 365
    assert "US-RI" not in {r["place"] for r in stale["records"] if r["substance"] == "kratom"}


def test_stale_records_follow_the_setting(loop: Loop, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACKER_STALE_DAYS", "0")
    stale = loop.json("review", "--stale", "US-RI")
    assert stale["stale_days"] == 0
    assert {r["place"] for r in stale["records"]} == {"US-RI"}
    assert all(r["age_days"] >= 0 and r["last_verified"] for r in stale["records"])
    monkeypatch.setenv("TRACKER_STALE_DAYS", "100000")
    # Only records never verified remain: their page is undated and nothing confirmed them.
    never = loop.json("review", "--stale")["records"]
    assert never and all(r["last_verified"] is None and r["age_days"] is None for r in never)
    assert "US-RI" not in {r["place"] for r in never}
    shown = loop.run("review", "--stale")
    assert shown.code == 0 and " never " in shown.out and "or never" in shown.out
    assert "no record is older" in loop.run("review", "--stale", "US-RI").out


RECORD_RI = ["record", "US-RI", "banned", "--from", "2026-12-01", "--citation", "X"]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["review", "12345"], "no review item #12345"),
        (["review", "US-RI", "--dismiss", "x"], "--dismiss needs a review item number"),
        (["review", "Nowhereland"], "unknown place"),
        (RECORD_RI, "missing --source"),
        ([*RECORD_RI, "--change", "x"], "invalid --change"),
        ([*RECORD_RI, "--change", "99"], "no change #99"),
        ([*RECORD_RI, "--change", "9" * 25], "invalid --change"),  # not "internal error"
        (["review", "9" * 25], "invalid review item"),
    ],
)
def test_bad_input_exits_2_and_writes_nothing(loop: Loop, args: list[str], message: str) -> None:
    before = len(loop.events("status_changed"))
    result = loop.cli(*args)
    assert result.code == 2 and message in result.err, result.err
    assert len(loop.events("status_changed")) == before
    as_json = loop.cli(*args, "--json")
    error = json.loads(as_json.err)["error"]
    assert as_json.code == 2 and message in error["message"] and error["exit_code"] == 2
