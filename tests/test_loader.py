from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from tracker.errors import DataFileError
from tracker.law import places
from tracker.law.bootstrap import ensure_ready
from tracker.law.effective import effective
from tracker.law.history import history_rows
from tracker.paths import jurisdictions_dir
from tracker.storage.engine import Database
from tracker.storage.tables_core import EVENT, PENDING, STATUS


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A copy of the shipped jurisdictions/ that a test may edit."""
    root = tmp_path / "jurisdictions"
    shutil.copytree(jurisdictions_dir(), root)
    return root


def counts(db: Database) -> tuple[int, int, int]:
    with db.read() as conn:
        return (
            conn.execute(sa.select(sa.func.count()).select_from(STATUS)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(PENDING)).scalar_one(),
            conn.execute(sa.select(sa.func.count()).select_from(EVENT)).scalar_one(),
        )


def test_seed_then_curated_history(loaded_db: Database) -> None:
    with loaded_db.read() as conn:
        ri = history_rows(conn, "US-RI")
        seed = [r for r in ri if r.source_tier == "seed"]
        assert seed and all(r.source_document == "003_5c9f9ad40f381839" for r in seed)
        assert all("Rhode Island" in r.source_quote for r in seed)
        original = min(seed, key=lambda r: r.id)
        assert original.valid_from is None and original.superseded_at is not None
        cited = [r for r in ri if r.source_tier == "official" and r.superseded_at is None]
        assert {(r.status, r.min_age) for r in cited} == {("banned", None), ("regulated", 21)}
        assert all(r.recorded_at > original.recorded_at for r in cited)  # later knowledge
        ri_place = places.get(conn, "US-RI")
        th = places.get(conn, "TH")
        assert ri_place is not None and th is not None
        assert effective(conn, ri_place, "kratom", date(2026, 1, 1)).status == "banned"
        now = effective(conn, ri_place, "kratom", date(2026, 11, 21))
        assert (now.status, now.min_age) == ("regulated", 21)
        assert [
            effective(conn, th, "kratom", d).status
            for d in (date(2021, 8, 23), date(2021, 8, 24), date(2022, 8, 27))
        ] == ["banned", "legal", "regulated"]
        assert effective(conn, th, "kratom", date(2021, 8, 23)).record["source"]["tier"] == "seed"  # type: ignore[index]
        # a year-only start keeps its precision
        indiana = [r for r in history_rows(conn, "US-IN") if r.source_tier == "secondary"]
        assert indiana[0].valid_from == date(2014, 1, 1)
        assert indiana[0].valid_from_precision == "year"


def test_loading_is_idempotent(loaded_db: Database) -> None:
    before = counts(loaded_db)
    assert ensure_ready(loaded_db) is False
    assert counts(loaded_db) == before


def test_changed_file_adds_versions_and_never_edits(loaded_db: Database, data_root: Path) -> None:
    ensure_ready(loaded_db, data_root)
    with loaded_db.read() as conn:
        old = {r.id: r for r in conn.execute(sa.select(STATUS))}
    curated = data_root / "records" / "curated.yaml"
    text = curated.read_text()
    assert '    min_age: 18\n    instrument: {type: statute, citation: "Utah' in text
    curated.write_text(
        text.replace(
            '    min_age: 18\n    instrument: {type: statute, citation: "Utah',
            '    min_age: 21\n    instrument: {type: statute, citation: "Utah',
        )
    )
    assert ensure_ready(loaded_db, data_root) is True
    with loaded_db.read() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(STATUS))}
        utah = places.get(conn, "US-UT")
        assert utah is not None
        answer = effective(conn, utah, "kratom", date(2026, 11, 21))
    assert answer.min_age == 21
    for rid, row in old.items():  # every old row is still there, unchanged but for closing
        new = rows[rid]
        assert new._mapping["status"] == row._mapping["status"]
        assert new.recorded_at == row.recorded_at
        assert row.superseded_at is None or new.superseded_at == row.superseded_at
    closed = [rid for rid in old if old[rid].superseded_at is None and rows[rid].superseded_at]
    assert len(closed) == 1 and rows[closed[0]].place_code == "US-UT"
    assert ensure_ready(loaded_db, data_root) is False


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (
            lambda t: t.replace(
                "status: regulated\n    valid_from: 2019-05-14",
                "status: allowed\n    valid_from: 2019-05-14",
            ),
            "status",
        ),
        (lambda t: t.replace("jurisdiction: US-UT", "jurisdiction: US-XX"), "US-XX"),
        (
            lambda t: t.replace("valid_from: 2019-05-14", "valid_from: 2019-15-14"),
            "not a valid date",
        ),
        (
            lambda t: t.replace(
                "  - jurisdiction: US-UT\n", "  - jurisdiction: US-UT\n    jurisdiction: US-TX\n"
            ),
            "twice",
        ),
        (lambda t: t.replace("records:", "records: [\n"), "YAML"),
        (
            lambda t: t.replace(
                "    status: regulated\n    valid_from: 2019-05-14",
                "    status: regulated\n    colour: red\n    valid_from: 2019-05-14",
            ),
            "colour",
        ),
        (
            lambda t: t.replace(
                "valid_from: 2022-08-27\n    min_age: 18", "valid_from: 2022-01-01\n    min_age: 18"
            ),
            "overlaps",
        ),
    ],
)
def test_malformed_file_names_file_and_line_and_loads_nothing(
    loaded_db: Database,
    data_root: Path,
    edit,
    message: str,  # type: ignore[no-untyped-def]
) -> None:
    curated = data_root / "records" / "curated.yaml"
    original = curated.read_text()
    # also add a valid new record, which must not be loaded either
    extra = (
        "\n  - jurisdiction: NZ\n    substance: kratom\n    status: regulated\n"
        '    source: {url: "https://example.org", tier: B}\n'
    )
    text = edit(original).replace("\npending:", extra + "\npending:", 1)
    assert text != original
    curated.write_text(text)
    before = counts(loaded_db)
    with pytest.raises(DataFileError) as err:
        ensure_ready(loaded_db, data_root)
    assert "records/curated.yaml" in str(err.value) and message in str(err.value)
    assert err.value.line is not None and err.value.line > 0
    assert counts(loaded_db) == before


def test_removed_record_is_retracted(loaded_db: Database, data_root: Path) -> None:
    ensure_ready(loaded_db, data_root)
    curated = data_root / "records" / "curated.yaml"
    text = curated.read_text()
    start = text.index("  - jurisdiction: JP")
    curated.write_text(text[:start].rstrip() + "\n\npending:" + text.split("\npending:", 1)[1])
    ensure_ready(loaded_db, data_root)
    with loaded_db.read() as conn:
        japan = places.get(conn, "JP")
        assert japan is not None
        assert effective(conn, japan, "kratom", date(2026, 1, 1)).status == "unknown"
        assert len(history_rows(conn, "JP")) == 1  # kept, closed


def test_a_new_valid_record_loads(loaded_db: Database, data_root: Path) -> None:
    """The control for the malformed-file cases: the same extra record, alone, loads."""
    curated = data_root / "records" / "curated.yaml"
    extra = (
        "\n  - jurisdiction: NZ\n    substance: kratom\n    status: regulated\n"
        '    source: {url: "https://example.org", tier: B}\n'
    )
    curated.write_text(curated.read_text().replace("\npending:", extra + "\npending:", 1))
    ensure_ready(loaded_db, data_root)
    with loaded_db.read() as conn:
        nz = places.get(conn, "NZ")
        assert nz is not None
        assert effective(conn, nz, "kratom", date(2026, 1, 1)).status == "regulated"
