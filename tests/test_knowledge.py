"""The shipped knowledge (jurisdictions/records/, from the December 2026 research): every
record answers as its data says, every US state and DC has a status, and the commands
show what the issue asks for (unverified marks, the deciding level, expiries, coverage).

The record files are read here with PyYAML, independently of the loader, so a loader that
dropped or changed a record is caught.
"""

from __future__ import annotations

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import CliResult
from tracker.law import places
from tracker.law.dates import PartialDate
from tracker.law.effective import effective
from tracker.paths import jurisdictions_dir
from tracker.storage.engine import Database
from tracker.timeutil import today_utc

RECORD_FILES = ("us-states.yaml", "countries.yaml", "us-local.yaml")


def shipped(key: str = "records") -> list[tuple[str, int, dict[str, Any]]]:
    """(file, index, entry) of every entry under `key` of the shipped record files."""
    out = []
    for name in RECORD_FILES:
        doc = yaml.safe_load((jurisdictions_dir() / "records" / name).read_text("utf-8"))
        out += [(name, n, entry) for n, entry in enumerate(doc.get(key) or [])]
    return out


def _pd(value: Any) -> PartialDate | None:
    return PartialDate.parse(value) if value is not None else None


def day_inside(entry: dict[str, Any]) -> date:
    """A day inside the record's valid period and before its expiry: its start, else the
    day before its end, else today."""
    start, end, expires = (_pd(entry.get(k)) for k in ("valid_from", "valid_to", "expires"))
    if start is not None:
        return start.value
    last = min((d.value for d in (end, expires) if d is not None), default=None)
    return last - timedelta(days=1) if last else today_utc()


def place_code(entry: dict[str, Any]) -> str:
    code = str(entry["jurisdiction"])
    return "US-PR" if code == "PR" else code


RECORDS = shipped()


def test_the_research_is_all_there() -> None:
    assert len(RECORDS) == 196  # with the UN entry below: the research's 197 records
    assert len(shipped("pending")) == 67
    assert [e["jurisdiction"] for _, _, e in shipped("international")] == ["UN"]
    tiers = {e["source"]["tier"] for _, _, e in RECORDS}
    assert tiers == {"A", "B", "C"}
    assert all(e["verify"] for _, _, e in RECORDS if e["source"]["tier"] == "C")


@pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)
def test_every_record_answers_as_its_data_says(loaded_db: Database) -> None:
    """Status, minimum age and citation of each record, at its own level of the chain
    (the effective answer may be decided by another level), on a day inside its period."""
    checked = 0
    with loaded_db.read() as conn:
        for name, n, entry in RECORDS:
            code = place_code(entry)
            place = places.get(conn, code)
            assert place is not None, (name, n, code)
            day = day_inside(entry)
            got = effective(conn, place, entry["substance"], day, with_pending=False)
            level = next(lvl for lvl in got.levels if lvl.place.code == code)
            where = (name, n, code, entry["substance"], day)
            assert level.record is not None, where
            rec = level.record
            assert rec["status"] == entry["status"], where
            assert rec["min_age"] == entry.get("min_age"), where
            assert rec["instrument"]["citation"] == entry["instrument"].get("citation"), where
            assert rec["substance"] == entry["substance"], where
            assert rec["verify"] == entry["verify"], where
            assert rec["checked"] == (str(entry["checked"]) if entry["checked"] else None), where
            assert rec["conditions"] == list(entry.get("conditions") or []), where
            tier = {"A": "official", "B": "secondary", "C": "vendor"}[entry["source"]["tier"]]
            assert rec["source"]["tier"] == tier, where
            checked += 1
    assert checked == len(RECORDS)


@pytest.fixture
def db_env(loaded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)
    return loaded_url


