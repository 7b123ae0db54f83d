"""Hostile bodies through every extractor (hypothesis): whatever a server sends, an
extractor returns text lines or raises `SourceError(stage="extract")`, never anything
else, and never hangs (a generous SIGALRM guard turns a hang into a failure).

Also fixed cases found or feared: JSON nested thousands deep (it used to escape as a
RecursionError), a billion-laughs XML feed, a PDF whose page tree points at itself, a
compressed stream that inflates enormously, bodies in unknown or lying charsets.
"""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.hostile import no_hang
from tracker.errors import SourceError
from tracker.watch.extract import KINDS, Page, Selectors, extract
from tracker.watch.extract.charset import decode

PAGES = Path(__file__).parent / "data" / "pages"
PDF = (PAGES / "ordinance.pdf").read_bytes()
LIMIT = 30.0  # seconds: far above any real extraction (milliseconds), so only a hang trips it
# HOSTILE_EXAMPLES=5000 runs a deeper search outside the normal suite.
FUZZ = settings(
    max_examples=int(os.environ.get("HOSTILE_EXAMPLES", "150")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

SELECTORS = [(), ("main",), ("div > p", "#law"), ("p:nth-child(2)",), ("[data-x]",)]
TAGS = [
    "div",
    "p",
    "main",
    "script",
    "style",
    "nav",
    "a",
    "img",
    "svg",
    "table",
    "tr",
    "td",
    "pre",
    "br",
    "footer",
    "template",
    "iframe",
    "x-custom",
    "math",
    "title",
    "body",
]


def _contract(kind: str, page: Page, selectors: Selectors | None = None) -> None:
    """The extractor contract: lines of text, or SourceError(stage="extract")."""
    selectors = selectors or Selectors()
    with no_hang(LIMIT):
        try:
            lines = extract(kind, page, selectors)
        except SourceError as err:
            assert err.stage == "extract", (kind, err)
            assert str(err)  # a message that says what is wrong
            return
    assert isinstance(lines, list) and all(isinstance(x, str) for x in lines)
    assert any(x.strip() for x in lines)


@st.composite
def html_docs(draw: st.DrawFn) -> bytes:
    """HTML-like text: random tags (some never closed, some closed twice), attributes,
    entities, comments, CDATA, doctype and NUL bytes, in a random encoding."""
    parts: list[str] = []
    for _ in range(draw(st.integers(0, 40))):
        choice = draw(st.integers(0, 6))
        tag = draw(st.sampled_from(TAGS))
        if choice == 0:
            attrs = draw(
                st.lists(
                    st.tuples(
                        st.sampled_from(["id", "class", "onload", "href", "data-x", "style"]),
                        st.text(),
                    ),
                    max_size=3,
                )
            )
            parts.append(f"<{tag}" + "".join(f' {k}="{v}"' for k, v in attrs) + ">")
        elif choice == 1:
            parts.append(f"</{tag}>")
        elif choice == 2:
            parts.append(draw(st.text(max_size=80)))
        elif choice == 3:
            parts.append(
                draw(
                    st.sampled_from(
                        [
                            "&amp;",
                            "&#0;",
                            "&#x110000;",
                            "&bogus;",
                            "&#9999999999;",
                            "<!--",
                            "-->",
                            "<![CDATA[",
                            "]]>",
                            "<!DOCTYPE html>",
                            "<?xml version='1.0' encoding='latin-9'?>",
                            "\x00",
                        ]
                    )
                )
            )
        else:
            parts.append("<p>kratom " + draw(st.text(max_size=20)) + "</p>")
    text = "".join(parts)
    encoding = draw(st.sampled_from(["utf-8", "utf-16", "latin-1", "cp1252", "shift_jis"]))
    return text.encode(encoding, "replace")


@FUZZ
@given(
    body=html_docs(),
    selectors=st.sampled_from(SELECTORS),
    charset=st.sampled_from([None, "utf-8", "iso-8859-1", "x-bogus", "utf-16", ""]),
)
def test_html_extractor_contract(
    body: bytes, selectors: tuple[str, ...], charset: str | None
) -> None:
    _contract("html", Page(body, "text/html", charset), Selectors(selectors))


@FUZZ
@given(
    body=st.binary(max_size=4000),
    kind=st.sampled_from(sorted(KINDS)),
    media=st.sampled_from(
        [
            "",
            "application/octet-stream",
            "text/html",
            "application/pdf",
            "application/json",
            "application/atom+xml",
            "text/plain",
        ]
    ),
)
def test_any_bytes_through_any_extractor(body: bytes, kind: str, media: str) -> None:
    _contract(kind, Page(body, media), Selectors())


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=5) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=40,
)


@FUZZ
@given(value=json_values, results=st.booleans(), kind=st.sampled_from(["json", "federal_register"]))
def test_json_extractors_contract(value: object, results: bool, kind: str) -> None:
    import json

    data = {"count": 3, "results": value} if results else value
    body = json.dumps(data, allow_nan=True).encode()
    _contract(kind, Page(body, "application/json"))


@pytest.mark.parametrize("kind", ["json", "federal_register"])
@pytest.mark.parametrize("depth", [500, 5_000, 100_000])
def test_deeply_nested_json_is_an_extraction_error(kind: str, depth: int) -> None:
    # Regression: json's own recursion limit raised RecursionError out of the extractor.
    for body in (b"[" * depth + b"]" * depth, b'{"results":' * depth + b"1" + b"}" * depth):
        with pytest.raises(SourceError, match=r"nested|Federal Register|not a list|no text"):
            extract(kind, Page(body, "application/json"))


