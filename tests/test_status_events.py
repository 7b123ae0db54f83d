"""A `status_changed` event says what `tracker record` prints: its before and after are
the place's effective answers (the whole chain, the recorded substance), on every path
that writes one: `tracker record` (kratom and 7-OH), the data loader, and `record
--change` (tests/test_review_loop.py). Rhode Island's walk-through: recording a 7-OH ban
printed "regulated 21+ -> banned" while the event said "7-OH unknown -> banned"."""

from __future__ import annotations

import json
import shutil
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Templates
from tracker.law import places
from tracker.law.effective import effective
from tracker.law.loader import load_records
from tracker.storage.engine import Database
from tracker.storage.tables_core import EVENT


def _events(db: Database) -> list[Any]:
    with db.read() as conn:
        return list(
            conn.execute(
                sa.select(EVENT).where(EVENT.c.kind == "status_changed").order_by(EVENT.c.id)
            )
        )


def _printed(out: str) -> dict[str, tuple[str, str]]:
    """`  on DAY: BEFORE -> AFTER (decided by ...)` lines of `tracker record`."""
    found = {}
    for line in out.splitlines():
        if line.startswith("  on "):
            day, rest = line[5:].split(": ", 1)
            before, after = rest.split(" (decided by")[0].split(" -> ")
            found[day] = (before, after)
    return found


def _text(status: str, age: int | None) -> str:
    return status + (f" {age}+" if age else "")


@pytest.fixture
def loaded(templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Database:
    path = tmp_path / "tracker.db"
    shutil.copy(templates.sqlite_loaded, path)
    monkeypatch.setenv("TRACKER_DATABASE_URL", f"sqlite:///{path}")
    from tracker.storage.engine import make_engine

    return Database(make_engine(f"sqlite:///{path}"))


@pytest.mark.parametrize(
    ("substance", "status", "before"),
    [
        # The federal level restricts 7-OH products (FDA's position), stricter than the
        # state's kratom act, which covers them too.
        ("7-OH", "banned", ("restricted", None)),
        ("kratom", "restricted", ("regulated", 21)),
    ],
)
def test_tracker_record_event_is_what_it_prints(
    cli: Any, loaded: Database, substance: str, status: str, before: tuple[str, int | None]
) -> None:
    args = ["record", "US-RI", status, "--substance", substance, "--from", "2026-12-01"]
    args += ["--citation", "Test Act §5", "--source", "https://legislature.example/act"]
    shown = cli(*args)
    assert shown.code == 0, shown.err
    printed = _printed(shown.out)
    assert printed["2026-12-01"] == (_text(*before), status)
    (event,) = _events(loaded)[-1:]
    p = event.payload
    assert (p["old_status"], p["old_min_age"]) == ([before[0]], before[1])
    assert (p["new_status"], p["min_age"], p["as_of"]) == (status, None, "2026-12-01")
    assert p["substance"] == substance and event.importance == "major"
    # Every day the command printed is in the event, with the same answers.
    assert {a["before"]["as_of"]: (a["before"], a["after"]) for a in p["answers"]}.keys() == (
        printed.keys()
    )
    for a in p["answers"]:
        day = a["before"]["as_of"]
        assert printed[day] == (
            _text(a["before"]["status"], a["before"]["min_age"]),
            _text(a["after"]["status"], a["after"]["min_age"]),
        )
    was = before[0] + (f" ({before[1]}+)" if before[1] else "")
    assert f"{substance} {was} -> {status} from 2026-12-01" in event.title


def test_a_record_that_changes_no_answer_says_so(cli: Any, loaded: Database) -> None:
    # Wisconsin is banned already: recorded, but the effective answer stays banned.
    shown = cli(
        "record", "US-WI", "banned", "--from", "2014", "--citation", "Wis. Stat. 961.14",
        "--source", "https://docs.legis.wisconsin.gov/x", "--min-age", "21", "--json",
    )  # fmt: skip
    assert shown.code == 0, shown.err
    data = json.loads(shown.out)
    (event,) = _events(loaded)[-1:]
    assert event.id == data["event"]
    assert event.payload["old_status"] == [data["before"][0]["status"]] == ["banned"]
    assert event.payload["new_status"] == data["after"][0]["status"] == "banned"
    assert event.importance == "minor"


def test_the_loader_builds_events_from_effective_answers(
    empty_db: Database, tmp_path: Path
) -> None:
    root = tmp_path / "jurisdictions"
    (root / "records").mkdir(parents=True)
    source = '{url: "https://legislature.example/x", tier: A}'
    (root / "records" / "curated.yaml").write_text(
        f"""records:
  - jurisdiction: US
    substance: kratom
    status: legal
    valid_from: 2000
    instrument: {{type: document, citation: "no federal scheduling"}}
    source: {source}
  - jurisdiction: US-RI
    substance: kratom
    status: regulated
    valid_from: 2026-04-01
    min_age: 21
    instrument: {{type: statute, citation: "R.I. Gen. Laws ch. 21-28.12"}}
    source: {source}
  - jurisdiction: US-RI
    substance: 7-OH
    status: banned
    valid_from: 2026-12-01
    instrument: {{type: statute, citation: "R.I. Gen. Laws 21-28.12-5(e)"}}
    source: {source}
""",
        encoding="utf-8",
    )
    load_records(empty_db, root)
    events = {(e.place_code, e.substance): e for e in _events(empty_db)}
    seven = events[("US-RI", "7-OH")].payload
    assert (seven["old_status"], seven["old_min_age"]) == (["regulated"], 21)
    assert seven["new_status"] == "banned" and seven["as_of"] == "2026-12-01"
    kratom = events[("US-RI", "kratom")].payload
    assert (kratom["old_status"], kratom["new_status"], kratom["min_age"]) == (
        ["unknown"],
        "regulated",
        21,
    )
    # The loader's answers are the ones `tracker status` gives for those days.
    with empty_db.read() as conn:
        ri = places.resolve(conn, "US-RI")
        now = effective(conn, ri, "7-OH", date(2026, 12, 1), with_pending=False)
    assert (now.status, now.min_age) == (seven["new_status"], seven["min_age"])
