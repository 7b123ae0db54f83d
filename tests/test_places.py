from __future__ import annotations

import pycountry
import pytest

from tracker.errors import AmbiguousPlace, PlaceNotFound
from tracker.law import places
from tracker.storage.engine import Database

SAN_DIEGO = "ocd-division/country:us/state:ca/place:san_diego"
US_TERRITORIES = {"AS", "GU", "MP", "PR", "UM", "VI"}


def test_every_country_and_us_subdivision_comes_from_pycountry(empty_db: Database) -> None:
    with empty_db.read() as conn:
        all_places = {p.code: p for p in places.all_places(conn)}
    countries = {c.alpha_2 for c in pycountry.countries}
    subdivisions = {s.code for s in pycountry.subdivisions.get(country_code="US")}
    assert countries - US_TERRITORIES <= set(all_places)
    assert subdivisions <= set(all_places)
    assert len(subdivisions) == 57  # 50 states, DC and six outlying areas
    assert all_places["US-AL"].parent_code == "US"
    assert all_places["US-AL"].fips == "01"
    assert all_places["US-DC"].kind == "district"
    assert all_places["US-PR"].kind == "territory"
    assert all_places["US-CA"].ocd_id == "ocd-division/country:us/state:ca"
    assert all_places[SAN_DIEGO].parent_code == "US-CA"
    assert all_places[SAN_DIEGO].kind == "city"


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("US-AL", "US-AL"),
        ("us-al", "US-AL"),
        ("Alabama", "US-AL"),
        ("ALABAMA", "US-AL"),
        ("ocd-division/country:us/state:al", "US-AL"),
        ("TH", "TH"),
        ("tha", "TH"),
        ("thailand", "TH"),
        ("Kingdom of Thailand", "TH"),
        ("US", "US"),
        ("federal", "US"),
        ("San Diego", SAN_DIEGO),
        (SAN_DIEGO.upper(), SAN_DIEGO),
        ("san diego, ca", SAN_DIEGO),
        ("Sarasota County", "ocd-division/country:us/state:fl/county:sarasota"),
        ("PR", "US-PR"),
        ("Puerto Rico", "US-PR"),
        ("cote d'ivoire", "CI"),
    ],
)
def test_resolve(empty_db: Database, text: str, code: str) -> None:
    with empty_db.read() as conn:
        assert places.resolve(conn, text).code == code


def test_ambiguous_code_lists_candidates(empty_db: Database) -> None:
    with empty_db.read() as conn, pytest.raises(AmbiguousPlace) as err:
        places.resolve(conn, "AL")
    text = str(err.value)
    assert "Alabama (US-AL)" in text and "Albania (AL)" in text
    assert err.value.exit_code == 2


def test_unknown_place_suggests_at_most_three(empty_db: Database) -> None:
    with empty_db.read() as conn, pytest.raises(PlaceNotFound) as err:
        places.resolve(conn, "Alabma")
    assert 1 <= len(err.value.suggestions) <= 3
    assert err.value.suggestions[0] == "Alabama (US-AL)"


def test_chain_and_descendants(empty_db: Database) -> None:
    with empty_db.read() as conn:
        assert [p.code for p in places.chain(conn, SAN_DIEGO)] == [SAN_DIEGO, "US-CA", "US"]
        below = places.descendants(conn, "US")
        assert {"US", "US-CA", SAN_DIEGO, "US-PR"} <= below
        assert "TH" not in below


def test_search(empty_db: Database) -> None:
    with empty_db.read() as conn:
        found = [p.code for p in places.search(conn, "georgia")]
    assert found[:2] == sorted(found[:2]) and {"GE", "US-GA"} <= set(found)


def test_a_city_inside_a_listed_county_has_the_county_as_parent(empty_db: Database) -> None:
    """Oxford, MS lies wholly in Lafayette County (both listed): its chain runs through the
    county, and it is still named and found by its state."""
    with empty_db.read() as conn:
        oxford = places.resolve(conn, "Oxford, MS")
        chain = [p.code for p in places.chain(conn, oxford.code)]
        denver = places.resolve(conn, "Denver County")
    county = "ocd-division/country:us/state:ms/county:lafayette"
    assert oxford.parent_code == county
    assert chain == [oxford.code, county, "US-MS", "US"]
    assert places.label(oxford) == "Oxford, MS (city)"
    assert places.short_code(oxford) == "Oxford, MS"
    assert denver.kind == "county" and places.label(denver) == "Denver, CO (county)"
