"""Atom and RSS feeds (legislation.gov.uk publishes Atom): one line per entry.

Only entries count: the feed's own `<updated>` changes at every request and means
nothing. Each entry gives `date | title | link`. The XML parser resolves no entities and
fetches nothing from the network (no XXE, no billion laughs).
"""

from __future__ import annotations

from typing import Any

import lxml.etree as etree

from tracker.watch.extract import Page, Selectors, extractor, fail

ATOM = "{http://www.w3.org/2005/Atom}"
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False)


def _child_text(el: Any, *names: str) -> str:
    for name in names:
        found = el.find(name)
        if found is not None and (found.text or "").strip():
            return str(found.text).strip()
    return ""


@extractor(
    "feed",
    media_types=(
        "application/atom+xml",
        "application/rss+xml",
        "application/xml",
        "text/xml",
        "application/rdf+xml",
    ),
)
def feed(page: Page, selectors: Selectors) -> list[str]:
    """Atom or RSS feed: one line per entry (date, title, link)."""
    try:
        root = etree.fromstring(page.body, parser=_PARSER)
    except etree.XMLSyntaxError as exc:
        raise fail(f"not a valid XML feed: {exc}") from None
    lines = []
    for entry in root.iter(f"{ATOM}entry"):
        link = entry.find(f"{ATOM}link")
        href = link.get("href", "") if link is not None else ""
        when = _child_text(entry, f"{ATOM}updated", f"{ATOM}published")
        lines.append(f"{when} | {_child_text(entry, f'{ATOM}title')} | {href}")
    for item in root.iter("item", "{http://purl.org/rss/1.0/}item"):
        when = _child_text(item, "pubDate", "{http://purl.org/dc/elements/1.1/}date")
        title = _child_text(item, "title", "{http://purl.org/rss/1.0/}title")
        link = _child_text(item, "link", "{http://purl.org/rss/1.0/}link")
        lines.append(f"{when} | {title} | {link}")
    if not lines and root.tag not in (
        f"{ATOM}feed",
        "rss",
        "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}RDF",
    ):
        raise fail(f"not an Atom or RSS feed (root element {root.tag!r})")
    return lines or ["(no entries)"]
