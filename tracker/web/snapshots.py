"""`GET /snapshots/<sha>`: the normalized text of a stored page version.

The watch code links diffs too large to store here (from `public_url`, so the public
server serves it; the operations server too). Text is `text/plain` with `nosniff` and
a Content-Security-Policy that allows nothing (`sandbox`), so page text can never run
as markup. 404 for an unknown or malformed sha (or one removed by retention); 500 with
a clear message for a damaged row.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable

from tracker.storage.engine import Database
from tracker.watch import quarantine
from tracker.web.app import Request, Response

logger = logging.getLogger(__name__)

_SHA = re.compile(r"^[0-9a-f]{64}$")
PLAIN_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "default-src 'none'; sandbox",
}


def handler(db: Callable[[], Database | None]) -> Callable[[Request], Response]:
    """The route handler; `db()` is None while the database is not open yet (503)."""

    def snapshot(request: Request) -> Response:
        sha = request.path.removeprefix("/snapshots/")
        database = db()
        if database is None:
            return Response.text("starting\n", 503)
        if not _SHA.match(sha):
            return Response.text("not found: a snapshot is named by its sha256 (64 hex)\n", 404)
        try:
            with database.read() as conn:
                text = quarantine.read(conn, sha)
        except quarantine.Damaged as exc:
            logger.error("%s", exc)
            return Response.text(f"{exc}\nThe daemon moves damaged snapshots aside.\n", 500)
        if text is None:
            return Response.text(
                "snapshot not found (never stored, or removed by retention)\n", 404
            )
        response = Response.text(text)
        response.headers.update(PLAIN_HEADERS, **{"Cache-Control": "max-age=86400, immutable"})
        return response

    return snapshot
