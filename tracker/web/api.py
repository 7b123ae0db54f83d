"""The JSON API under `/api/v1/` (described by `/api/v1/openapi.json`).

    GET /api/v1/status?place=P[&place=P...]   status of one or several places or ZIPs
    GET /api/v1/places[?status&in&kind]       every place with its effective status
    GET /api/v1/places/{place}                status of one place (code, OCD id, name)
    GET /api/v1/places/{place}/history        every record ever held for the place
    GET /api/v1/pending[?place=P]             pending measures
    GET /api/v1/changes[?place=P&since=D]     detected changes of official pages
    GET /api/v1/zip/{zip}                     status at a US ZIP code

Status, list and ZIP answers take `as_of`, `known_at` and `substance` as the CLI's
options do. Shapes are the CLI's `--json` documents (`documents`). Answers carry an
ETag and Last-Modified and are answered 304 when unchanged (`cache`); any origin may
read them (CORS, GET only). Errors are JSON: `{"error": {"status", "message", "hint",
"suggestions", "candidates"}}`: 404 for an unknown place or ZIP (with suggestions), 400
for a bad parameter or an ambiguous name (naming the accepted forms or the candidates).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from functools import cache
from typing import Any

from tracker.errors import AmbiguousPlace, PlaceNotFound, UsageError
from tracker.export import documents
from tracker.law.zips import ZipNotFound
from tracker.storage.engine import Database
from tracker.storage.health import is_db_error
from tracker.web import params, security
from tracker.web.app import App, Request, Response
from tracker.web.cache import Cache

logger = logging.getLogger(__name__)

PREFIX = "/api/v1"


@cache
def openapi_document() -> dict[str, Any]:
    """The OpenAPI 3.1 description of this API (`tracker/web/openapi.yaml`)."""
    from pathlib import Path

    import yaml

    with open(Path(__file__).with_name("openapi.yaml"), encoding="utf-8") as f:
        doc: dict[str, Any] = yaml.safe_load(f)
    return doc


def error(status: int, message: str, hint: str = "", **extra: list[str]) -> Response:
    body = {"error": {"status": status, "message": message, "hint": hint, **extra}}
    return Response.json(body, status)


def answer_errors(run: Callable[[], Response]) -> Response:
    """Bad input as JSON errors; a database that does not answer as 503."""
    try:
        return run()
    except (PlaceNotFound, ZipNotFound) as exc:
        return error(404, str(exc), exc.hint, suggestions=exc.suggestions)
    except AmbiguousPlace as exc:
        return error(400, str(exc), exc.hint, candidates=exc.candidates)
    except UsageError as exc:
        return error(400, str(exc), exc.hint)
    except Exception as exc:
        if not is_db_error(exc):
            raise
        logger.warning("API answer failed: database unreachable: %s", exc)
        return error(503, "the database does not answer", "Try again in a minute.")


def mount(app: App, db: Database, responses: Cache) -> None:
    """Add the API routes to `app`."""

    def cached(build: Callable[[Request], dict[str, Any]]) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            def run() -> Response:
                # A bad parameter raises inside build: a 400, never cached.
                return responses.answer(request, lambda: Response.json(build(request)))

            return answer_errors(run)

        return handler

    @cached
    def status(request: Request) -> dict[str, Any]:
        texts, w = params.places(request), params.when(request)
        with db.read() as conn:
            return documents.status_document(w, documents.answers_for(conn, texts, w))

    @cached
    def listing(request: Request) -> dict[str, Any]:
        w = params.when(request)
        status_filter, kind = params.status_filter(request), params.kind_filter(request)
        within = request.query.get("in", "").strip() or None
        with db.read() as conn:
            found = documents.list_answers(conn, w, status=status_filter, within=within, kind=kind)
            return documents.list_document(w, found)

    def one_place(request: Request) -> dict[str, Any]:
        rest = request.path.removeprefix(f"{PREFIX}/places/")
        if rest.endswith("/history"):
            with db.read() as conn:
                return documents.history_document(conn, rest.removesuffix("/history"))
        w = params.when(request)
        with db.read() as conn:
            return documents.status_document(w, documents.answers_for(conn, [rest], w))

    @cached
    def pending(request: Request) -> dict[str, Any]:
        with db.read() as conn:
            return documents.pending_document(conn, request.query.get("place") or None)

    @cached
    def changes(request: Request) -> dict[str, Any]:
        since = params.since(request)
        with db.read() as conn:
            return documents.changes_document(conn, request.query.get("place") or None, since)

    def zip_code(request: Request) -> dict[str, Any]:
        code, w = request.path.removeprefix(f"{PREFIX}/zip/"), params.when(request)
        with db.read() as conn:
            return documents.status_document(w, documents.answers_for(conn, [code], w))

    def openapi(_: Request) -> Response:
        body = json.dumps(openapi_document(), indent=2, ensure_ascii=False) + "\n"
        response = Response(200, body.encode(), "application/json; charset=utf-8")
        response.headers["Cache-Control"] = "max-age=3600"
        return response

    def index(_: Request) -> Response:
        doc = openapi_document()
        return Response.json(
            {
                "api": doc["info"]["title"],
                "version": doc["info"]["version"],
                "openapi": f"{PREFIX}/openapi.json",
                "paths": sorted(PREFIX + p for p in doc["paths"]),
            }
        )

    def unknown(request: Request) -> Response:
        return error(
            404,
            f"no API route {request.path}",
            f"The routes are listed at {PREFIX}/ and described at {PREFIX}/openapi.json.",
        )

    app.add(f"{PREFIX}/", index)
    app.add(f"{PREFIX}/openapi.json", openapi)
    app.add(f"{PREFIX}/status", status)
    app.add(f"{PREFIX}/places", listing)
    app.add_prefix(f"{PREFIX}/places/", cached(one_place))
    app.add(f"{PREFIX}/pending", pending)
    app.add(f"{PREFIX}/changes", changes)
    app.add_prefix(f"{PREFIX}/zip/", cached(zip_code))
    app.add_prefix("/api/", unknown)
    app.preflight = security.preflight
