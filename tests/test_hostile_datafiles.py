"""Hostile data files (hypothesis): the YAML reader (`datafile.load_yaml`), the record
and seed loader (`loader.parse_file`) and the source files (`sources.load_specs`).

Contract: a record file either parses into items or raises `DataFileError` naming the
file (and line when known); a source file never raises: each bad entry, or a file that
cannot be read, becomes a reported problem and the good entries still load. Nothing
hangs. Also fixed cases: YAML tags that would run code, alias bombs, an interval too long
for a timedelta (it used to escape as an OverflowError and stop every sync).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.hostile import no_hang
from tracker.errors import DataFileError
from tracker.law.datafile import load_yaml
from tracker.law.recordfile import parse_file
from tracker.watch.extract import KINDS
from tracker.watch.sources import load_specs

LIMIT = 30.0
FUZZ = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "120")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
PLACES = {c: c for c in ("US", "US-RI", "US-AL", "TH", "GB", "US-PR")} | {"PR": "US-PR"}

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=30),
    st.dates().map(str),
    st.sampled_from(
        [
            "2026-02-30",
            "2026-13",
            "99999",
            "1e400",
            "-0",
            "~",
            "!!binary x",
            "regulated",
            "banned",
            "official",
            "C",
            "vendor",
            "none",
            "UN",
            "kratom",
            "7-OH",
            "10**100d",
        ]
    ),
)
values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=20,
)
RECORD_KEYS = [
    "jurisdiction",
    "substance",
    "status",
    "valid_from",
    "valid_to",
    "expires",
    "min_age",
    "conditions",
    "instrument",
    "source",
    "note",
    "verify",
    "checked",
    "bogus",
]
SOURCE_KEYS = [
    "key",
    "place",
    "url",
    "kind",
    "select",
    "exclude",
    "ignore",
    "masks",
    "keywords",
    "every",
    "cron",
    "title",
    "verified",
    "bogus",
]
SOURCE_VALUES = st.one_of(
    values,
    st.sampled_from(
        [
            "html",
            "pdf",
            "feed",
            "json",
            "federal_register",
            "US-RI",
            "http://x.example/a",
            "https://[::1]:99999/",
            "javascript:alert(1)",
            "main",
            "div >",
            "[",
            "(?P<",
            "(a+)+$",
            "dates",
            "1s",
            "0s",
            "99999999999999999999d",
            "1d",
            "* * * * *",
            "61 * * * *",
            "0 0 31 2 *",
        ]
    ),
)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    return path


@FUZZ
@given(text=st.text(max_size=400))
def test_any_text_is_yaml_or_a_data_file_error(tmp_path: Path, text: str) -> None:
    path = tmp_path / "any.yaml"
    path.write_bytes(text.encode("utf-8", "surrogatepass"))
    with no_hang(LIMIT):
        try:
            load_yaml(path)
        except DataFileError as err:
            assert str(path) in str(err)


@FUZZ
@given(
    entries=st.lists(st.dictionaries(st.sampled_from(RECORD_KEYS), values, max_size=9), max_size=5),
    pending=st.lists(st.dictionaries(st.text(max_size=12), values, max_size=5), max_size=2),
    international=st.lists(
        st.dictionaries(st.sampled_from(RECORD_KEYS), values, max_size=9), max_size=2
    ),
)
def test_record_files_parse_or_name_the_problem(
    tmp_path: Path,
    entries: list[dict[str, object]],
    pending: list[dict[str, object]],
    international: list[dict[str, object]],
) -> None:
    root = tmp_path / "jurisdictions"
    (root / "records").mkdir(parents=True, exist_ok=True)
    doc: dict[str, object] = {"records": entries}
    if pending:
        doc["pending"] = pending
    if international:
        doc["international"] = international
    path = _write(root / "records" / "records.yaml", yaml.safe_dump(doc, allow_unicode=True))
    with no_hang(LIMIT):
        try:
            items = parse_file(path, root, PLACES)
        except DataFileError as err:
            assert "records.yaml" in str(err)
            return
    assert all(item.kind in ("status", "pending", "international") for item in items)


@FUZZ
@given(
    claims=st.lists(
        st.dictionaries(
            st.sampled_from(
                ["jurisdiction", "substance", "status", "document", "quote", "note", "x"]
            ),
            values,
            max_size=6,
        ),
        max_size=4,
    ),
    documents=values,
)
def test_seed_files_parse_or_name_the_problem(
    tmp_path: Path, claims: list[dict[str, object]], documents: object
) -> None:
    root = tmp_path / "jurisdictions"
    (root / "records").mkdir(parents=True, exist_ok=True)
    doc = {"documents": documents, "claims": claims}
    path = _write(root / "records" / "seed.yaml", yaml.safe_dump(doc, allow_unicode=True))
    with no_hang(LIMIT):
        try:
            parse_file(path, root, PLACES)
        except DataFileError as err:
            assert "seed.yaml" in str(err)


@FUZZ
@given(
    entries=st.lists(
        st.dictionaries(st.sampled_from(SOURCE_KEYS), SOURCE_VALUES, max_size=10), max_size=6
    )
)
def test_source_files_never_raise(tmp_path: Path, entries: list[dict[str, object]]) -> None:
    good = {"key": "good-one", "place": "US-RI", "url": "https://example.org/law", "kind": "html"}
    path = _write(tmp_path / "sources.yaml", yaml.safe_dump({"sources": [*entries, good]}))
    with no_hang(LIMIT):
        specs, problems, complete = load_specs([(path, "operator")])
    keys = [s.key for s in specs]
    assert "good-one" in keys or any("good-one" in str(p) for p in problems)  # a duplicate key
    assert all(s.kind in KINDS for s in specs)
    assert complete == {"operator"}


@pytest.mark.parametrize(
    "text",
    [
        "sources: !!python/object/apply:os.system ['echo pwned > /tmp/tracker-pwned']\n",
        "sources: !!python/name:os.system\n",
        "a: &a ['lol','lol','lol','lol','lol','lol','lol','lol','lol']\n"
        "b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n"
        "d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]\n"
        "sources: [{key: bomb, place: US-RI, url: 'https://x.example/', kind: html,"
        " keywords: *e}]\n",
        "sources:\n  - key: a\n    key: b\n",
        "sources:\n  - ? [a, b]\n    : c\n",
        "sources:\n\t- key: tab\n",
        "sources: [{key: long, place: US-RI, url: 'https://x.example/', kind: html,"
        " every: 99999999999999999999d}]\n",
        "sources: [{key: x, place: US-RI, url: 'https://x.example/', kind: html,"
        " ignore: ['(?P<']}]\n",
    ],
)
def test_hostile_source_files_are_problems_not_crashes(tmp_path: Path, text: str) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    with no_hang(LIMIT):
        specs, problems, _ = load_specs([(path, "operator")])
    assert not specs and problems, (specs, problems)
    assert not Path("/tmp/tracker-pwned").exists()


def test_an_interval_too_long_is_a_problem_of_its_entry(tmp_path: Path) -> None:
    # Regression: timedelta() raised OverflowError, which escaped `sync` and stopped every
    # `tracker check` and the daemon's start, because of one entry.
    path = tmp_path / "sources.yaml"
    path.write_text(
        "sources:\n"
        "  - {key: too-long, place: US-RI, url: 'https://x.example/a', kind: html,"
        " every: 999999999999d}\n"
        "  - {key: fine, place: US-RI, url: 'https://x.example/b', kind: html, every: 6h}\n"
    )
    specs, problems, _ = load_specs([(path, "operator")])
    assert [s.key for s in specs] == ["fine"]
    assert len(problems) == 1 and "too-long" in str(problems[0]) and "too long" in str(problems[0])


def test_a_file_that_is_not_utf8_is_a_data_file_error(tmp_path: Path) -> None:
    path = tmp_path / "records.yaml"
    path.write_bytes(b"records:\n  - note: \xff\xfe\x00bad\n")
    with pytest.raises(DataFileError, match="cannot read"):
        load_yaml(path)
