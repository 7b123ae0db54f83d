"""The csv and shipping exports read back with the csv module (and the shipping JSON
validates against its published schema); values come from the database."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.test_export_json import strict
from tracker.export.fmt_csv import COLUMNS
from tracker.export.fmt_json import schema_path
from tracker.export.fmt_shipping import FIELDS
from tracker.law.belief import Belief
from tracker.law.dates import PartialDate
from tracker.law.history import record_belief
from tracker.storage.engine import Database

pytestmark = pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)

SAN_DIEGO = "ocd-division/country:us/state:ca/place:san_diego"


@pytest.fixture
def db_env(loaded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)
    return loaded_url


def _rows(text: str) -> tuple[list[str], list[dict[str, str]]]:
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader)
    return header, [dict(zip(header, row, strict=True)) for row in reader]


def test_csv_reads_back_one_row_per_place(cli: Any, db_env: str, tmp_path: Path) -> None:
    out = tmp_path / "status.csv"
    r = cli("export", "--format", "csv", "--as-of", "2026-06-01", "-o", str(out))
    assert r.code == 0, r.err
    raw = out.read_bytes()
    assert raw.count(b"\r\n") >= 300  # RFC 4180 line ends, written untranslated
    header, rows = _rows(out.read_text(encoding="utf-8"))
    assert header == list(COLUMNS)
    listed = json.loads(cli("list", "--json", "--as-of", "2026-06-01").out)["places"]
    assert [row["code"] for row in rows] == [p["place"]["code"] for p in listed]
    by_code = {row["code"]: row for row in rows}
    al = by_code["US-AL"]
    assert (al["iso_code"], al["fips"], al["ocd_id"]) == (
        "US-AL",
        "01",
        "ocd-division/country:us/state:al",
    )
    assert (al["status"], al["valid_from"], al["source_tier"]) == (
        "banned",
        "2016-05-10",
        "secondary",
    )
    assert al["citation"].startswith("Ala. Act 2016-279")
    ri = by_code["US-RI"]
    assert (ri["status"], ri["min_age"], ri["decided_level"]) == ("regulated", "21", "state")
    sd = by_code[SAN_DIEGO]
    assert (sd["kind"], sd["iso_code"], sd["fips"], sd["status"]) == ("city", "", "", "banned")
    assert by_code["TH"]["status"] == "regulated" and by_code["TH"]["fips"] == ""
    assert "SB 497" in by_code["US-KS"]["pending"]


def test_a_formula_in_a_citation_stays_text(
    cli: Any, db_env: str, loaded_db: Database, tmp_path: Path
) -> None:
    formula = '=HYPERLINK("http://127.0.0.1/x","click")'
    with loaded_db.write() as conn:
        record_belief(
            conn,
            Belief(
                place_code="US-NV",
                substance="kratom",
                status="regulated",
                source_tier="secondary",
                origin="test",
                valid_from=PartialDate.parse("2020-01-01"),
                min_age=21,
                instrument_citation=formula,
                source_url="https://example.org/nv",
            ),
        )
    out = tmp_path / "s.csv"
    assert cli("export", "--format", "csv", "-o", str(out)).code == 0
    _, rows = _rows(out.read_text(encoding="utf-8"))
    nv = next(row for row in rows if row["code"] == "US-NV")
    assert nv["citation"] == "'" + formula
    shipping = cli("export", "--format", "shipping").out
    assert "'" + '=HYPERLINK(""http://127.0.0.1/x""' in shipping
    # JSON carries the text as it is: only spreadsheets need the guard.
    as_json = tmp_path / "shipping.json"
    assert cli("export", "--format", "shipping", "-o", str(as_json)).code == 0
    doc = json.loads(as_json.read_text(encoding="utf-8"))
    assert next(i for i in doc["min_age"] if i["code"] == "US-NV")["citation"] == formula


def test_shipping_lists_in_csv_and_json(cli: Any, db_env: str, tmp_path: Path) -> None:
    as_csv, as_json = tmp_path / "shipping.csv", tmp_path / "shipping.json"
    for out in (as_csv, as_json):
        r = cli("export", "--format", "shipping", "--as-of", "2026-06-01", "-o", str(out))
        assert r.code == 0, r.err
    header, rows = _rows(as_csv.read_text(encoding="utf-8"))
    assert header == ["list", *FIELDS]
    doc = json.loads(as_json.read_text(encoding="utf-8"))
    schema = json.loads(schema_path("shipping.v1.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    checker = jsonschema.FormatChecker()
    jsonschema.Draft202012Validator(strict(schema), format_checker=checker).validate(doc)
    banned = {i["code"]: i for i in doc["do_not_ship"]}
    for code in (
        "US-AL",
        "US-AR",
        "US-IN",
        "US-VT",
        "US-WI",
        "US-LA",
        "US-CA",
        SAN_DIEGO,
        "ocd-division/country:us/state:fl/county:sarasota",
        "AU",
        "GB",
    ):
        assert code in banned, code
    assert banned["US-CA"]["status"] == "restricted" and banned["US-AL"]["status"] == "banned"
    alton = banned["ocd-division/country:us/state:il/place:alton"]
    assert (alton["country"], alton["subdivision"], alton["kind"]) == ("US", "US-IL", "city")
    ages = {i["code"]: i["min_age"] for i in doc["min_age"]}
    assert ages["US-RI"] == 21 and ages["US-TX"] == 18 and ages["TH"] == 18
    assert "US-RI" not in banned and "US" not in banned
    # Places with no record are blocked by default (never dropped): status unknown.
    assert doc["unknown_policy"] == "block" and doc["unknown"] == []
    assert banned["AD"]["status"] == "unknown" and banned["AD"]["citation"] is None
    assert banned["US-GU"]["status"] == "unknown" and banned["US-GU"]["decided_by"] == "US-GU"
    csv_lists = {(row["list"], row["code"]) for row in rows}
    json_lists = {(name, i["code"]) for name in ("do_not_ship", "min_age") for i in doc[name]}
    assert csv_lists == json_lists
    # Standard output gets the CSV form.
    assert cli("export", "--format", "shipping", "--as-of", "2026-06-01").out.startswith("list,")


def test_shipping_for_7_oh_lists_the_florida_emergency_rules(cli: Any, db_env: str) -> None:
    r = cli("export", "--format", "shipping", "--substance", "7-OH", "--as-of", "2026-01-01")
    assert r.code == 0, r.err
    _, rows = _rows(r.out)
    fl = next(row for row in rows if row["code"] == "US-FL")
    assert (fl["list"], fl["status"], fl["valid_from"]) == ("do_not_ship", "banned", "2025-12-08")
    assert fl["verify"] == "true" and fl["decided_by_name"] == "Florida"
    kratom = cli("export", "--format", "shipping", "--as-of", "2026-01-01").out
    fl_kratom = next(row for row in _rows(kratom)[1] if row["code"] == "US-FL")
    assert (fl_kratom["list"], fl_kratom["min_age"]) == ("min_age", "21")


def test_shipping_unknown_places_are_blocked_or_listed_never_dropped(
    cli: Any, db_env: str, tmp_path: Path
) -> None:
    schema = json.loads(schema_path("shipping.v1.json").read_text(encoding="utf-8"))
    validator = jsonschema.Draft202012Validator(
        strict(schema), format_checker=jsonschema.FormatChecker()
    )
    docs = {}
    for policy in ("block", "allow"):
        out = tmp_path / f"{policy}.json"
        r = cli("export", "--format", "shipping", "--unknown", policy, "-o", str(out))
        assert r.code == 0, r.err
        docs[policy] = json.loads(out.read_text(encoding="utf-8"))
        validator.validate(docs[policy])
    block, allow = docs["block"], docs["allow"]
    unknown_blocked = {i["code"] for i in block["do_not_ship"] if i["status"] == "unknown"}
    assert block["unknown_policy"] == "block" and block["unknown"] == []
    assert allow["unknown_policy"] == "allow"
    assert {i["code"] for i in allow["unknown"]} == unknown_blocked
    assert all(i["status"] != "unknown" for i in allow["do_not_ship"])
    assert len(unknown_blocked) > 150 and {"AD", "US-GU"} <= unknown_blocked
    # Every place whose answer is unknown is in one of the lists: none silently dropped.
    every = json.loads(cli("export", "--format", "json").out)["places"]
    assert {p["place"]["code"] for p in every if p["status"] == "unknown"} == unknown_blocked
    # Local bans and age tiers by OCD id, with names and the verify flag.
    tupelo = next(i for i in block["do_not_ship"] if i["name"] == "Tupelo")
    assert tupelo["ocd_id"] == "ocd-division/country:us/state:ms/place:tupelo"
    assert (tupelo["decided_level"], tupelo["verify"], tupelo["subdivision"]) == (
        "city",
        True,
        "US-MS",
    )
    ny = next(i for i in block["min_age"] if i["code"] == "US-NY")
    assert ny["min_age"] == 21 and ny["verify"] is True and ny["conditions"]
    csv_allow = cli("export", "--format", "shipping", "--unknown", "allow").out
    header, rows = _rows(csv_allow)
    assert "verify" in header and "checked" in header and "decided_by_name" in header
    assert {r["code"] for r in rows if r["list"] == "unknown"} == unknown_blocked
    bad = cli("export", "--format", "csv", "--unknown", "allow")
    assert bad.code == 2 and "--unknown does not apply to --format csv" in bad.err
    worse = cli("export", "--format", "shipping", "--unknown", "maybe")
    assert worse.code == 2 and "maybe" in worse.err
