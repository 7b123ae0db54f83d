"""PDF documents: the text of every page (pypdf), never the bytes.

PDFs are regenerated with new timestamps and object ids while their text stays the same,
so the text is what gets hashed. A body that does not start with the `%PDF-` signature
(an HTML error page served as a PDF link, say) is refused before pypdf sees it.
"""

from __future__ import annotations

import io
import logging

from tracker.watch.extract import Page, Selectors, extractor, fail

logger = logging.getLogger(__name__)


@extractor("pdf", media_types=("application/pdf", "application/x-pdf"))
def pdf(page: Page, selectors: Selectors) -> list[str]:
    """PDF document: the text of every page, in order."""
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
        return [p.extract_text() or "" for p in reader.pages]
    except RecursionError:
        raise fail("damaged PDF: object graph too deep") from None
    except PyPdfError as exc:
        raise fail(f"damaged PDF: {exc}") from None
    except Exception as exc:
        # pypdf parses what the server sent, and a hostile or broken file reaches its
        # internals: fuzzing found AssertionError (a reference inside a content stream)
        # besides the ValueError, KeyError, TypeError and AttributeError seen before.
        raise fail(f"damaged PDF: {type(exc).__name__}: {exc}") from None
