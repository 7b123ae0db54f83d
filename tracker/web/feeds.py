"""Atom feeds over HTTP: `/feeds/{place}.atom` and `/feeds/all.atom`.

A place's feed has the events about the place, about the levels above it (a state ban
changes the answer of every city in it) and about the places under it, both substances,
newest first (at most `FEED_LIMIT`), with the same entries and ids as the exported
`events.atom` (`export.fmt_atom`); `page_changed` only when it names kratom terms, never
`source_failing`. Its `rel=self` link is built from `public_url`, and its
`rel=alternate` link is the place's page. Cached and validated like the pages (`cache`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.errors import PlaceNotFound, UsageError
from tracker.export.fmt_atom import feed_xml
from tracker.export.snapshot import FEED_KINDS, FEED_LIMIT, recent_events
from tracker.law import places as places_mod
from tracker.storage.engine import Database
from tracker.storage.tables_core import EVENT, Place
from tracker.timeutil import utcnow
from tracker.web.app import App, Request, Response
from tracker.web.cache import Cache

ATOM_TYPE = "application/atom+xml; charset=utf-8"


def place_events(conn: Connection, place: Place, limit: int = FEED_LIMIT) -> list[dict[str, Any]]:
    codes = {p.code for p in places_mod.chain_of(conn, place)}
    codes |= places_mod.descendants(conn, place.code)
    q = (
        sa.select(EVENT)
        .where(
            EVENT.c.place_code.in_(sorted(codes)),
            EVENT.c.kind.in_(FEED_KINDS),
            sa.or_(EVENT.c.kind != "page_changed", EVENT.c.importance != "minor"),
        )
        .order_by(EVENT.c.occurred_at.desc(), EVENT.c.id.desc())
        .limit(limit)
    )
    return [dict(row._mapping) for row in conn.execute(q)]


def mount(app: App, db: Database, responses: Cache, public_url: str) -> None:
    base = public_url.rstrip("/")

    def feed(request: Request) -> Response:
        name = request.path.removeprefix("/feeds/")
        if not name.endswith(".atom"):
            return Response.text("not found: feeds are /feeds/PLACE.atom\n", 404)
        text = name.removesuffix(".atom")

        def build() -> Response:
            with db.read() as conn:
                if text == "all":
                    events = recent_events(conn, "kratom")
                    body = feed_xml(
                        events,
                        key="feed:kratom",
                        title="Kratom legal status: recent changes",
                        subtitle="Every place: status changes, rules taking effect or "
                        "expiring, pending measures, official page changes.",
                        updated=utcnow(),
                        self_url=f"{base}/feeds/all.atom",
                        alternate=f"{base}/",
                    )
                else:
                    place = places_mod.resolve(conn, text)
                    code = quote(place.code, safe="")
                    body = feed_xml(
                        place_events(conn, place),
                        key=f"feed:place:{place.code}",
                        title=f"Kratom legal status: {places_mod.label(place)}",
                        subtitle="Changes for this place, the levels above it and the "
                        "places under it.",
                        updated=utcnow(),
                        self_url=f"{base}/feeds/{code}.atom",
                        alternate=f"{base}/places/{code}",
                    )
            return Response(200, body.encode(), ATOM_TYPE)

        try:
            return responses.answer(request, build)
        except PlaceNotFound as exc:
            return Response.text(f"{exc}\n{exc.hint}\n", 404)
        except UsageError as exc:
            return Response.text(f"{exc}\n{exc.hint}\n", 400)

    app.add_prefix("/feeds/", feed)
