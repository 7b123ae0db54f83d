"""The json and ndjson exports: valid against the published, versioned JSON Schema, and
every value taken from the database (real SQLite file and real PostgreSQL)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from tests.conftest import CliResult
from tracker.errors import UsageError
from tracker.export import export
from tracker.export.fmt_json import SCHEMA_FILE, schema_path
from tracker.export.snapshot import EXPORT_SCHEMA
from tracker.law import places
from tracker.storage.engine import Database
from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE


@pytest.fixture
def db_env(loaded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)
    return loaded_url


def _schema() -> dict[str, Any]:
    return dict(json.loads(schema_path().read_text(encoding="utf-8")))


def strict(node: Any) -> Any:
    """The schema with no field beyond those it documents: the published schema is open
    (fields may be added within a version), but every field the export writes must be
    documented in it."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items()}
    if "properties" in out and "$ref" not in out:
        out["additionalProperties"] = False
    return out


def _validator(schema: dict[str, Any]) -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(schema)
    return jsonschema.Draft202012Validator(
        strict(schema), format_checker=jsonschema.FormatChecker()
    )


def _by_code(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["place"]["code"]: p for p in doc["places"]}


def test_json_validates_against_the_published_schema(
    cli: Any, db_env: str, loaded_db: Database, tmp_path: Path
) -> None:
    out = tmp_path / "status.json"
    r: CliResult = cli("export", "--format", "json", "--as-of", "2026-06-01", "-o", str(out))
    assert r.code == 0, r.err
    doc = json.loads(out.read_text(encoding="utf-8"))
    _validator(_schema()).validate(doc)
    assert doc["schema"] == EXPORT_SCHEMA and doc["as_of"] == "2026-06-01"
    with loaded_db.read() as conn:
        assert len(doc["places"]) == len(places.all_places(conn))
    got = _by_code(doc)
    ri = got["US-RI"]
    assert (ri["status"], ri["min_age"], ri["source_tier"]) == ("regulated", 21, "official")
    assert ri["decided_by"] == {"code": "US-RI", "name": "Rhode Island", "level": "state"}
    assert ri["instrument"]["citation"].startswith("R.I. Gen. Laws ch. 21-28.12")
    assert ri["valid_from"] == "2026-04-01" and ri["place"]["fips"] == "44"
    assert [lvl["code"] for lvl in ri["levels"]] == ["US-RI", "US"]
    # Last verified is two facts: `checked`, when a person last verified the deciding
    # record's sources (never the day it was loaded), and `last_verified`, the tracker's own
    # confirmation, null until an official page check confirms the record.
    history = json.loads(cli("history", "US-RI", "--json").out)["records"]
    deciding = next(rec for rec in history if rec["id"] == ri["record_id"])
    assert deciding["checked"] == ri["checked"] == "2026-04"
    assert ri["last_verified"] is None
    assert ri["verify"] is False
    ny = got["US-NY"]
    assert ny["verify"] is True and ny["levels"][0]["record"]["verify"] is True
    assert ny["conditions"] and ny["levels"][0]["record"]["checked"] == "2026-01-16"
    be = got["BE"]  # a record of an undated page: nothing verifies it
    assert be["status"] == "banned" and be["checked"] is None and be["last_verified"] is None
    ar = got["AR"]  # a vendor or advocacy page: a lead, always unverified
    assert (ar["source_tier"], ar["verify"]) == ("vendor", True)
    # The UN conventions: documentation beside the places, never a place.
    assert [i["code"] for i in doc["international"]] == ["UN"]
    assert doc["international"][0]["status"] == "legal" and "UN" not in got
    # The new places: counties, cities and parishes by OCD id.
    tupelo = got["ocd-division/country:us/state:ms/place:tupelo"]
    assert tupelo["status"] == "banned" and tupelo["decided_by"]["level"] == "city"
    assert got["ocd-division/country:us/state:la/parish:ouachita"]["place"]["kind"] == "county"
    # A city is decided by its own ban inside a restricted state; its chain is complete.
    sd = got["ocd-division/country:us/state:ca/place:san_diego"]
    assert sd["status"] == "banned" and sd["decided_by"]["level"] == "city"
    assert [lvl["status"] for lvl in sd["levels"]] == ["banned", "restricted", "legal"]
    assert got["AD"]["status"] == "unknown" and got["AD"]["last_verified"] is None
    assert any(p["measure"].startswith("SB 497") for p in got["US-KS"]["pending"])


@pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)
def test_ndjson_streams_the_same_records(cli: Any, db_env: str) -> None:
    doc = json.loads(cli("export", "--format", "json", "--as-of", "2026-01-01").out)
    r = cli("export", "--format", "ndjson", "--as-of", "2026-01-01")
    assert r.code == 0, r.err
    lines = [json.loads(line) for line in r.out.splitlines()]
    schema = _schema()
    record_schema = {"$defs": schema["$defs"], "$ref": "#/$defs/place_status"}
    validator = _validator(record_schema)
    for line in lines:
        validator.validate(line)
    assert lines == doc["places"]
    # Valid time: before 2026-04-01 Rhode Island still banned kratom.
    ri = next(line for line in lines if line["place"]["code"] == "US-RI")
    assert (ri["status"], ri["valid_to"], ri["as_of"]) == ("banned", "2026-04-01", "2026-01-01")


def test_schema_is_versioned_and_shipped_in_the_package() -> None:
    schema = _schema()
    assert SCHEMA_FILE.endswith(".v1.json") and schema["$id"].endswith(":1")
    assert schema["properties"]["schema"] == {"const": EXPORT_SCHEMA}
    assert Path(str(schema_path())).parent.name == "schemas"
    assert Path(str(schema_path())).parent.parent.name == "tracker"


def _watch(db: Database, code: str, ok_at: datetime, relevant_at: datetime | None) -> None:
    """A watched official page of `code`, last checked fine at `ok_at`; with a
    kratom-relevant change detected at `relevant_at`."""
    with db.write() as conn:
        source_id = conn.execute(
            SOURCE.insert()
            .values(
                key=f"test-{code}",
                origin="test",
                place_code=code,
                title="t",
                url="http://127.0.0.1/p",
                host="http://127.0.0.1",
                kind="html",
                spec={},
                spec_hash="x",
                active=True,
                next_check_at=ok_at,
                last_ok_at=ok_at,
                failures=0,
                failing=False,
                created_at=ok_at,
            )
            .returning(SOURCE.c.id)
        ).scalar_one()
        if relevant_at is not None:
            conn.execute(
                PAGE_CHANGE.insert().values(
                    source_id=source_id,
                    place_code=code,
                    detected_at=relevant_at,
                    old_sha="a",
                    new_sha="b",
                    importance="relevant",
                    keywords=["kratom"],
                    added=1,
                    removed=1,
                    too_large=False,
                )
            )


def test_last_verified_follows_page_checks_of_the_deciding_place(
    loaded_db: Database, tmp_path: Path
) -> None:
    export(loaded_db, "json", tmp_path / "before.json")
    before = _by_code(json.loads((tmp_path / "before.json").read_text(encoding="utf-8")))
    checked = datetime.now(UTC)  # after every record of the prepared database
    _watch(loaded_db, "US-CA", checked, None)
    _watch(loaded_db, "US-TX", datetime(2000, 1, 1, tzinfo=UTC), None)
    _watch(loaded_db, "US-WV", checked, checked)  # the page changed: not verified
    export(loaded_db, "json", tmp_path / "s.json")
    got = _by_code(json.loads((tmp_path / "s.json").read_text(encoding="utf-8")))
    assert before["US-CA"]["last_verified"] is None  # no page check yet
    assert got["US-CA"]["last_verified"] == checked.isoformat()
    # An older check never moves last-verified back.
    assert got["US-TX"]["last_verified"] == before["US-TX"]["last_verified"]
    # A kratom-relevant change since the record stops the clock at the record.
    assert got["US-WV"]["last_verified"] == before["US-WV"]["last_verified"]
    # San Diego is decided by its own ordinance, not by California's page.
    sd = got["ocd-division/country:us/state:ca/place:san_diego"]
    assert sd["last_verified"] != checked.isoformat()


@pytest.mark.parametrize("empty_url", ["sqlite"], indirect=True)
def test_a_database_without_records_exports_unknowns(empty_db: Database, tmp_path: Path) -> None:
    export(empty_db, "json", tmp_path / "s.json")
    doc = json.loads((tmp_path / "s.json").read_text(encoding="utf-8"))
    _validator(_schema()).validate(doc)
    assert doc["places"] and {p["status"] for p in doc["places"]} == {"unknown"}
    assert {p["last_verified"] for p in doc["places"]} == {None}
    with pytest.raises(UsageError, match="no dated record exists yet"):
        export(empty_db, "json", tmp_path / "t.json", as_of=date(2020, 1, 1))
