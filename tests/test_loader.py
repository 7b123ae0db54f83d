"""Loading the shipped record files: the seed rule, idempotence, new versions instead of
edits, removed items and removed files retracted, and bad input (with the fields of the
December 2026 research: tier C, `checked`, instrument type `none`, `stage_date`,
`international`) named by file and line with nothing of that file loaded."""

from __future__ import annotations

import hashlib
import shutil
from collections.abc import Callable
from datetime import date
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.conftest import CliResult
from tracker.errors import DataFileError
from tracker.law import places
from tracker.law.asof import history_rows
from tracker.law.belief import Belief
from tracker.law.bootstrap import ensure_ready
from tracker.law.effective import effective
from tracker.law.history import record_belief
from tracker.paths import jurisdictions_dir
from tracker.storage.engine import Database, knowledge_time
from tracker.storage.tables_core import (
    DATA_FILE,
    EVENT,
    IMPORTED_ITEM,
    INTERNATIONAL,
    PENDING,
    STATUS,
)

DATA = Path(__file__).resolve().parent / "data"
SEED_QUOTE = "is banned in several states including Alabama, Arkansas, Indiana, Rhode Island"


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    """A copy of the shipped jurisdictions/ that a test may edit."""
    root = tmp_path / "jurisdictions"
    shutil.copytree(jurisdictions_dir(), root)
    return root


def counts(db: Database) -> tuple[int, ...]:
    with db.read() as conn:
        return tuple(
            conn.execute(sa.select(sa.func.count()).select_from(t)).scalar_one()
            for t in (STATUS, PENDING, EVENT, INTERNATIONAL, IMPORTED_ITEM)
        )


def answer(db: Database, code: str, day: date, substance: str = "kratom"):  # type: ignore[no-untyped-def]
    with db.read() as conn:
        place = places.get(conn, code)
        assert place is not None, code
        return effective(conn, place, substance, day)


# ---------------------------------------------------------------- the seed rule


def test_undated_seed_claims_stay_in_history_and_answer_for_no_date(loaded_db: Database) -> None:
    with loaded_db.read() as conn:
        ri = history_rows(conn, "US-RI")
    seed = [r for r in ri if r.source_tier == "seed"]
    assert len(seed) == 1 and seed[0].superseded_at is None  # kept, current, attributed
    assert seed[0].source_document == "003_5c9f9ad40f381839"
    assert SEED_QUOTE in seed[0].source_quote
    assert seed[0].valid_from == seed[0].valid_to  # the empty span: no period
    # Rhode Island in 2015: the only source that says "banned" is the undated article.
    ri_2015 = answer(loaded_db, "US-RI", date(2015, 1, 1))
    assert ri_2015.status == "unknown" and ri_2015.record is None
    assert answer(loaded_db, "US-RI", date(2017, 6, 1)).status == "banned"  # cited, from 2017


@pytest.mark.parametrize(
    ("code", "day", "status", "citation"),
    [
        ("US-AL", date(2010, 1, 1), "unknown", None),
        ("US-AR", date(2015, 6, 1), "unknown", None),
        ("US-VT", date(2011, 1, 1), "unknown", None),
        ("US-WI", date(2013, 1, 1), "unknown", None),
        ("AU", date(2003, 1, 1), "unknown", None),
        # Cited records speak of these days: the answer is theirs, never the seed's.
        ("US-IN", date(2013, 1, 1), "banned", "IC 35-31.5-2-321 (synthetic drug definition)"),
        ("MY", date(2000, 1, 1), "banned", "Poisons Act 1952 (Act 366), s.30(3)"),
    ],
)
def test_seed_claims_no_longer_decide_past_dates(
    loaded_db: Database, code: str, day: date, status: str, citation: str | None
) -> None:
    got = answer(loaded_db, code, day)
    assert got.status == status
    for level in got.levels:
        assert level.record is None or level.record["source"]["tier"] != "seed"
    if citation is None:
        assert got.record is None
    else:
        assert got.record is not None
        assert got.record["instrument"]["citation"].startswith(citation)


