"""The Atom feed: parsed by feedparser without errors (bozo 0), stable entry ids, and a
status recorded with `tracker record` shows up as the newest entry."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import feedparser
import pytest

from tracker.alerts.events import emit
from tracker.export.snapshot import FEED_LIMIT
from tracker.law.belief import Belief
from tracker.law.dates import PartialDate
from tracker.law.history import record_belief
from tracker.storage.engine import Database

pytestmark = pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)


@pytest.fixture
def db_env(loaded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)
    return loaded_url


def _feed(cli: Any, path: Path, *args: str) -> Any:
    r = cli("export", "--format", "atom", "-o", str(path), *args)
    assert r.code == 0, r.err
    parsed = feedparser.parse(path.read_bytes())
    assert parsed.bozo == 0, parsed.get("bozo_exception")
    return parsed


def test_feed_is_valid_atom_with_stable_ids(cli: Any, db_env: str, tmp_path: Path) -> None:
    first = _feed(cli, tmp_path / "a.atom")
    assert first.version == "atom10"
    assert first.feed.id.startswith("urn:uuid:") and first.feed.author == "kratom tracker"
    ids = [e.id for e in first.entries]
    assert ids and len(set(ids)) == len(ids) and all(i.startswith("urn:uuid:") for i in ids)
    titles = " | ".join(e.title for e in first.entries)
    assert "Rhode Island" in titles and "SB 497" in titles  # status change and a bill
    again = _feed(cli, tmp_path / "b.atom")
    assert [e.id for e in again.entries] == ids
    assert (tmp_path / "a.atom").read_bytes() == (tmp_path / "b.atom").read_bytes()

    r = cli(
        "record",
        "US-NV",
        "banned",
        "--from",
        "2026-11-01",
        "--citation",
        "Nev. SB 1 (2026)",
        "--source",
        "https://www.leg.state.nv.us/",
        "--tier",
        "official",
    )
    assert r.code == 0, r.err
    after = _feed(cli, tmp_path / "c.atom")
    newest = after.entries[0]
    assert "Nevada" in newest.title and "banned" in newest.title
    assert "Nev. SB 1 (2026)" in newest.content[0].value
    assert newest.links[0].href == "https://www.leg.state.nv.us/"
    assert {t.term for t in newest.tags} >= {"status_changed", "major"}
    # Old entries keep their ids (the feed holds the latest 100: the oldest may drop out).
    assert set(ids[: FEED_LIMIT - 1]) <= {e.id for e in after.entries}


def test_markup_and_control_characters_stay_text(
    cli: Any, db_env: str, loaded_db: Database, tmp_path: Path
) -> None:
    with loaded_db.write() as conn:
        record_belief(
            conn,
            Belief(
                place_code="US-OR",
                substance="kratom",
                status="restricted",
                source_tier="secondary",
                origin="test",
                valid_from=PartialDate.parse("2025-01-01"),
                instrument_citation="<b>Or.</b> & \x07rule\x00",
                note="]]> <script>alert(1)</script>",
                source_url="https://example.org/or",
            ),
        )
        emit(
            conn,
            "page_changed",
            importance="minor",
            title="Oregon page changed without kratom terms",
            place_code="US-OR",
        )
        emit(
            conn,
            "source_failing",
            importance="minor",
            title="Oregon source failing",
            place_code="US-OR",
        )
    parsed = _feed(cli, tmp_path / "f.atom")
    entry = next(e for e in parsed.entries if "Oregon" in e.title)
    assert "<b>Or.</b> & rule" in entry.content[0].value  # text, control characters dropped
    assert "<script>alert(1)</script>" in entry.content[0].value
    titles = [e.title for e in parsed.entries]
    assert "Oregon source failing" not in titles  # operators' events stay out
    assert "Oregon page changed without kratom terms" not in titles


def test_feed_for_a_past_day_has_only_what_was_known_then(
    cli: Any, db_env: str, tmp_path: Path
) -> None:
    # The prepared database learned everything today, so nothing was known in 2025.
    parsed = _feed(cli, tmp_path / "old.atom", "--as-of", "2025-01-01")
    assert parsed.entries == []
