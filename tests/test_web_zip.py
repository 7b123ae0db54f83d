"""ZIP look-up (`tracker.law.zips`): a ZIP's city and county matched to the places with
rules of their own, the most restrictive level winning, and what the data cannot settle
said in the answer. Through the real CLI (`tracker status 38801`) and the API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tracker.law import zips
from tracker.storage.engine import Database
from tracker.timeutil import utcnow

TUPELO = "ocd-division/country:us/state:ms/place:tupelo"
SAN_DIEGO = "ocd-division/country:us/state:ca/place:san_diego"


@pytest.fixture
def env(loaded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)
    return loaded_url


def _record_tupelo_ban(cli: Any) -> None:
    """An ordinance for Tupelo, written by the test (the shipped record comes with the
    local research data, issue 10)."""
    done = cli(
        "record", "Tupelo", "banned",
        "--from", "2019-01-01",
        "--citation", "Test ordinance 2019-01 (written by this test)",
        "--source", "https://city.example/ordinance-2019-01",
        "--type", "ordinance",
    )  # fmt: skip
    assert done.code == 0, done.err


def test_the_zip_data_places_38801_in_tupelo(loaded_db: Database) -> None:
    with loaded_db.read() as conn:
        area = zips.lookup(conn, "38801")
    assert (area.city, area.county, area.state) == ("Tupelo", "Lee County", "US-MS")
    assert area.place.code == TUPELO and not area.ambiguous
    # Lee County has no rules of its own here: the city, then the state chain.
    assert [p.code for p in area.levels] == [TUPELO, "US-MS", "US"]
    assert any("do not follow city limits" in n for n in area.notes)


@pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)
def test_tracker_status_38801_says_banned_by_tupelo(env: str, cli: Any) -> None:
    before = json.loads(cli("status", "38801", "--json").out)["results"][0]
    # The shipped data's Tupelo ordinance decides; the test's own record then replaces it.
    assert before["status"] == "banned" and before["decided_by"]["code"] == TUPELO
    assert not before["record"]["instrument"]["citation"].startswith("Test ordinance")
    _record_tupelo_ban(cli)
    text = cli("status", "38801")
    assert text.code == 0, text.err
    assert "ZIP 38801: Tupelo, Lee County, US-MS" in text.out
    assert "BANNED  decided by Tupelo, MS (city), city level" in text.out
    doc = json.loads(cli("status", "38801", "--json").out)
    (answer,) = doc["results"]
    assert answer["status"] == "banned"
    assert answer["decided_by"]["code"] == TUPELO and answer["decided_by"]["level"] == "city"
    assert answer["record"]["instrument"]["citation"].startswith("Test ordinance 2019-01")
    assert answer["zip"]["code"] == "38801" and answer["zip"]["matched"] == [TUPELO]
    # ZIP+4, the place by name, and a ZIP beside a place in one command.
    both = json.loads(cli("status", "38801-4321", "Tupelo", "--json").out)["results"]
    assert [r["status"] for r in both] == ["banned", "banned"]
    assert "zip" in both[0] and "zip" not in both[1]


@pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)
def test_must_show_shipped_data_tracker_status_38801_is_banned_by_tupelo(
    env: str, cli: Any
) -> None:
    result = cli("status", "38801")
    assert result.code == 0, result.err
    assert "BANNED  decided by Tupelo, MS (city), city level" in result.out


def test_another_city_name_with_rules_makes_the_answer_ambiguous(loaded_db: Database) -> None:
    # 92118 is Coronado's; the post office also accepts "San Diego", whose ordinance bans kratom.
    with loaded_db.read() as conn:
        area = zips.lookup(conn, "92118")
        answer = zips.effective_zip(conn, area, "kratom", utcnow().date(), None)
    assert area.ambiguous and [p.code for p in area.alternatives] == [SAN_DIEGO]
    assert area.place.code == "US-CA"  # Coronado has no rules of its own: not guessed
    assert any(n.startswith("ambiguous: ZIP 92118 is also used for San Diego") for n in area.notes)
    assert answer.status == "banned" and answer.decided_by is not None
    assert answer.decided_by.code == SAN_DIEGO  # counted in case the address lies there
    d = zips.answer_dict(area, answer)
    assert d["zip"]["ambiguous"] is True and d["zip"]["alternatives"] == [SAN_DIEGO]


@pytest.mark.parametrize(
    ("code", "words"),
    [
        ("38802", "po box code: it locates a post office"),
        ("34231", "one county per ZIP (Sarasota County)"),
    ],
)
def test_notes_say_what_the_data_cannot(loaded_db: Database, code: str, words: str) -> None:
    with loaded_db.read() as conn:
        area = zips.lookup(conn, code)
    assert any(words in n for n in area.notes), area.notes


def test_a_listed_county_decides_for_its_zip(loaded_db: Database) -> None:
    with loaded_db.read() as conn:
        area = zips.lookup(conn, "34231")
        answer = zips.effective_zip(conn, area, "kratom", utcnow().date(), None)
    assert area.place.code == "ocd-division/country:us/state:fl/county:sarasota"
    assert answer.status == "banned" and answer.decided_by == area.place


@pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("arg", "words"),
    [
        ("00000", "unknown ZIP code: '00000'"),
        ("09001", "military mail code"),
        ("38899", "Nearby ZIP codes in use: 388"),
    ],
)
def test_bad_zip_codes_are_clear_errors(env: str, cli: Any, arg: str, words: str) -> None:
    result = cli("status", arg)
    assert result.code == 2
    assert words in result.err