def test_no_seed_claim_answers_any_day(loaded_db: Database) -> None:
    """Every place a seed claim names, on the first day of every year from 1990 to 2027."""
    with loaded_db.read() as conn:
        seeded = sorted(
            set(
                conn.execute(
                    sa.select(STATUS.c.place_code).where(STATUS.c.source_tier == "seed")
                ).scalars()
            )
        )
    assert {"US-AL", "US-RI", "TH", "MY", "AU", "US"} <= set(seeded)
    for code in seeded:
        for year in range(1990, 2028):
            got = answer(loaded_db, code, date(year, 1, 1))
            assert all(
                lvl.record is None or lvl.record["source"]["tier"] != "seed" for lvl in got.levels
            ), (code, year)


def test_a_dated_document_speaks_of_its_date(loaded_db: Database, data_root: Path) -> None:
    """A claim of the document dated 2025-03-15 answers for that day only; with the date
    given as 2025-03 it answers for that month."""
    seed = data_root / "records" / "seed.yaml"
    claim = (
        "\n  - {jurisdiction: KE, substance: kratom, status: banned, "
        'document: 001_481c536826aa5ad0, quote: "kratom is banned in Kenya"}\n'
    )
    text = seed.read_text().replace("\n# Statements about legal status", claim + "\n# Statements")
    seed.write_text(text)
    ensure_ready(loaded_db, data_root)
    days = [date(2025, 3, 14), date(2025, 3, 15), date(2025, 3, 16), date(2025, 3, 31)]
    assert [answer(loaded_db, "KE", d).status for d in days] == [
        "unknown",
        "banned",
        "unknown",
        "unknown",
    ]
    assert answer(loaded_db, "KE", days[1]).record["source"]["tier"] == "seed"  # type: ignore[index]
    seed.write_text(text.replace("date: 2025-03-15", "date: '2025-03'"))
    ensure_ready(loaded_db, data_root)
    assert [answer(loaded_db, "KE", d).status for d in days] == [
        "banned",
        "banned",
        "banned",
        "banned",
    ]
    assert answer(loaded_db, "KE", date(2025, 4, 1)).status == "unknown"


# ---------------------------------------------------------------- versions and retraction


def test_loading_is_idempotent(loaded_db: Database) -> None:
    before = counts(loaded_db)
    assert ensure_ready(loaded_db) is False
    assert counts(loaded_db) == before


AZ_AGE = "    valid_from: '2019'\n    min_age: 18\n    conditions: [\"labeling\""


def test_changed_file_adds_versions_and_never_edits(loaded_db: Database, data_root: Path) -> None:
    ensure_ready(loaded_db, data_root)
    with loaded_db.read() as conn:
        old = {r.id: r for r in conn.execute(sa.select(STATUS))}
    states = data_root / "records" / "us-states.yaml"
    text = states.read_text()
    assert text.count(AZ_AGE) == 1
    states.write_text(text.replace(AZ_AGE, AZ_AGE.replace("min_age: 18", "min_age: 21")))
    assert ensure_ready(loaded_db, data_root) is True
    with loaded_db.read() as conn:
        rows = {r.id: r for r in conn.execute(sa.select(STATUS))}
    assert answer(loaded_db, "US-AZ", date(2026, 11, 21)).min_age == 21
    for rid, row in old.items():  # every old row is still there, unchanged but for closing
        new = rows[rid]
        assert new._mapping["status"] == row._mapping["status"]
        assert new.recorded_at == row.recorded_at
        assert row.superseded_at is None or new.superseded_at == row.superseded_at
    closed = [rid for rid in old if old[rid].superseded_at is None and rows[rid].superseded_at]
    assert len(closed) == 1 and rows[closed[0]].place_code == "US-AZ"
    assert ensure_ready(loaded_db, data_root) is False


def test_removed_record_is_retracted(loaded_db: Database, data_root: Path) -> None:
    ensure_ready(loaded_db, data_root)
    countries = data_root / "records" / "countries.yaml"
    text = countries.read_text()
    start = text.index("  # ---------------- JP Japan")
    end = text.index("  # ----------------", start + 10)
    countries.write_text(text[:start] + text[end:])
    ensure_ready(loaded_db, data_root)
    assert answer(loaded_db, "JP", date(2026, 1, 1)).status == "unknown"
    with loaded_db.read() as conn:
        jp = history_rows(conn, "JP")
    assert len(jp) == 1 and jp[0].superseded_at is not None  # kept, closed