@st.composite
def damaged_pdfs(draw: st.DrawFn) -> bytes:
    """The sample ordinance with bytes replaced, cut, repeated or inserted."""
    data = bytearray(PDF)
    for _ in range(draw(st.integers(1, 8))):
        op = draw(st.integers(0, 3))
        at = draw(st.integers(0, len(data) - 1))
        if op == 0:
            data[at] = draw(st.integers(0, 255))
        elif op == 1:
            del data[at : at + draw(st.integers(1, 200))]
        elif op == 2:
            data[at:at] = draw(
                st.sampled_from(
                    [
                        b"0 R",
                        b"999999999",
                        b"-1",
                        b"<<",
                        b">>",
                        b"/Kids [3 0 R 3 0 R]",
                        b"/Length 99999999",
                        b"/Filter /FlateDecode",
                        b"obj",
                        b"\x00" * 10,
                    ]
                )
            )
        else:
            data = data[:at]
        if len(data) < 2:
            data = bytearray(b"%PDF-1.4\n")
    return bytes(data)


@FUZZ
@given(body=damaged_pdfs())
def test_pdf_extractor_contract(body: bytes) -> None:
    _contract("pdf", Page(body, "application/pdf"))


def _pdf(objects: list[bytes]) -> bytes:
    """A PDF with a correct cross-reference table around `objects` (1-based)."""
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for n, body in enumerate(objects, 1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % n + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (
        len(objects) + 1,
        xref,
    )
    return bytes(out)


@pytest.mark.parametrize(
    "body",
    [
        b"<html><body><main><p>kratom<script>x()</script>\x0b rule</p></main></body></html>",
        b"<html><body><main><p>\x01kratom\xff<nav>menu</nav>\x1b rule</p></main></body></html>",
        b"<p>kratom<!-- c --><style>p{}</style>\x0c\x00 rule</p>",
    ],
)
def test_control_characters_next_to_dropped_elements(body: bytes) -> None:
    # Regression, found by atheris: lxml keeps a vertical tab (or SOH, ESC ...) it parsed,
    # but raised ValueError when the text around a dropped <script> was put back together.
    lines = extract("html", Page(body, "text/html"))
    assert "kratom" in "".join(lines) and "rule" in "".join(lines)


def test_pdf_with_a_reference_inside_its_content_stream() -> None:
    # Regression, found by this file's fuzzing: pypdf raised AssertionError("mypy"),
    # which escaped the extractor as an internal error of the check.
    body = PDF.replace(b"stream\nBT", b"stream\n/Kids [3 0 R 3 0 R]BT", 1)
    assert body != PDF
    with pytest.raises(SourceError, match="damaged PDF"):
        extract("pdf", Page(body, "application/pdf"))


def test_pdf_whose_page_tree_points_at_itself() -> None:
    body = _pdf(
        [b"<< /Type /Catalog /Pages 2 0 R >>", b"<< /Type /Pages /Kids [2 0 R] /Count 1 >>"]
    )
    _contract("pdf", Page(body, "application/pdf"))


def test_pdf_with_a_stream_that_inflates_enormously() -> None:
    bomb = zlib.compress(b"(kratom) Tj " * 4_000_000, 9)  # 48 MB of content from ~100 kB
    body = _pdf(
        [
            b"<< /Type /Catalog /Pages 2 0 R >>",
            b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(bomb) + bomb + b"\nendstream",
        ]
    )
    _contract("pdf", Page(body, "application/pdf"))


def test_billion_laughs_feed_is_refused_or_harmless() -> None:
    entities = "".join(f'<!ENTITY l{n} "{("&l" + str(n - 1) + ";") * 10}">' for n in range(1, 10))
    body = (
        f'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY l0 "ha">{entities}]>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&l9;</title></entry></feed>'
    ).encode()
    _contract("feed", Page(body, "application/atom+xml"))


def test_external_entity_in_a_feed_is_not_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    body = (
        f'<?xml version="1.0"?><!DOCTYPE feed [<!ENTITY x SYSTEM "file://{secret}">]>'
        '<feed xmlns="http://www.w3.org/2005/Atom"><entry><title>&x;</title></entry></feed>'
    ).encode()
    try:
        lines = extract("feed", Page(body, "application/atom+xml"))
    except SourceError:
        return
    assert "TOP-SECRET" not in "\n".join(lines)


@FUZZ
@given(body=st.binary(max_size=2000), header=st.one_of(st.none(), st.text(max_size=40)))
def test_charset_detection_never_fails(body: bytes, header: str | None) -> None:
    with no_hang(LIMIT):
        text, encoding = decode(body, header)
    assert isinstance(text, str) and encoding


@pytest.mark.parametrize(
    "charset", ["undefined", "UNDEFINED", "utf-8\x00", "\x00", "rot13", "base64"]
)
def test_a_charset_header_naming_a_broken_codec_is_ignored(charset: str) -> None:
    # Regression: `charset=undefined` (a codec that always raises UnicodeError) and a NUL
    # in the name escaped from the decoder as errors of the check, not of the page.
    body = "<html><body><main><p>Año kratom</p></main></body></html>".encode("latin-1")
    text, _ = decode(body, charset.encode().decode("unicode_escape"))
    assert "kratom" in text
    _contract("html", Page(body, "text/html", charset.encode().decode("unicode_escape")))
