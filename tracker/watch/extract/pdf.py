"""PDF documents: the text of every page (pypdf), never the bytes, as one line per
sentence, without page furniture.

PDFs are regenerated with new timestamps and object ids while their text stays the same,
so the text is what gets hashed. A body that does not start with the `%PDF-` signature
(an HTML error page served as a PDF link, say) is refused before pypdf sees it.

Where a page breaks is layout, not law: a longer sentence on page 2 pushes a line onto
page 3 and moves every running header, footer and page number after it. So, by default:

1. **Page furniture is dropped**: at the top and bottom `EDGE` lines of each page, a
   line that repeats at that edge on at least two pages and half of them (the outermost
   line may differ by the page's own number: `Code, page 3` is the same header on every
   page), and a line that is only a page number (`7`, `- 7 -`, `Page 7`, `Page 7 of 9`,
   `7/9`). A source with `keep_furniture: true` keeps them.
2. **The text is reflowed**: the pages are read as one text; a line break inside a
   paragraph is a space (a word hyphenated across lines is joined); a short line (under
   `SHORT` of the longest) that ends a sentence, or a line starting a numbered section,
   ends a paragraph; each paragraph is cut into sentences. The diff of a longer sentence
   is that sentence alone.
"""

from __future__ import annotations

import io
import logging
import re
from collections import Counter
from collections.abc import Sequence

from tracker.watch.extract import Page, Selectors, extractor, fail

logger = logging.getLogger(__name__)

EDGE = 2  # lines at the top and at the bottom of a page that may be furniture
SHORT = 0.75  # a line shorter than this part of the longest line ends its paragraph
_PAGE_NUMBER = re.compile(
    r"^(?:page|pg\.?|p\.)?\s*[-–—(\[]?\s*\d{1,4}\s*[-–—)\]]?"
    r"(?:\s*(?:of|/)\s*\d{1,4})?$",
    re.I,
)
_SECTION_START = re.compile(
    r"^(?:§|\d+(?:\.\d+)+\b|\(\w{1,4}\)\s|(?:article|chapter|section|division|title|part)\s+\w)",
    re.I,
)
_SENTENCE_END = re.compile(r"[.!?][\"”')\]]*\s+(?=[\"“(\[]?[A-Z0-9§])")
# Words before a period that do not end a sentence (citations are full of them).
_ABBREVIATIONS = frozenset(
    "art arts ch chap co corp dept div gen inc jr no nos p pp para rev sec secs st stat sr "  # noqa: SIM905
    "subd supp u.s vol vs e.g i.e etc cf approx".split(" ")
)


def _key(line: str, number: int | None = None) -> str:
    """The line for comparison across pages; with `number`, that page's own number blanked
    out (`Code, page 3` on page 3 and `Code, page 4` on page 4 are one running header)."""
    text = " ".join(line.casefold().split())
    return text if number is None else re.sub(rf"(?<!\d){number}(?!\d)", "#", text)


def drop_furniture(pages: Sequence[Sequence[str]]) -> list[list[str]]:
    """Each page's lines without running headers, footers and page numbers.

    A line repeated word for word may sit anywhere in the `EDGE` band; a line that repeats
    only with the page's number blanked must be the outermost line (so `Sec. 2` at the
    top of page 2 is never taken for a numbered header)."""
    seen: dict[str, Counter[str]] = {"top": Counter(), "bottom": Counter()}
    for n, lines in enumerate(pages, 1):
        for edge, band in (("top", lines[:EDGE]), ("bottom", lines[-EDGE:])):
            seen[edge].update(
                {_key(x) for x in band} | {"#" + _key(x, n) for x in band[:1] if edge == "top"}
            )
            if edge == "bottom" and band:
                seen[edge].update({"#" + _key(band[-1], n)})
    need = max(2, len(pages) // 2)

    def furniture(line: str, n: int, edge: str, outermost: bool) -> bool:
        if _PAGE_NUMBER.match(line.strip()) or seen[edge][_key(line)] >= need:
            return True
        return outermost and seen[edge]["#" + _key(line, n)] >= need

    out = []
    for n, lines in enumerate(pages, 1):
        kept = list(lines)
        for i in range(EDGE):
            if kept and furniture(kept[0], n, "top", i == 0):
                kept.pop(0)
        for i in range(EDGE):
            if kept and furniture(kept[-1], n, "bottom", i == 0):
                kept.pop()
        out.append(kept)
    return out


def _split_sentences(paragraph: str) -> list[str]:
    out, start = [], 0
    for m in _SENTENCE_END.finditer(paragraph):
        words = paragraph[start : m.start()].split()
        last = words[-1].rstrip(".").casefold() if words else ""
        # `R.I.`, `Gen.`, `No.`: an initial or a known abbreviation does not end it.
        if (
            (len(last) == 1 and last.isalpha())
            or last in _ABBREVIATIONS
            or re.fullmatch(r"(?:\w\.)+\w?", last)
        ):
            continue
        out.append(paragraph[start : m.end()].strip())
        start = m.end()
    out.append(paragraph[start:].strip())
    return [s for s in out if s]


def reflow(lines: Sequence[str]) -> list[str]:
    """Visual lines joined into paragraphs, cut into sentences (see the module doc).

    A paragraph ends after a short line (under `SHORT` of the longest) that ends a
    sentence, and before a line that starts a numbered section; any other line break is a
    space (widths in characters are only a hint in proportional fonts, so a short line
    that ends mid-sentence is still joined)."""
    lines = [" ".join(x.split()) for x in lines]
    lines = [x for x in lines if x]
    if not lines:
        return []
    short = SHORT * max(len(x) for x in lines)
    paragraphs: list[str] = []
    current = ""
    for line in lines:
        if current and _SECTION_START.match(line):
            paragraphs.append(current)
            current = ""
        if re.search(r"[a-z]-$", current) and line[:1].islower():
            current = current[:-1] + line  # a word hyphenated across two lines
        else:
            current = f"{current} {line}" if current else line
        if len(line) < short and re.search(r"[.!?:;][\"”')\]]*$", line):
            paragraphs.append(current)
            current = ""
    if current:
        paragraphs.append(current)
    return [s for p in paragraphs for s in _split_sentences(p)]


@extractor("pdf", media_types=("application/pdf", "application/x-pdf"), version=2)
def pdf(page: Page, selectors: Selectors) -> list[str]:
    """PDF document: its text as one line per sentence, without page furniture."""
    head = page.body[:1024]
    if b"%PDF-" not in head:
        start = head[:40].decode("ascii", "replace").strip()
        raise fail(f"not a PDF (the body starts with {start!r})")
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    # pypdf logs every recoverable defect of a PDF as a warning; those are not ours.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(page.body), strict=False)
        texts = [p.extract_text() or "" for p in reader.pages]
    except RecursionError:
        raise fail("damaged PDF: object graph too deep") from None
    except PyPdfError as exc:
        raise fail(f"damaged PDF: {exc}") from None
    except Exception as exc:
        # pypdf parses what the server sent, and a hostile or broken file reaches its
        # internals: fuzzing found AssertionError (a reference inside a content stream)
        # besides the ValueError, KeyError, TypeError and AttributeError seen before.
        raise fail(f"damaged PDF: {type(exc).__name__}: {exc}") from None
    pages = [[x for x in text.split("\n") if x.strip()] for text in texts]
    if not selectors.keep_furniture:
        pages = drop_furniture(pages)
    return reflow([x for lines in pages for x in lines])
