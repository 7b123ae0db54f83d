"""JSON APIs: the Federal Register documents API as one stable line per document, and any
other JSON document as sorted `path: value` lines.

The Federal Register response carries volatile parts (`count`, `description`,
`next_page_url`, page order); only the documents matter, sorted by publication date and
document number, each with the fields a reader needs: number, date, type, title,
effective date and link (see DOMAIN.md).
"""

from __future__ import annotations

import json
from typing import Any

from tracker.watch.extract import Page, Selectors, extractor, fail
from tracker.watch.extract.charset import decode

JSON_TYPES = ("application/json", "text/json", "application/vnd.api+json", "text/plain")
# Deeper than any real API response; well inside Python's recursion limit, which a
# hostile `[[[[...` would otherwise reach (a RecursionError instead of an extraction error).
MAX_DEPTH = 200
FR_FIELDS = ("document_number", "publication_date", "type", "title", "effective_on", "html_url")


def _agencies(doc: dict[str, Any]) -> str:
    """The agencies of a document, `; `-separated (`-` when it names none)."""
    names = []
    for agency in doc.get("agencies") or []:
        if isinstance(agency, dict):
            name = agency.get("name") or agency.get("raw_name")
            if isinstance(name, str) and name.strip():
                names.append(name.strip())
    return "; ".join(dict.fromkeys(names)) or "-"


def _load(page: Page) -> Any:
    text, _ = decode(page.body, page.charset)
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"not valid JSON: {exc}") from None
    except RecursionError:  # `[[[[...` a few thousand deep: json's own recursion limit
        raise fail(f"JSON nested more than {MAX_DEPTH} levels deep") from None


# Version 2 added the agencies: a source checked with version 1 takes a new baseline.
@extractor("federal_register", media_types=JSON_TYPES, version=2)
def federal_register(page: Page, selectors: Selectors) -> list[str]:
    """Federal Register documents API (JSON): one line per document, sorted.

    `number | date | type | agencies | title | effective DATE | url`."""
    data = _load(page)
    if not isinstance(data, dict) or not ("results" in data or "count" in data):
        raise fail("not a Federal Register documents response (no 'results' or 'count')")
    docs = data.get("results") or []
    if not isinstance(docs, list) or not all(isinstance(d, dict) for d in docs):
        raise fail("'results' is not a list of documents")
    if not docs:
        return [f"no documents match (count {data.get('count', 0)})"]
    docs = sorted(
        docs, key=lambda d: (str(d.get("publication_date") or ""), str(d.get("document_number")))
    )
    lines = []
    for d in docs:
        number, published, kind, title, effective, url = (d.get(k) for k in FR_FIELDS)
        lines.append(
            f"{number} | {published} | {kind} | {_agencies(d)} | {title} | "
            f"effective {effective or '-'} | {url or '-'}"
        )
    return lines


def _flatten(value: Any, path: str, out: list[str], depth: int = 0) -> None:
    if depth > MAX_DEPTH:
        raise fail(f"JSON nested more than {MAX_DEPTH} levels deep")
    if isinstance(value, dict):
        for key in sorted(value, key=str):
            _flatten(value[key], f"{path}.{key}" if path else str(key), out, depth + 1)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            _flatten(item, f"{path}[{i}]", out, depth + 1)
    else:
        out.append(f"{path or '$'}: {json.dumps(value, ensure_ascii=False)}")


@extractor("json", media_types=JSON_TYPES)
def json_document(page: Page, selectors: Selectors) -> list[str]:
    """Any JSON document: one `path: value` line per value, keys sorted."""
    out: list[str] = []
    _flatten(_load(page), "", out)
    return out
