"""Extraction and normalization, table-driven over saved pages (tests/data/pages/cases.yaml),
plus the rules behind them: masks, whitespace, diff escaping and keywords."""

from __future__ import annotations

import html
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tracker.errors import SourceError
from tracker.watch.diff import compare, keywords_in
from tracker.watch.extract import KINDS, Page, Selectors, extract
from tracker.watch.normalize import Rules, digest, normalize

PAGES = Path(__file__).resolve().parent / "data" / "pages"
CASES: list[dict[str, Any]] = yaml.safe_load((PAGES / "cases.yaml").read_text())["cases"]
BY_NAME = {c["name"]: c for c in CASES}
MEDIA = {".html": "text/html", ".pdf": "application/pdf", ".json": "application/json"}
MEDIA[".atom"] = "application/atom+xml"


def run_case(case: dict[str, Any]) -> list[str]:
    path = PAGES / case["file"]
    page = Page(
        path.read_bytes(),
        case.get("media_type", MEDIA[path.suffix]),
        case.get("charset"),
        f"http://127.0.0.1/{case['file']}",
    )
    selectors = Selectors(tuple(case.get("select", ())), tuple(case.get("exclude", ())))
    rules = Rules(case.get("ignore", ()), case.get("masks", ()))
    return normalize(extract(case.get("kind", "html"), page, selectors), rules)


@pytest.mark.parametrize("case", CASES, ids=[c["name"] for c in CASES])
def test_extraction_case(case: dict[str, Any]) -> None:
    if "error" in case:
        with pytest.raises(SourceError) as info:
            run_case(case)
        assert case["error"] in str(info.value)
        assert info.value.stage == "extract"
        return
    lines = run_case(case)
    assert lines, "an extraction never yields an empty page"
    if "lines" in case:
        assert lines == [str(x) for x in case["lines"]]
    for wanted in case.get("contains", ()):
        assert wanted in lines
    text = "\n".join(lines)
    for unwanted in case.get("absent", ()):
        assert unwanted not in text
    if "same_as" in case:
        other = run_case(BY_NAME[case["same_as"]])
        assert lines == other and digest(lines) == digest(other)
    expectations = {"lines", "contains", "absent", "same_as"}
    assert expectations & set(case), f"case {case['name']} checks nothing"


def test_every_kind_has_help_and_a_case() -> None:
    kinds_with_cases = {c.get("kind", "html") for c in CASES}
    for name, kind in KINDS.items():
        assert kind.help, name
        assert name in kinds_with_cases, name


def test_empty_body_is_an_error_not_an_empty_page() -> None:
    with pytest.raises(SourceError, match="empty body"):
        extract("html", Page(b"  \n", "text/html"))
    with pytest.raises(SourceError, match="no text"):
        extract("html", Page(b"<html><body><script>x()</script></body></html>", "text/html"))


def test_unknown_kind() -> None:
    with pytest.raises(SourceError, match="unknown kind 'xls'"):
        extract("xls", Page(b"x", ""))


def test_normalize_whitespace_nfc_and_zero_width() -> None:
    decomposed = "Regulacio\u0301n"  # o + combining acute accent
    assert normalize([f"  {decomposed}\u00a0\u00a0del\tkra\u200btom \n\n x  "]) == [
        "Regulación del kratom",
        "x",
    ]


@pytest.mark.parametrize(
    ("body", "header", "text", "encoding"),
    [
        ("Straße".encode(), "iso-8859-1", "Straße", "utf-8"),  # valid UTF-8 wins
        (b"\xef\xbb\xbfStra\xc3\x9fe", None, "Straße", "utf-8"),  # the BOM is dropped
        ("\ufeffStraße".encode("utf-16-le"), None, "Straße", "utf-16le"),
        (b"Stra\xdfe", "latin-1", "Straße", "latin-1"),  # the header, as a user encoding
        (b'<meta charset="windows-1252"><p>\x93Kratom\x94', None, "“Kratom”", "windows-1252"),
        # Nothing decodes strictly (0x81 is no Windows-1252 character): replaced.
        (
            b"<p>Any person who sells kratom \x81 under this section.</p>",
            None,
            "\ufffd",
            "windows-1252",
        ),
    ],
)
def test_charset_is_decided_from_the_bytes(
    body: bytes, header: str | None, text: str, encoding: str
) -> None:
    from tracker.watch.extract.charset import decode

    decoded, used = decode(body, header)
    assert text in decoded and not decoded.startswith("\ufeff")
    assert used.lower() == encoding


def test_rules_refuse_bad_patterns_and_unknown_masks() -> None:
    with pytest.raises(ValueError, match="invalid ignore pattern"):
        Rules(["(unclosed"])
    with pytest.raises(ValueError, match="unknown mask 'weather'"):
        Rules((), ["weather"])


def test_html_diff_escapes_every_piece_of_page_text() -> None:
    old = ["<b>Kratom</b> & co", "same"]
    new = ["<script>alert(1)</script> & co", "same", "<img src=x onerror=alert(2)>"]
    d = compare(old, new, max_bytes=10_000)
    assert d.html is not None
    # Once our own markup is taken out, no tag is left, and what is left, unescaped,
    # is exactly the page text of both versions.
    ours = re.compile(r'<div class="[a-z]+">|</div>|</?del>|</?ins>')
    text = ours.sub("", d.html)
    assert "<" not in text and ">" not in text
    assert "&lt;img src=x onerror=alert(2)&gt;" in text
    (changed,) = re.findall(r'<div class="chg">(.*)</div>', d.html)
    before = re.sub(r"<ins>.*?</ins>", "", changed)
    after = re.sub(r"<del>.*?</del>", "", changed)
    assert html.unescape(ours.sub("", before)) == old[0]
    assert html.unescape(ours.sub("", after)) == new[0]


def test_word_level_highlight() -> None:
    d = compare(["persons 21 or older"], ["persons 18 or older"], max_bytes=10_000)
    assert d.html is not None and "<del>21</del><ins>18</ins>" in d.html
    assert d.unified is not None
    assert "-persons 21 or older" in d.unified and "+persons 18 or older" in d.unified


def test_too_large_to_diff_still_finds_changed_lines() -> None:
    old = [f"line {i}" for i in range(1000)]
    new = [*old[:500], "kratom line", *old[500:]]
    d = compare(old, new, max_bytes=1000)
    assert d.too_large and d.unified is None and d.html is None
    assert d.added == ["kratom line"] and d.removed == []


def test_keywords() -> None:
    lines = ["Sale of KRATOM and 7-OH products", "mitragynine levels", "7-OHM is not 7-OH"]
    assert keywords_in(lines) == ["kratom", "mitragynine", "7-OH"]
    assert keywords_in(["Mitragyna speciosa leaf"], ["leaf"]) == ["Mitragyna", "leaf"]
    assert keywords_in(["nothing here about the plant"]) == []
