"""Extractors: from a fetched body to text lines, one small module per kind of page.

The registry maps a kind (`html`, `pdf`, `json`, `federal_register`, `feed`) to a function
registered with the visible `@extractor(kind, media_types=...)` decorator; the first line
of its docstring is the help text (`tracker sources` lists the kinds).

Contract of an extractor: `fn(page, rules) -> list[str]`. It receives the raw bytes (never
text decoded by requests) and returns lines of text in document order, before
normalization. It raises `SourceError(stage="extract")` with a message that names what
is wrong: a body that is not of the kind, a selector that matches nothing, a page with no
text. It never returns an empty list, so an error is never mistaken for an empty page.

`extract()` checks the content type first: a kind accepts its media types, and a server
that sends none (or `application/octet-stream`) is given the benefit of the doubt and the
extractor checks the bytes itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from tracker.errors import SourceError


@dataclass(frozen=True)
class Page:
    body: bytes
    media_type: str = ""  # lowercased, without parameters; "" when the server sent none
    charset: str | None = None  # from the Content-Type header (a hint only)
    url: str = ""


@dataclass(frozen=True)
class Selectors:
    """Include (`select`) and exclude CSS selectors of a source (html only), and whether
    page numbers, running headers and footers are kept (`keep_furniture`, pdf only)."""

    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    keep_furniture: bool = False


Extractor = Callable[[Page, Selectors], list[str]]


@dataclass(frozen=True)
class Kind:
    name: str
    fn: Extractor
    media_types: tuple[str, ...]
    selectors: bool  # whether select/exclude apply
    help: str = field(default="")
    # Raised when the extractor's output changes for the same page: part of a source's
    # extraction digest from 2 on, so its next check is a new baseline, not a change.
    version: int = 1


KINDS: dict[str, Kind] = {}
_NEUTRAL = ("", "application/octet-stream", "binary/octet-stream")


def extractor(
    kind: str, *, media_types: tuple[str, ...], selectors: bool = False, version: int = 1
) -> Callable[[Extractor], Extractor]:
    """Register `fn` as the extractor of `kind`."""

    def register(fn: Extractor) -> Extractor:
        if kind in KINDS:
            raise ValueError(f"extractor {kind!r} registered twice")
        doc = (fn.__doc__ or "").strip().splitlines()
        KINDS[kind] = Kind(kind, fn, media_types, selectors, doc[0] if doc else "", version)
        return fn

    return register


def extract(kind: str, page: Page, selectors: Selectors = Selectors()) -> list[str]:
    """Lines of `page` read as `kind`. Raises SourceError(stage="extract")."""
    entry = KINDS.get(kind)
    if entry is None:
        raise SourceError(
            f"unknown kind {kind!r}",
            f"Use one of: {', '.join(sorted(KINDS))}.",
            stage="config",
        )
    if not page.body.strip():
        raise SourceError("the server sent an empty body", stage="extract")
    if page.media_type not in _NEUTRAL and page.media_type not in entry.media_types:
        raise SourceError(
            f"expected {kind} ({', '.join(entry.media_types)}) but the server sent "
            f"{page.media_type}",
            "Check the URL, or change the source's kind.",
            stage="extract",
        )
    lines = entry.fn(page, selectors)
    if not any(line.strip() for line in lines):
        raise SourceError(f"no text found in the {kind} page", stage="extract")
    return lines


def fail(message: str, hint: str = "") -> SourceError:
    return SourceError(message, hint, stage="extract")


# The built-in kinds register themselves on import.
from tracker.watch.extract import feed, html, jsondoc, pdf  # noqa: E402, F401