def _old_installation(db: Database, tmp_path: Path) -> tuple[Path, object]:
    """A data folder as an installation of November 2026 had it: the seed claims, the old
    curated.yaml and no research files, loaded; then the seed claim about Rhode Island
    as the old loader recorded it (no dates: reaching back for ever), with the digest the
    old loader stored. Returns the folder and the knowledge time of that state."""
    root = tmp_path / "old" / "jurisdictions"
    shutil.copytree(jurisdictions_dir(), root)
    for name in ("us-states.yaml", "countries.yaml", "us-local.yaml"):
        (root / "records" / name).unlink()
    shutil.copy(DATA / "curated-2026-11.yaml", root / "records" / "curated.yaml")
    ensure_ready(db, root)
    seed_file = root / "records" / "seed.yaml"
    with db.write() as conn:
        t = knowledge_time(conn)
        old = Belief(
            place_code="US-RI",
            substance="kratom",
            status="banned",
            source_tier="seed",
            origin="records/seed.yaml",
            source_document="003_5c9f9ad40f381839",
            source_quote="(as loaded by the old loader)",
            instrument_type="document",
        )
        done = record_belief(conn, old, at=t, fill_gaps=True)
        conn.execute(
            IMPORTED_ITEM.insert().values(
                origin="records/seed.yaml",
                item_hash="old-loader-digest",
                kind="status",
                row_id=done.inserted[0],
                loaded_at=t,
                retracted_at=None,
            )
        )
        conn.execute(
            DATA_FILE.update()
            .where(DATA_FILE.c.path == "records/seed.yaml")
            .values(sha256=hashlib.sha256(seed_file.read_bytes()).hexdigest())
        )
    return root, t


def test_an_installation_that_loaded_curated_yaml_moves_to_the_research(
    empty_db: Database, tmp_path: Path
) -> None:
    root, t_old = _old_installation(empty_db, tmp_path)
    assert answer(empty_db, "US-RI", date(2015, 1, 1)).status == "banned"  # the old seed row
    with empty_db.read() as conn:
        before = {r.id: r for r in conn.execute(sa.select(STATUS))}
        curated_ids = {r.id for r in before.values() if r.origin == "records/curated.yaml"}
    assert len(curated_ids) >= 30
    # Upgrade: the research files arrive, curated.yaml is gone.
    (root / "records" / "curated.yaml").unlink()
    for name in ("us-states.yaml", "countries.yaml", "us-local.yaml"):
        shutil.copy(jurisdictions_dir() / "records" / name, root / "records" / name)
    assert ensure_ready(empty_db, root) is True
    with empty_db.read() as conn:
        after = {r.id: r for r in conn.execute(sa.select(STATUS))}
        files = set(conn.execute(sa.select(DATA_FILE.c.path)).scalars())
        live_items = conn.execute(
            sa.select(sa.func.count())
            .select_from(IMPORTED_ITEM)
            .where(
                IMPORTED_ITEM.c.origin == "records/curated.yaml",
                IMPORTED_ITEM.c.retracted_at.is_(None),
            )
        ).scalar_one()
        pending_left = conn.execute(
            sa.select(sa.func.count())
            .select_from(PENDING)
            .where(PENDING.c.origin == "records/curated.yaml", PENDING.c.superseded_at.is_(None))
        ).scalar_one()
    # Nothing recorded was edited or lost: old rows are all there, at most closed once.
    for rid, row in before.items():
        assert after[rid].recorded_at == row.recorded_at
        assert after[rid]._mapping["status"] == row._mapping["status"]
        assert row.superseded_at is None or after[rid].superseded_at == row.superseded_at
    assert all(after[rid].superseded_at is not None for rid in curated_ids)
    assert not any(
        r.superseded_at is None and r.origin == "records/curated.yaml" for r in after.values()
    )
    assert live_items == 0 and pending_left == 0 and "records/curated.yaml" not in files
    # The research answers now; as known before the upgrade, the old answers stand.
    assert answer(empty_db, "US-RI", date(2015, 1, 1)).status == "unknown"
    ny = answer(empty_db, "US-NY", date(2026, 11, 21))
    assert (ny.status, ny.min_age) == ("regulated", 21)
    with empty_db.read() as conn:
        ri = places.get(conn, "US-RI")
        ny_place = places.get(conn, "US-NY")
        assert ri is not None and ny_place is not None
        then = effective(conn, ri, "kratom", date(2015, 1, 1), known_at=t_old)  # type: ignore[arg-type]
        assert then.status == "banned" and then.record["source"]["tier"] == "seed"  # type: ignore[index]
        assert effective(conn, ny_place, "kratom", date(2026, 11, 21), t_old).status == "unknown"  # type: ignore[arg-type]
    # The removed file is no longer counted: the next start has nothing to do.
    assert ensure_ready(empty_db, root) is False


