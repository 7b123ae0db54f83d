"""HTML pages: parsed by lxml, regions chosen with CSS selectors (cssselect), text by block.

BeautifulSoup (beautifulsoup4, a dependency) decides the encoding of a page that is not
UTF-8 (`tracker.watch.extract.charset`, with `bs4.dammit`); the tree itself is lxml's own.
Why not BeautifulSoup's tree: on the 30 kB pages of `bench/watch_cycle.py`, building the
bs4 tree (with the same lxml parser underneath) took 2.75 ms, 3.2 ms with the selection
and `get_text`, against 0.26 ms for this whole extractor (measured 2026-11-21; 7.9 ms
against 0.55 ms on the first statute pages). At 1,000 pages per cycle that is the CPU
budget of the whole cycle on a 2-core machine, and the watch-cycle benchmark could not
meet its targets. The text rules are the ones DECISIONS.md gives for bs4 (drop script,
style, noscript, template, nav, footer, form controls; selectors; NFC and whitespace in
`normalize`).

Rules:
- `select`: every selector must match at least one element, else the check fails with
  "selector ... matched nothing" (never an empty page). Regions are taken in document
  order; a region inside another selected region is not repeated. No `select` means the
  whole `<body>`.
- Inside the regions, the default drops and every `exclude` match are removed (an exclude
  selector may match nothing: volatile parts come and go).
- Text is split into lines at block elements and `<br>`; inline elements (links,
  emphasis) stay inside their line, so a one-word change is a one-line change. Line
  breaks in the HTML source are only wrapping (spaces), except inside `<pre>`.
- Comments and processing instructions are dropped by the parser; attributes are never read, so
  reordered attributes or rotating tokens in them change nothing.

Bounded work: libxml2 compares each attribute of an element with all those before it,
so one element with 40,000 attributes took seconds to parse and 300,000 took minutes.
Before parsing, a page with an element of more than `MAX_ATTRIBUTES` attributes, or
with more than `MAX_TAGS` tags, is refused with an extraction error (a linear scan
with possessive and atomic groups, which cannot backtrack). Nesting deeper than
libxml2's limit is cut by the parser itself.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

import lxml.etree as etree
from cssselect import GenericTranslator, SelectorError

from tracker.watch.extract import Page, Selectors, extractor, fail
from tracker.watch.extract.charset import decode, utf8

DEFAULT_DROP = (
    "script, style, noscript, template, nav, footer, input, select, textarea, button, "
    "option, iframe, object, embed, svg, canvas"
)
# The same drops as tag names: one walk of the tree in C instead of the sixteen
# descendant scans of the selector's XPath (about half the time).
_DROP_TAGS = tuple(name.strip() for name in DEFAULT_DROP.split(","))
_BLOCK_NAMES = (
    "address article aside blockquote body br caption center dd details dialog div dl dt "
    "fieldset figcaption figure form h1 h2 h3 h4 h5 h6 header hgroup hr html li main menu "
    "ol p pre section summary table tbody td tfoot th thead title tr ul"
)
BLOCKS = frozenset(_BLOCK_NAMES.split())
_THREAD = threading.local()
MAX_ATTRIBUTES = 128  # per element: 10 MB of elements with 128 attributes parse in ~1 s
MAX_TAGS = 500_000  # a 10 MB page of tiny elements took 5 s; real pages have far fewer
# A start tag with MAX_ATTRIBUTES attributes, tokenized the way HTML does it (a name, then
# an optional value, quoted or not; `/` and spaces separate). Each attribute is an atomic
# group, so a tag with fewer attributes fails in time linear in its length.
_ATTRS = (
    r"<[A-Za-z][^\s/>]*+(?>[\s/]*+[^\s/>][^\s/>=]*+"
    r"(?:\s*+=\s*+(?:\"[^\"]*+\"?|'[^']*+'?|[^\s\"'>][^\s>]*+))?)" + f"{{{MAX_ATTRIBUTES + 1}}}"
)
_CROWDED_TEXT = re.compile(_ATTRS)
_CROWDED_BYTES = re.compile(_ATTRS.encode())


def _parser(encoding: str | None) -> Any:
    """This thread's parser: lxml serializes the threads sharing one parser, and
    parses without the GIL, so one parser per thread lets parsing overlap. Plain lxml
    elements (not lxml.html's): no per-element class look-up on every access."""
    parsers = getattr(_THREAD, "parsers", None)
    if parsers is None:
        parsers = _THREAD.parsers = {}
    parser = parsers.get(encoding)
    if parser is None:
        parser = parsers[encoding] = etree.HTMLParser(
            remove_comments=True, remove_pis=True, no_network=True, encoding=encoding
        )
    return parser


@lru_cache(maxsize=512)
def compile_selector(css: str) -> etree.XPath:
    """The compiled selector. Raises ValueError naming the problem."""
    try:
        return etree.XPath(GenericTranslator().css_to_xpath(css))
    except SelectorError as exc:
        raise ValueError(f"invalid CSS selector {css!r}: {exc}") from None
    except etree.XPathError as exc:  # pragma: no cover - cssselect emits valid XPath
        raise ValueError(f"unsupported CSS selector {css!r}: {exc}") from None


def _refuse_crowded(markup: bytes | str) -> None:
    """Refuse, before parsing, a page whose parse would take superlinear time."""
    tags = markup.count(b"<") if isinstance(markup, bytes) else markup.count("<")
    if tags > MAX_TAGS:
        raise fail(
            f"the page has {tags:,} tags, over the {MAX_TAGS:,} this tracker parses",
            "A hostile or broken page: check it in a browser; nothing was stored.",
        )
    crowded = (
        _CROWDED_BYTES.search(markup) if isinstance(markup, bytes) else _CROWDED_TEXT.search(markup)
    )
    if crowded:
        raise fail(
            f"an element has more than {MAX_ATTRIBUTES} attributes (a hostile or broken "
            "page); it was not parsed",
            "Check the page in a browser; nothing was stored.",
        )


def _parse(page: Page) -> Any:
    try:
        if utf8(page.body) is not None:
            # The bytes as they are, with the encoding fixed: libxml2 then ignores a
            # `<meta>` or XML declaration that names another charset.
            _refuse_crowded(page.body)
            root = etree.fromstring(page.body, _parser("utf-8"))
        else:
            text, _ = decode(page.body, page.charset)
            if text.lstrip().startswith("<?xml"):  # lxml refuses str with a declaration
                text = text.split("?>", 1)[-1]
            _refuse_crowded(text)
            root = etree.fromstring(text, _parser(None))
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise fail(f"not parseable as HTML: {exc}") from None
    if root is None:
        raise fail("not parseable as HTML: no element found")
    return root


# Characters lxml keeps when it parses a page but refuses when it is given them back.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _drop(el: Any) -> None:
    """Remove `el` but keep its tail text, which belongs to the parent."""
    parent = el.getparent()
    if parent is None:
        return
    tail = el.tail
    prev = el.getprevious()
    if tail:
        # lxml keeps control characters (VT, SOH, ...) it parsed from a page, but refuses
        # text that contains them: a vertical tab next to a dropped `<script>` raised
        # ValueError (found by fuzzing). As text they are only whitespace anyway.
        if prev is not None:
            prev.tail = _NOT_XML.sub(" ", (prev.tail or "") + tail)
        else:
            parent.text = _NOT_XML.sub(" ", (parent.text or "") + tail)
    parent.remove(el)


_BREAK = "\x1e"  # a line break decided by the structure, not by the source's wrapping


def _text(root: Any) -> str:
    """Text of `root`: a line per block; line breaks of the HTML source are spaces
    (HTML wraps text freely), except inside `<pre>`."""
    out: list[str] = []
    add = out.append  # this loop runs twice per element: every attribute look-up counts
    blocks = BLOCKS
    pre = 0
    # The parser drops comments and processing instructions, so every node here is an
    # element (its tag a string).
    for action, el in etree.iterwalk(root, events=("start", "end")):
        tag = el.tag
        if action == "start":
            if tag in blocks:
                add(_BREAK)
            if tag == "pre":
                pre += 1
            text = el.text
            if text:
                add(text.replace("\n", _BREAK) if pre else text)
        else:
            if tag == "pre":
                pre -= 1
            if tag in blocks:
                add(_BREAK)
            tail = el.tail
            if tail and el is not root:
                add(tail.replace("\n", _BREAK) if pre else tail)
    return "".join(out).replace("\r", " ").replace("\n", " ").replace(_BREAK, "\n")


@extractor("html", media_types=("text/html", "application/xhtml+xml"), selectors=True)
def html(page: Page, selectors: Selectors) -> list[str]:
    """HTML page: text of the selected regions, without scripts, navigation and footers."""
    doc = _parse(page)
    if selectors.select:
        regions: list[Any] = []
        for css in selectors.select:
            found = compile_selector(css)(doc)
            if not found:
                raise fail(
                    f"selector {css!r} matched nothing",
                    "The page layout may have changed: check the page and the source's select.",
                )
            regions += found
        if len(regions) > 1:
            picked = set(regions)
            regions = [r for r in doc.iter() if r in picked]  # document order, once each
            regions = [r for r in regions if not any(a in picked for a in r.iterancestors())]
    else:
        body = doc.find("body")
        regions = [body if body is not None else doc]
    excludes = [compile_selector(css) for css in selectors.exclude]
    for region in regions:
        # The default drops first, then each exclude on what is left, in order (as
        # before: a sibling selector sees the tree without the scripts).
        for el in list(region.iter(*_DROP_TAGS)):
            if el is not region:
                _drop(el)
        for match in excludes:
            for el in match(region):
                if el is not region:
                    _drop(el)
    return [_text(region) for region in regions]