def test_no_state_or_dc_answers_unknown(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(cli("list", "--json").out)
    by_kind: dict[str, list[dict[str, Any]]] = {}
    for item in data["places"]:
        by_kind.setdefault(item["place"]["kind"], []).append(item)
    assert len(by_kind["state"]) == 50 and len(by_kind["district"]) == 1
    unknown = [
        i["place"]["code"]
        for k in ("state", "district")
        for i in by_kind[k]
        if i["status"] == "unknown"
    ]
    assert unknown == []
    countries = [i for i in by_kind["country"] if i["status"] != "unknown"]
    assert len(countries) >= 50
    local = [i for k in ("county", "city") for i in by_kind[k] if i["status"] != "unknown"]
    assert len(local) >= 45
    # The list marks unverified answers.
    ny = next(i for i in by_kind["state"] if i["place"]["code"] == "US-NY")
    assert ny["verify"] is True and ny["record"]["verify"] is True


def test_new_york_is_regulated_21_and_unverified(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    r: CliResult = cli("status", "US-NY")
    assert r.code == 0, r.err
    assert "REGULATED 21+  decided by New York (US-NY), state level" in r.out
    assert "UNVERIFIED: sources conflict" in r.out
    assert "L.2025 ch. 690" in r.out and "official · unverified" in r.out
    data = json.loads(cli("status", "US-NY", "--json").out)["results"][0]
    assert (data["status"], data["min_age"]) == ("regulated", 21)
    assert data["record"]["instrument"]["citation"].startswith("L.2025 ch. 690")
    assert data["record"]["verify"] is True and data["record"]["checked"] == "2026-01-16"
    listed = cli("list", "--in", "US-NY")
    assert "official · unverified" in listed.out


def test_tupelo_is_banned_at_city_level(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    r = cli("status", "Tupelo, MS")
    assert r.code == 0, r.err
    assert "BANNED  decided by Tupelo, MS (city), city level" in r.out
    data = json.loads(cli("status", "Tupelo, MS", "--json").out)["results"][0]
    assert data["decided_by"]["level"] == "city"
    assert data["decided_by"]["ocd_id"] == "ocd-division/country:us/state:ms/place:tupelo"
    assert [lvl["level"] for lvl in data["levels"]] == ["city", "state", "federal"]


def test_ohio_7_oh_emergency_ban_and_its_expiry(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    r = cli("status", "US-OH", "--substance", "7-OH", "--as-of", "2026-01-15")
    assert "BANNED  decided by Ohio (US-OH), state level" in r.out
    assert "expires 2026-06-10" in r.out
    data = json.loads(
        cli("status", "US-OH", "--substance", "7-OH", "--as-of", "2026-01-15", "--json").out
    )["results"][0]
    assert data["status"] == "banned" and data["record"]["expires"] == "2026-06-10"
    assert data["record"]["instrument"]["type"] == "emergency_rule"
    later = json.loads(
        cli("status", "US-OH", "--substance", "7-OH", "--as-of", "2026-06-10", "--json").out
    )["results"][0]
    assert later["status"] != "banned"
    assert later["levels"][0]["expired"][0]["expires"] == "2026-06-10"


def test_rhode_island_in_2015_is_not_banned_and_its_seed_claim_is_kept(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    r = cli("status", "US-RI", "--as-of", "2015-01-01")
    assert r.code == 0 and "BANNED" not in r.out
    assert "UNKNOWN  no record for Rhode Island (US-RI), state level" in r.out
    history = cli("history", "US-RI")
    assert "seed document: Kratom For Chronic Pain Relief" in history.out
    assert "003_5c9f9ad40f381839" in history.out and "no period" in history.out


def test_instrument_none_is_a_dated_finding(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(cli("history", "US-AK", "--json").out)["records"]
    ak = [r for r in data if r["superseded_at"] is None]
    assert ak and ak[0]["instrument"]["type"] == "none" and ak[0]["status"] == "legal"
    assert ak[0]["source"]["tier"] == "vendor" and ak[0]["verify"] is True
    assert ak[0]["checked"] == "2023-02"
    shown = cli("status", "Alaska")
    assert "vendor · unverified" in shown.out


# ---------------------------------------------------------------- coverage


def _expected_coverage(stale_days: int, today: date) -> dict[str, set[tuple[str, str]]]:
    """The record lists of `tracker coverage`, computed from the YAML files alone."""
    before = today - timedelta(days=stale_days)
    live = [
        e
        for _, _, e in RECORDS
        if e.get("valid_to") is None or PartialDate.parse(e["valid_to"]).value > today
    ]

    def key(e: dict[str, Any]) -> tuple[str, str]:
        return (place_code(e), e["substance"] + "|" + str(e.get("valid_from")))

    def stale(e: dict[str, Any]) -> bool:
        return e["checked"] is None or PartialDate.parse(e["checked"]).period_end().value <= before

    return {
        "stale": {key(e) for e in live if stale(e)},
        "unverified": {key(e) for e in live if e["verify"]},
        "vendor_only": {key(e) for e in live if e["source"]["tier"] == "C"},
    }


def test_coverage_counts_and_lists(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    r = cli("coverage", "--json")
    assert r.code == 0, r.err
    data = json.loads(r.out)
    assert data["schema"] == "tracker.cli/1" and data["stale_days"] == 365
    counts = data["counts"]
    assert sum(counts["state"].values()) == 50 and counts["state"]["unknown"] == 0
    assert counts["district"]["unknown"] == 0 and counts["federal"]["legal"] == 1
    assert sum(data["totals"].values()) == sum(sum(c.values()) for c in counts.values())
    no_record = {p["code"] for p in data["no_record"]}
    assert "US-NY" not in no_record and "AD" in no_record and "US-GU" in no_record
    assert (
        len([p for p in data["no_record"] if p["level"] == "country"])
        == counts["country"]["unknown"]
    )
    expected = _expected_coverage(365, today_utc())
    for name in ("stale", "unverified", "vendor_only"):
        got = {(i["place"], i["substance"] + "|" + str(i["valid_from"])) for i in data[name]}
        assert got == expected[name], name
    text = cli("coverage").out
    assert f"Stale records: {len(expected['stale'])}" in text
    assert f"Unverified records: {len(expected['unverified'])}" in text
    assert (
        f"Records resting only on a vendor or advocacy page: {len(expected['vendor_only'])}" in text
    )


def test_coverage_threshold_and_bad_input(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    wide = json.loads(cli("coverage", "--stale-days", "100000", "--json").out)
    assert all(i["checked"] is None for i in wide["stale"])  # only undated ones are left
    narrow = json.loads(cli("coverage", "--stale-days", "0", "--json").out)
    assert len(narrow["stale"]) > len(wide["stale"])
    bad = cli("coverage", "--stale-days", "-1")
    assert bad.code == 2 and "stale_days must be 0 or more" in bad.err


def test_coverage_reads_the_stale_days_setting(
    cli, db_env: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRACKER_STALE_DAYS", "100000")
    data = json.loads(cli("coverage", "--json").out)
    assert data["stale_days"] == 100000
    assert all(i["checked"] is None for i in data["stale"])


def test_readme_shows_the_real_coverage_figures(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    """The README's coverage figures are the command's output on the shipped data."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text("utf-8")
    out = cli("coverage", "--as-of", "2026-12-02").out.splitlines()
    shown = [line for line in out if not line.startswith("    ")]  # tables and counts
    table = out[: out.index("")]
    headlines = [line for line in shown if line and not line.startswith(" ")]
    for line in table + headlines:
        assert line in readme, line


def test_the_feed_and_history_show_marks_and_conditions(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    r = cli(
        "record",
        "US-GU",
        "banned",
        "--from",
        "2026-01",
        "--citation",
        "Guam vendor blog",
        "--source",
        "https://example.org/gu",
        "--tier",
        "vendor",
        "--checked",
        "2026-02",
        "--condition",
        "no sale to minors",
    )
    assert r.code == 0, r.err
    feed = cli("export", "--format", "atom").out
    assert "unverified: yes" in feed and "checked: 2026-02" in feed
    history = cli("history", "US-GU").out
    assert "vendor · unverified" in history and "conditions: no sale to minors" in history