# ---------------------------------------------------------------- bad input

EXTRA = (
    "\n  - jurisdiction: KE\n    substance: kratom\n    status: regulated\n"
    '    source: {url: "https://example.org", tier: B}\n    checked: 2026-01-02\n'
)
AR_START = "  - jurisdiction: AR\n    substance: kratom\n    status: banned\n    valid_from: '2017'"
AR_LATER = (
    "  - jurisdiction: AR\n    substance: kratom\n    status: restricted\n    valid_from: '2018'\n"
    '    source: {url: "https://example.org/ar", tier: B}\n    checked: 2020-01-01\n\n'
)

Edit = Callable[[str], str]


def _sub(old: str, new: str) -> Edit:
    def edit(text: str) -> str:
        assert text.count(old) >= 1, old
        return text.replace(old, new, 1)

    return edit


BAD_EDITS: list[tuple[str, Edit, str]] = [
    ("unknown tier", _sub("tier: C,", "tier: D,"), "'D' is not a source tier"),
    (
        "tier C not marked to verify",
        _sub(
            "    checked: '2021-10'\n    verify: true", "    checked: '2021-10'\n    verify: false"
        ),
        "needs verify: true",
    ),
    ("bad checked date", _sub("checked: '2021-10'", "checked: '2021-13'"), "checked"),
    ("impossible checked day", _sub("checked: '2021-10'", "checked: 2021-02-30"), "2021-02-30"),
    ("checked in the future", _sub("checked: '2021-10'", "checked: '2999-01'"), "future"),
    ("unknown instrument type", _sub("{type: admin_rule,", "{type: decree,"), "decree"),
    (
        "instrument type none with a ban",
        _sub(
            "status: banned\n    valid_from: '2017'\n    instrument: {type: admin_rule,",
            "status: banned\n    valid_from: '2017'\n    instrument: {type: none,",
        ),
        "goes with status legal",
    ),
    ("unknown place", _sub("jurisdiction: AR\n", "jurisdiction: XX\n"), "'XX'"),
    ("unknown field", _sub(AR_START, AR_START + "\n    colour: red"), "colour"),
    ("bad valid date", _sub("valid_from: '2017'", "valid_from: '2017-00'"), "valid_from"),
    ("overlap", _sub(AR_START, AR_LATER + AR_START), "overlaps"),
    ("verify not a boolean", _sub("    verify: true\n", "    verify: perhaps\n"), "verify"),
    ("unknown scope", _sub(AR_START, AR_START + "\n    scope: suburbs"), "not a scope"),
    ("twice", _sub(AR_START, AR_START + "\n    substance: 7-OH"), "twice"),
    ("bad pending direction", _sub("direction: restrict", "direction: relax"), "relax"),
    ("bad stage date", _sub("stage_date: 2025-07-01", "stage_date: 2025-07-32"), "2025-07-32"),
    ("international place", _sub("  - jurisdiction: UN", "  - jurisdiction: DE"), "is a place"),
    ("unknown top level", _sub("\nrecords:\n", "\nrecrods: []\nrecords:\n"), "recrods"),
    ("not YAML", _sub("\nrecords:\n", "\nrecords: [\n"), "YAML"),
]


