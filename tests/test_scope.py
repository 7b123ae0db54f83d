"""A county's rule for its unincorporated area (`scope: unincorporated`) binds the county's
own land but not the cities inside it: it decides the county's answer, never a city's."""

from __future__ import annotations

from datetime import date

from tracker.law import places
from tracker.law.effective import effective
from tracker.storage.engine import Database

FRESNO_COUNTY = "ocd-division/country:us/state:ca/county:fresno"
DAY = date(2026, 6, 1)


def _answer(db: Database, name: str, substance: str = "7-OH"):  # type: ignore[no-untyped-def]
    with db.read() as conn:
        return effective(conn, places.resolve(conn, name), substance, DAY)


def test_the_county_itself_is_decided_by_its_unincorporated_rule(loaded_db: Database) -> None:
    county = _answer(loaded_db, "Fresno County")
    assert county.status == "banned"
    assert county.decided_by is not None and county.decided_by.code == FRESNO_COUNTY
    assert county.record is not None and county.record["scope"] == "unincorporated"


def test_a_city_inside_the_county_is_not(loaded_db: Database) -> None:
    city = _answer(loaded_db, "Fresno, CA")
    assert city.place.parent_code == FRESNO_COUNTY  # the county is in the city's chain
    assert city.decided_by is not None and city.decided_by.code != FRESNO_COUNTY
    assert city.status != "banned"  # the state and federal levels restrict 7-OH
    county_level = next(lvl for lvl in city.levels if lvl.place.code == FRESNO_COUNTY)
    assert county_level.status == "unknown" and county_level.record is None
    assert {r["substance"] for r in county_level.elsewhere} == {"7-OH", "kratom"}
    assert all(r["scope"] == "unincorporated" for r in county_level.elsewhere)
    assert county_level.to_dict()["elsewhere"] == county_level.elsewhere


def test_the_other_substance_line_leaves_out_what_does_not_reach_the_city(
    loaded_db: Database,
) -> None:
    """The kratom answer lists the chain's 7-OH rules beside it (`related`, the "also:"
    lines): the county's 7-OH ban for its unincorporated area is among them for the
    county, but not for a city inside it, which it does not bind."""
    county = _answer(loaded_db, "Fresno County", "kratom")
    assert [(r["place"], r["status"]) for r in county.related if r["place"] == FRESNO_COUNTY] == [
        (FRESNO_COUNTY, "banned")
    ]
    city = _answer(loaded_db, "Fresno, CA", "kratom")
    assert city.related, "the state's and the federal 7-OH rules are still listed"
    assert all(r["place"] != FRESNO_COUNTY for r in city.related), city.related


def test_a_countywide_rule_still_reaches_its_cities(loaded_db: Database) -> None:
    """Only scoped rules stay out: Lafayette County's ordinance (no scope in the data)
    decides for Oxford, MS, a city inside the county."""
    with loaded_db.read() as conn:
        oxford = places.resolve(conn, "Oxford, MS")
        answer = effective(conn, oxford, "kratom", DAY)
    county = "ocd-division/country:us/state:ms/county:lafayette"
    assert answer.status == "banned"
    assert answer.decided_by is not None and answer.decided_by.code == county
    assert answer.record is not None and answer.record["scope"] is None
    county_level = next(lvl for lvl in answer.levels if lvl.place.code == county)
    assert county_level.elsewhere == []


def test_the_cli_says_where_the_rule_does_not_reach(cli, loaded_url: str, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)
    city = cli("status", "Fresno, CA", "--substance", "7-OH", "--as-of", DAY.isoformat())
    assert city.code == 0, city.err
    assert "not here: unincorporated area only" in city.out
    county = cli("status", "Fresno County", "--substance", "7-OH", "--as-of", DAY.isoformat())
    assert "applies in the unincorporated area only" in county.out
