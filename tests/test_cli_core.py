"""The CLI over the status history, through the real entry point, on a SQLite file in the
test's data directory (the default) and on PostgreSQL (TRACKER_DATABASE_URL)."""

from __future__ import annotations

import itertools
import json
import sqlite3
import subprocess
import sys
from contextlib import closing
from datetime import date
from pathlib import Path

import pytest

from tests.conftest import CliResult
from tracker.timeutil import today_utc


@pytest.fixture
def db_env(loaded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)
    return loaded_url


def test_history_shows_seed_claim_and_cited_records(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    r: CliResult = cli("history", "US-RI")
    assert r.code == 0, r.err
    assert "seed" in r.out and "Kratom For Chronic Pain Relief" in r.out
    assert "banned, Rhode Island" not in r.out
    assert "is banned in several states including Alabama, Arkansas, Indiana, Rhode Island" in r.out
    assert "R.I. Gen. Laws ch. 21-28.12" in r.out and "regulated 21+" in r.out
    assert "no period" in r.out  # the undated document's claim answers for no date
    data = json.loads(cli("history", "US-RI", "--json").out)
    tiers = [rec["source"]["tier"] for rec in data["records"]]
    assert "seed" in tiers and "official" in tiers
    seed = [rec for rec in data["records"] if rec["source"]["tier"] == "seed"]
    assert len(seed) == 1 and seed[0]["no_period"] is True and seed[0]["superseded_at"] is None
    assert seed[0]["valid_from"] is None and seed[0]["valid_to"] is None
    assert seed[0]["source"]["document"] == "003_5c9f9ad40f381839"


def test_rhode_island_then_and_now(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    then = cli("status", "US-RI", "--as-of", "2026-01-01")
    assert then.code == 0 and "BANNED" in then.out
    assert "Rhode Island Department of Health scheduling" in then.out
    now = cli("status", "US-RI")
    assert "REGULATED 21+" in now.out and "R.I. Gen. Laws ch. 21-28.12" in now.out
    assert "decided by Rhode Island (US-RI), state level" in now.out


def test_thailand_banned_then_legal_then_regulated(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    results = {}
    for day in ("2020-01-01", "2022-01-01", "2026-11-21"):
        data = json.loads(cli("status", "TH", "--as-of", day, "--json").out)["results"][0]
        results[day] = (
            data["status"],
            data["record"]["source"]["tier"],
            data["record"]["instrument"]["citation"],
        )
    narcotics_act = "Narcotics Act B.E. 2522 (1979), Category 5 (earlier Kratom Act B.E. 2486)"
    assert results["2020-01-01"] == ("banned", "secondary", narcotics_act)
    assert results["2022-01-01"] == ("legal", "secondary", "Narcotics Act (No. 8) B.E. 2564 (2021)")
    assert results["2026-11-21"] == ("regulated", "secondary", "Kratom Plant Act B.E. 2565 (2022)")


def test_known_at_before_the_cited_records(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    """Seed claims load first (their own knowledge time); as known then, Rhode Island had
    no record that answers for any date: the undated seed claim answers for none."""
    history = json.loads(cli("history", "US-RI", "--json").out)["records"]
    seed_time = min(r["recorded_at"] for r in history)
    assert all(r["recorded_at"] > seed_time for r in history if r["source"]["tier"] != "seed")
    r = cli("status", "US-RI", "--as-of", "2026-01-01", "--known-at", seed_time, "--json")
    data = json.loads(r.out)["results"][0]
    assert data["status"] == "unknown" and data["record"] is None
    now = json.loads(cli("status", "US-RI", "--as-of", "2026-01-01", "--json").out)
    assert now["results"][0]["status"] == "banned"


def test_local_ban_decides_inside_a_regulating_state(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    r = cli("status", "Sarasota County", "--json")
    data = json.loads(r.out)["results"][0]
    assert data["status"] == "banned" and data["decided_by"]["level"] == "county"
    assert [lvl["status"] for lvl in data["levels"]] == ["banned", "regulated", "legal"]
    r = cli("status", "San Diego")
    assert "BANNED  decided by San Diego, CA (city), city level" in r.out
    assert "UNVERIFIED" in r.out  # its sources conflict


def test_record_prints_before_and_after(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    r = cli(
        "record",
        "US-GU",
        "regulated",
        "--from",
        "2025-01-01",
        "--min-age",
        "21",
        "--citation",
        "Test Act 1",
        "--source",
        "https://example.org/oh",
        "--tier",
        "official",
    )
    assert r.code == 0, r.err
    assert "on 2025-01-01: unknown -> regulated 21+" in r.out
    today = today_utc().isoformat()
    again = cli(
        "record",
        "US-GU",
        "regulated",
        "--from",
        "2025-01-01",
        "--min-age",
        "21",
        "--citation",
        "Test Act 1",
        "--source",
        "https://example.org/oh",
        "--tier",
        "official",
        "--checked",
        today,
    )
    assert "unchanged" in again.out
    status = json.loads(cli("status", "US-GU", "--json").out)["results"][0]
    assert (status["status"], status["min_age"]) == ("regulated", 21)
    assert status["record"]["checked"] == today and status["record"]["verify"] is False
    lead = cli(
        "record",
        "US-GU",
        "banned",
        "--from",
        "2026-01",
        "--citation",
        "Vendor blog",
        "--source",
        "https://example.org/blog",
        "--tier",
        "vendor",
        "--checked",
        "2026-02",
        "--json",
    )
    rec = json.loads(lead.out)["after"][-1]["record"]
    assert rec["source"]["tier"] == "vendor" and rec["verify"] is True  # a lead only
    assert rec["checked"] == "2026-02"


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["status", "Alabma"], "Did you mean: Alabama (US-AL)"),
        (["status", "AL"], "Albania (AL)"),
        (["status", "US-AL", "--as-of", "2026-02-30"], "YYYY-MM-DD"),
        (["status", "US-AL", "--known-at", "yesterday"], "YYYY-MM-DDTHH:MM"),
        (["status", "US-AL", "--known-at", "2999-01-01"], "in the future"),
        (["status", "US-AL", "--substance", "8-OH"], "kratom, 7-OH"),
        (
            [
                "record",
                "US-AL",
                "forbidden",
                "--from",
                "2020",
                "--citation",
                "x",
                "--source",
                "https://example.org",
            ],
            "banned",
        ),
        (
            [
                "record",
                "US-AL",
                "banned",
                "--from",
                "20-20",
                "--citation",
                "x",
                "--source",
                "https://example.org",
            ],
            "YYYY-MM",
        ),
        (
            [
                "record",
                "US-AL",
                "banned",
                "--from",
                "2020",
                "--citation",
                "x",
                "--source",
                "example.org",
            ],
            "https://",
        ),
        (
            [
                "record",
                "US-AL",
                "banned",
                "--from",
                "2020",
                "--to",
                "2019",
                "--citation",
                "x",
                "--source",
                "https://example.org",
            ],
            "not after",
        ),
        (["list", "--status", "forbidden"], "banned"),
    ],
)
def test_bad_input_exits_2_with_the_accepted_forms(
    cli, db_env: str, args: list[str], expect: str
) -> None:  # type: ignore[no-untyped-def]
    r = cli(*args)
    assert r.code == 2
    assert expect in r.err


def test_list_filters(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(cli("list", "--status", "banned", "--in", "US", "--json").out)
    codes = {p["place"]["code"] for p in data["places"]}
    assert {"US-AL", "US-LA", "ocd-division/country:us/state:ca/place:san_diego"} <= codes
    assert "US-RI" not in codes and "GB" not in codes
    cities = json.loads(cli("list", "--kind", "city", "--json").out)["places"]
    assert {p["place"]["kind"] for p in cities} == {"city"}


def test_pending_and_places(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    r = cli("pending", "US-KS")
    assert "SB 497" in r.out and "DEA notice of intent" in r.out  # the federal level too
    assert "vendor · unverified" in r.out  # SB 497 rests on a vendor's page
    assert "SB 1656" not in r.out
    found = cli("places", "georgia")
    assert "US-GA" in found.out and "GE" in found.out


def test_local_places_are_named_not_given_as_ocd_ids(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    """A local place's code is a long OCD id: tables and lines show `Dana Point, CA`."""
    ocd = "ocd-division/country:us/state:ca/place:dana_point"
    listed = cli("pending", "Dana Point, CA")
    assert listed.code == 0, listed.err
    assert "Dana Point, CA" in listed.out and "US-CA" in listed.out
    assert ocd not in listed.out
    answer = cli("status", "Dana Point, CA")
    pending_lines = [x for x in answer.out.splitlines() if x.startswith("  pending: ")]
    assert any(x.startswith("  pending: Dana Point, CA kratom ban") for x in pending_lines)
    assert ocd not in answer.out
    as_json = json.loads(cli("pending", "Dana Point, CA", "--json").out)["pending"]
    assert ocd in {p["place"] for p in as_json}  # JSON keeps the code


def test_status_several_places_in_json(cli, db_env: str) -> None:  # type: ignore[no-untyped-def]
    data = json.loads(cli("status", "US-AL", "TH", "--json").out)
    assert data["schema"] == "tracker.cli/1"
    assert [r["place"]["code"] for r in data["results"]] == ["US-AL", "TH"]
    first = data["results"][0]
    assert set(first) == {
        "place",
        "substance",
        "as_of",
        "known_at",
        "status",
        "min_age",
        "decided_by",
        "record",
        "levels",
        "related",
        "pending",
        "under_review",
    }
    assert first["record"]["valid_from"] == "2016-05-10" and first["under_review"] is None


def test_fresh_install_through_the_console_script(tmp_path: Path) -> None:
    """`python -m tracker` on an empty data dir migrates, loads and answers; a second run
    reuses the database. Each run closes the database before the program freezes what is
    alive (frozen objects are never collected): on SQLite the last close folds the
    write-ahead log into `tracker.db`, so no `-wal` or `-shm` file is left and a copy of
    `tracker.db` alone holds everything."""
    data = tmp_path / "d"
    env = {"TRACKER_DATA_DIR": str(data), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    for _ in range(2):
        out = subprocess.run(
            [sys.executable, "-m", "tracker", "status", "US-AL"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        assert "BANNED" in out.stdout and "Ala. Act 2016-279" in out.stdout
        assert (data / "tracker.db").is_file()
        assert sorted(p.name for p in data.glob("tracker.db-*")) == []  # -wal, -shm
    copy = tmp_path / "copy.db"
    copy.write_bytes((data / "tracker.db").read_bytes())
    with closing(sqlite3.connect(copy)) as conn:
        assert conn.execute("select count(*) from place").fetchone()[0] > 300
    colourless = "\x1b[" not in out.stdout
    assert colourless  # not a terminal: no colour codes


def test_two_record_commands_at_once(loaded_url: str, tmp_path: Path) -> None:
    """Several `tracker record` processes writing one place at once: all succeed and the
    current records never overlap."""
    env = {
        "TRACKER_DATA_DIR": str(tmp_path / "d"),
        "TRACKER_DATABASE_URL": loaded_url,
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
    }
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tracker",
                "record",
                "US-GU",
                status,
                "--from",
                start,
                "--citation",
                f"Test {status}",
                "--source",
                "https://example.org/oh",
                "--json",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for status, start in (
            ("banned", "2024-01-01"),
            ("regulated", "2024-06"),
            ("legal", "2023"),
            ("restricted", "2025-02-03"),
        )
    ]
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        assert json.loads(out)["recorded"] is True
    from tracker.law.history import current_rows
    from tracker.storage.engine import Database, make_engine

    db = Database(make_engine(loaded_url))
    with db.read() as conn:
        rows = current_rows(conn, "US-GU", "kratom")
    db.dispose()
    assert len(rows) >= 1
    spans = sorted((r.valid_from, r.valid_to or date.max) for r in rows)
    for (_, end), (begin, _) in itertools.pairwise(spans):
        assert end <= begin
    assert {r.status for r in rows} <= {"banned", "regulated", "legal", "restricted"}


def test_an_internal_error_is_one_plain_line(cli, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import tracker.cli.core as core

    def broken() -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(core, "database", broken)
    r = cli("status", "US-AL")
    assert r.code == 1
    assert "internal error: RuntimeError('boom')" in r.err and "Traceback" not in r.err
    assert "TRACKER_LOG_LEVEL=DEBUG" in r.err