@pytest.mark.parametrize(
    ("edit", "message"), [b[1:] for b in BAD_EDITS], ids=[b[0] for b in BAD_EDITS]
)
def test_malformed_file_names_file_and_line_and_loads_nothing(
    loaded_db: Database, data_root: Path, edit: Edit, message: str
) -> None:
    path = data_root / "records" / "countries.yaml"
    original = path.read_text()
    # also add a valid new record, which must not be loaded either
    text = edit(original).replace("\npending:", EXTRA + "\npending:", 1)
    assert text != original
    path.write_text(text)
    before = counts(loaded_db)
    with pytest.raises(DataFileError) as err:
        ensure_ready(loaded_db, data_root)
    assert str(err.value).startswith("records/countries.yaml:"), str(err.value)
    assert message in str(err.value)
    assert err.value.line is not None and err.value.line > 0
    assert counts(loaded_db) == before
    assert answer(loaded_db, "KE", date(2026, 1, 1)).status == "unknown"


def test_bad_input_line_points_at_the_entry(loaded_db: Database, data_root: Path) -> None:
    path = data_root / "records" / "countries.yaml"
    text = path.read_text()
    line = text[: text.index(AR_START)].count("\n") + 1
    path.write_text(text.replace("tier: C,", "tier: D,", 1))
    with pytest.raises(DataFileError) as err:
        ensure_ready(loaded_db, data_root)
    assert err.value.line is not None and line <= err.value.line <= line + 8


def test_bad_input_through_the_cli_exits_2(
    cli, loaded_url: str, data_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """`file:line: what is wrong`, exit 2, and nothing of that file loaded."""
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)
    monkeypatch.setattr("tracker.law.bootstrap.jurisdictions_dir", lambda: data_root)
    path = data_root / "records" / "us-local.yaml"
    path.write_text(
        path.read_text().replace("    verify: true", "    verify: true\n    tier: A", 1)
    )
    r: CliResult = cli("status", "US-AL")
    assert r.code == 2
    first = r.err.splitlines()[0]
    assert first.startswith("error: records/us-local.yaml:") and "unknown field(s) tier" in first
    assert "nothing from it was loaded" in r.err


def test_a_new_valid_record_loads(loaded_db: Database, data_root: Path) -> None:
    """The control for the malformed-file cases: the same extra record, alone, loads."""
    path = data_root / "records" / "countries.yaml"
    path.write_text(path.read_text().replace("\npending:", EXTRA + "\npending:", 1))
    ensure_ready(loaded_db, data_root)
    ke = answer(loaded_db, "KE", date(2026, 1, 1))
    assert ke.status == "regulated" and ke.record["checked"] == "2026-01-02"  # type: ignore[index]


def test_pr_names_puerto_rico_and_international_is_no_place(loaded_db: Database) -> None:
    pr = answer(loaded_db, "US-PR", date(2026, 11, 21))
    assert pr.levels[0].record is not None  # the research's `PR` record
    with loaded_db.read() as conn:
        rows = list(
            conn.execute(sa.select(INTERNATIONAL).where(INTERNATIONAL.c.superseded_at.is_(None)))
        )
        assert places.get(conn, "UN") is None
    assert [(r.code, r.status) for r in rows] == [("UN", "legal")]
    record = rows[0].record
    assert record["instrument"]["type"] == "none" and record["checked"] == "2021-12-07"
    assert record["source"]["tier"] == "secondary" and record["verify"] is False


def test_status_on_a_loaded_database_parses_no_data_file(
    cli, loaded_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    """The digest check skips unchanged files: nothing is parsed on a loaded database."""
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)

    def no_parsing(*args: object, **kwargs: object) -> None:
        raise AssertionError("a data file was parsed")

    monkeypatch.setattr("tracker.law.recordfile.load_yaml", no_parsing)
    monkeypatch.setattr("tracker.law.datafile.load_yaml", no_parsing)
    r: CliResult = cli("status", "US-AL")
    assert r.code == 0, r.err
    assert "BANNED" in r.out and "Ala. Act 2016-279" in r.out
