from __future__ import annotations

import itertools
import multiprocessing
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from tracker.law import places
from tracker.law.asof import rows_at
from tracker.law.belief import Belief, gaps
from tracker.law.dates import PartialDate
from tracker.law.effective import effective
from tracker.law.history import current_rows, record_belief, retract
from tracker.storage.engine import Database, make_engine
from tracker.storage.tables_core import EVENT, STATUS

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def belief(status: str, start: str | None = None, end: str | None = None, **kw: object) -> Belief:
    values: dict[str, object] = {
        "place_code": "DE",
        "substance": "kratom",
        "status": status,
        "source_tier": "official",
        "origin": "test",
        "source_url": "https://example.org/law",
        "valid_from": PartialDate.parse(start) if start else None,
        "valid_to": PartialDate.parse(end) if end else None,
    }
    values.update(kw)
    return Belief(**values)  # type: ignore[arg-type]


def status_on(db: Database, day: date, known_at: datetime | None = None) -> list[str]:
    with db.read() as conn:
        return [r.status for r in rows_at(conn, ["DE"], ["kratom"], day, known_at)]


def test_new_belief_splits_the_old_one_and_keeps_history(empty_db: Database) -> None:
    with empty_db.write() as conn:
        record_belief(conn, belief("legal"), now=T0)
    with empty_db.write() as conn:
        done = record_belief(conn, belief("banned", "2020-05-01", "2021"), now=T0 + timedelta(1))
    assert len(done.superseded) == 1 and len(done.inserted) == 3
    with empty_db.read() as conn:
        current = current_rows(conn, "DE", "kratom")
        every = conn.execute(sa.select(sa.func.count()).select_from(STATUS)).scalar()
    assert [(r.status, r.valid_from, r.valid_to, r.valid_to_precision) for r in current] == [
        ("legal", None, date(2020, 5, 1), "day"),
        ("banned", date(2020, 5, 1), date(2021, 1, 1), "year"),
        ("legal", date(2021, 1, 1), None, None),
    ]
    assert every == 4  # the first row is kept, superseded, never edited
    assert status_on(empty_db, date(2020, 6, 1)) == ["banned"]
    assert status_on(empty_db, date(2020, 6, 1), known_at=T0 + timedelta(hours=1)) == ["legal"]
    # re-asserted pieces point back to the belief they came from
    assert current[0].assertion_id == current[2].assertion_id != current[1].assertion_id


def test_fill_gaps_never_overrides(empty_db: Database) -> None:
    with empty_db.write() as conn:
        record_belief(conn, belief("regulated", "2019"), now=T0)
        done = record_belief(conn, belief("banned", source_tier="seed"), fill_gaps=True)
    assert done.superseded == [] and len(done.inserted) == 1
    assert status_on(empty_db, date(2018, 1, 1)) == ["banned"]
    assert status_on(empty_db, date(2020, 1, 1)) == ["regulated"]
    with empty_db.write() as conn:
        again = record_belief(conn, belief("banned", source_tier="seed"), fill_gaps=True)
    assert again.unchanged


def test_same_belief_twice_changes_nothing(empty_db: Database) -> None:
    with empty_db.write() as conn:
        first = record_belief(conn, belief("legal", "2020-01-01"))
        second = record_belief(conn, belief("legal", "2020-01-01"))
    assert first.event_id is not None and second.unchanged and second.event_id is None


def test_status_changed_event_in_the_same_transaction(empty_db: Database) -> None:
    with empty_db.write() as conn:
        record_belief(conn, belief("legal"))
        done = record_belief(conn, belief("banned", "2025-08-01"))
        event = conn.execute(sa.select(EVENT).where(EVENT.c.id == done.event_id)).one()
    assert event.kind == "status_changed" and event.importance == "major"
    assert event.payload["old_status"] == ["legal"] and event.payload["new_status"] == "banned"
    assert event.place_code == "DE"
    # a failed transaction leaves neither the record nor the event
    with pytest.raises(RuntimeError), empty_db.write() as conn:
        record_belief(conn, belief("restricted", "2026-01-01"))
        raise RuntimeError("boom")
    with empty_db.read() as conn:
        kinds = conn.execute(sa.select(EVENT.c.payload)).scalars().all()
    assert all(p["new_status"] != "restricted" for p in kinds)
    assert status_on(empty_db, date(2026, 6, 1)) == ["banned"]


