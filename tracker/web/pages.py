"""The public pages: the status page, a page per place and per ZIP code, search.

    GET /                 the status page export, live (substance and as-of switches)
    GET /places/{place}   one place: its answer, every level, history, pending, review
    GET /zip/{zip}        one US ZIP code: the places it lies in, and their answer
    GET /search?q=TEXT    a place name, code or ZIP: straight to its page, or a choice

The status page is the HTML export's own view (`export.view.page_context` and
`templates/status/page.html.j2`), extended by `templates/web/status.html`. A place page
is rendered from the documented answer and record dicts (`Answer.to_dict`, the CLI's
`--json`), so fields added to them reach the page with a template line. Answers are
cached by what they depend on (`cache`). Unknown places and ZIPs are 404 pages with
suggestions; bad parameters 400 pages naming the accepted forms.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date
from typing import Any
from urllib.parse import quote, urlencode

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.errors import AmbiguousPlace, PlaceNotFound, UsageError
from tracker.export import snapshot_for
from tracker.export.registry import get_format
from tracker.export.verified import verified_on
from tracker.export.view import STATUS_INFO, TIER_INFO, citation, page_context, safe_url
from tracker.law import places as places_mod
from tracker.law import zips
from tracker.law.asof import history_rows, record_dict
from tracker.law.effective import effective
from tracker.law.review import open_by_place
from tracker.storage.engine import Database
from tracker.storage.health import is_db_error
from tracker.storage.tables_core import PLACE, PLACE_KEY, Place
from tracker.timeutil import utcnow
from tracker.vocab import STATUSES, SUBSTANCES
from tracker.web import params
from tracker.web.app import App, Request, Response
from tracker.web.cache import Cache
from tracker.web.render import page, static

logger = logging.getLogger(__name__)


def place_url(code: str, query: str = "") -> str:
    return "/places/" + quote(code, safe="/:") + query


def _switches(w: params.When) -> str:
    """The query string that keeps the substance and day when following a link."""
    q = {}
    if w.substance != "kratom":
        q["substance"] = w.substance
    if w.explicit_as_of:
        q["as_of"] = w.as_of.isoformat()
    return "?" + urlencode(q) if q else ""


def problem(status: int, title: str, message: str, hint: str = "", **more: Any) -> Response:
    return page("web/error.html", status, title=title, message=message, hint=hint, **more)


def _candidates(conn: Connection, text: str) -> list[Place]:
    codes = sa.select(PLACE_KEY.c.place_code).where(PLACE_KEY.c.key == places_mod.normalize(text))
    found = conn.execute(sa.select(PLACE.c.code).where(PLACE.c.code.in_(codes))).scalars()
    return [p for p in (places_mod.get(conn, c) for c in sorted(found)) if p is not None]


def _links(conn: Connection, places: list[Place]) -> list[dict[str, str]]:
    return [{"label": places_mod.label(p), "url": place_url(p.code)} for p in places]


def _suggested(conn: Connection, text: str) -> list[dict[str, str]]:
    """Links for places whose names contain `text` or are close to it (at most five)."""
    found = places_mod.search(conn, text, limit=3)
    for close in places_mod.suggest_places(conn, places_mod.normalize(text)):
        if close.code not in {p.code for p in found}:
            found.append(close)
    return _links(conn, found[:5])


def _level(lvl: dict[str, Any], verified: date | None) -> dict[str, Any]:
    rec = lvl["record"]
    return {
        **lvl,
        "url": place_url(lvl["place"]["code"]),
        "mark": STATUS_INFO[lvl["status"]][0],
        "citation": citation(rec),
        "link": safe_url((rec or {}).get("instrument", {}).get("url"))
        or safe_url((rec or {}).get("source", {}).get("url")),
        "verified": verified,
    }


def place_context(conn: Connection, place: Place, w: params.When) -> dict[str, Any]:
    """Everything `templates/web/place.html` shows (see the module doc)."""
    answer = effective(conn, place, w.substance, w.as_of, w.known_at)
    a = answer.to_dict()
    records = [lvl["record"] for lvl in a["levels"] if lvl["record"]]
    by_id = {r["id"]: v for r, v in zip(records, verified_on(conn, records), strict=True)}
    levels = [
        _level(lvl, by_id.get(lvl["record"]["id"]) if lvl["record"] else None)
        for lvl in a["levels"]
    ]
    history = [record_dict(r) for r in history_rows(conn, place.code)]
    # The open review items of the place and of the level that decides it (the review
    # loop, `tracker review`): an official page changed and no one has reviewed it yet.
    # A fact of now, as in the API and the CLI: none when viewing a past known_at.
    codes = [place.code] + ([answer.decided_by.code] if answer.decided_by else [])
    opened = open_by_place(conn, codes) if w.known_at is None else {}
    review = sorted(
        (i for code in dict.fromkeys(codes) for i in opened.get(code, [])),
        key=lambda i: (i["opened_at"], i["id"]),
    )
    return {
        "title": places_mod.label(place),
        "a": a,
        "mark": STATUS_INFO[a["status"]][0],
        "status_name": STATUS_INFO[a["status"]][1],
        "status_meaning": STATUS_INFO[a["status"]][2],
        "levels": levels,
        # The deciding record is one of the levels': its date is already in `by_id`.
        "last_verified": by_id.get(answer.record["id"]) if answer.record else None,
        "current": [r for r in history if r["superseded_at"] is None],
        "superseded": [r for r in history if r["superseded_at"] is not None],
        "review": review,
        # The levels' names for the related rules and pending measures, which give a
        # place's code (an OCD id for a local place).
        "named": {lvl.place.code: places_mod.short_code(lvl.place) for lvl in answer.levels},
        "substance": w.substance,
        "substances": SUBSTANCES,
        "as_of": w.as_of.isoformat(),
        "today": utcnow().date().isoformat(),
        "switches": _switches(w),
        "code": place.code,
        "code_q": quote(place.code, safe=""),
        "tiers": TIER_INFO,
        "citation": citation,
        "safe_url": safe_url,
        "statuses": STATUSES,
    }


def mount(app: App, db: Database, responses: Cache) -> None:
    """Add the page routes to `app`."""

    def guarded(build: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def handler(request: Request) -> Response:
            try:
                return build(request)
            except (PlaceNotFound, zips.ZipNotFound) as exc:
                with db.read() as conn:
                    links = _suggested(conn, exc.text) if isinstance(exc, PlaceNotFound) else []
                zip_links = [
                    {"label": z, "url": f"/zip/{z}"} for z in getattr(exc, "suggestions", [])
                ]
                return problem(
                    404,
                    "Not found",
                    str(exc),
                    exc.hint,
                    links=zip_links if isinstance(exc, zips.ZipNotFound) else links,
                )
            except AmbiguousPlace as exc:
                with db.read() as conn:
                    links = _links(conn, _candidates(conn, exc.text))
                return problem(400, "Several places match", str(exc), exc.hint, links=links)
            except UsageError as exc:
                return problem(400, "Not understood", str(exc), exc.hint)
            except Exception as exc:
                if not is_db_error(exc):
                    raise
                logger.warning("page failed: database unreachable: %s", exc)
                return problem(503, "Not available", "The database does not answer.", "Retry soon.")

        return handler

    @guarded
    def status_page(request: Request) -> Response:
        w = params.when(request)

        def build() -> Response:
            fmt = get_format("html")
            snap = snapshot_for(db, [fmt], w.substance, w.as_of if w.explicit_as_of else None)
            return page(
                "web/status.html",
                **page_context(snap),
                substances=SUBSTANCES,
                today=utcnow().date().isoformat(),
                switches=_switches(w),
            )

        return responses.answer(request, build)

    @guarded
    def place_page(request: Request) -> Response:
        text, w = request.path.removeprefix("/places/"), params.when(request)

        def build() -> Response:
            with db.read() as conn:
                place = places_mod.resolve(conn, text)
                return page("web/place.html", **place_context(conn, place, w))

        return responses.answer(request, build)

    @guarded
    def zip_page(request: Request) -> Response:
        code, w = request.path.removeprefix("/zip/"), params.when(request)

        def build() -> Response:
            with db.read() as conn:
                area = zips.lookup(conn, code)
                answer = zips.effective_zip(conn, area, w.substance, w.as_of, w.known_at)
                a = answer.to_dict()
                levels = [_level(lvl, None) for lvl in a["levels"]]
            return page(
                "web/zip.html",
                title=f"ZIP {area.code}",
                area=area,
                a=a,
                levels=levels,
                mark=STATUS_INFO[a["status"]][0],
                status_name=STATUS_INFO[a["status"]][1],
                place_link=place_url(area.place.code, _switches(w)),
                switches=_switches(w),
                substance=w.substance,
                as_of=w.as_of.isoformat(),
                query=area.code,
            )

        return responses.answer(request, build)

    @guarded
    def search(request: Request) -> Response:
        text = request.query.get("q", "").strip()[:200]
        if not text:
            return problem(
                400,
                "Nothing to look up",
                "The search box was empty.",
                "Type a place name (Tupelo), a code (US-AL, TH) or a US ZIP code (38801).",
            )
        if zips.is_zip(text):
            return Response.redirect("/zip/" + quote(text.strip()))
        with db.read() as conn:
            try:
                return Response.redirect(place_url(places_mod.resolve(conn, text).code))
            except AmbiguousPlace:
                found = _candidates(conn, text)
                heading = f"{text!r} names several places"
            except PlaceNotFound:
                found = places_mod.search(conn, text, limit=50)
                heading = f"Places matching {text!r}"
            if not found:
                raise PlaceNotFound(text, places_mod.suggest(conn, places_mod.normalize(text)))
            return page(
                "web/search.html",
                title="Search",
                heading=heading,
                query=text,
                links=_links(conn, found),
            )

    def healthz(_: Request) -> Response:
        return Response.text("ok\n")

    app.add("/", status_page)
    app.add_prefix("/places/", place_page)
    app.add_prefix("/zip/", zip_page)
    app.add("/search", search)
    app.add_prefix("/static/", static)
    app.add("/healthz", healthz)
    # Browsers ask for it on every site; no icon, and no 404 in their consoles.
    app.add("/favicon.ico", lambda _: Response(204, headers={"Cache-Control": "max-age=86400"}))