def test_retract_closes_every_piece(empty_db: Database) -> None:
    with empty_db.write() as conn:
        first = record_belief(conn, belief("legal"))
        record_belief(conn, belief("banned", "2020-01-01", "2021-01-01"))
        retract(conn, first.inserted[0])
    assert status_on(empty_db, date(2019, 1, 1)) == []
    assert status_on(empty_db, date(2020, 6, 1)) == ["banned"]


def test_gaps() -> None:
    p = PartialDate.parse
    assert gaps((None, None), []) == [(None, None)]
    assert gaps((None, None), [(p("2020"), p("2021"))]) == [(None, p("2020")), (p("2021"), None)]
    assert gaps((p("2020"), p("2022")), [(None, None)]) == []


def test_invalid_beliefs_are_refused() -> None:
    with pytest.raises(ValueError, match="accepted"):
        belief("forbidden")
    with pytest.raises(ValueError, match="not after"):
        belief("legal", "2021", "2020")
    with pytest.raises(ValueError, match="source"):
        belief("legal", source_url=None)


def _record_many(url: str, status: str, n: int) -> None:
    db = Database(make_engine(url))
    for i in range(n):
        with db.write() as conn:
            record_belief(conn, belief(status, f"20{10 + i % 10}-0{1 + i % 9}-01"))
    db.dispose()


def test_concurrent_writers_never_corrupt_history(empty_url: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    procs = [
        ctx.Process(target=_record_many, args=(empty_url, s, 15))
        for s in ("banned", "legal", "regulated")
    ]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(120)
        assert proc.exitcode == 0
    db = Database(make_engine(empty_url))
    with db.read() as conn:
        current = current_rows(conn, "DE", "kratom")
    db.dispose()
    spans = sorted(((r.valid_from or date.min), (r.valid_to or date.max)) for r in current)
    for (_, hi), (lo, _) in itertools.pairwise(spans):
        assert hi <= lo, "current rows overlap"


def test_effective_status_names_the_deciding_level(loaded_db: Database) -> None:
    with loaded_db.read() as conn:
        sd = places.resolve(conn, "San Diego")
        answer = effective(conn, sd, "kratom", date(2026, 11, 21))
        assert answer.status == "banned" and answer.decided_by is not None
        assert answer.decided_by.code == sd.code
        assert [lvl.place.code for lvl in answer.levels] == [sd.code, "US-CA", "US"]
        assert [lvl.status for lvl in answer.levels] == ["banned", "restricted", "legal"]
        county = places.resolve(conn, "Sarasota County")  # banned inside regulating Florida
        answer = effective(conn, county, "kratom", date(2026, 11, 21))
        assert (answer.status, answer.decided_by.code) == ("banned", county.code)  # type: ignore[union-attr]
        assert answer.levels[1].status == "regulated"
        guam = effective(conn, places.resolve(conn, "US-GU"), "kratom", date(2026, 11, 21))
        assert guam.status == "unknown" and guam.decided_by.code == "US-GU"  # type: ignore[union-attr]
        ohio = places.resolve(conn, "US-OH")
        during = effective(conn, ohio, "7-OH", date(2026, 1, 15))
        after = effective(conn, ohio, "7-OH", date(2026, 11, 21))
        assert (during.status, during.decided_by.code) == ("banned", "US-OH")  # type: ignore[union-attr]
        # The emergency rule expired: Ohio's level falls back to its kratom record, and the
        # federal restriction of 7-OH decides.
        assert (after.status, after.decided_by.code) == ("restricted", "US")  # type: ignore[union-attr]
        assert after.levels[0].status == "legal"
        assert after.levels[0].expired and after.levels[0].expired[0]["expires"] == "2026-06-10"
