"""Query parameters of the pages and the API, parsed once, with the CLI's rules.

Every parser raises `UsageError` naming the parameter and its accepted forms; the
routes answer it with 400 (JSON for the API, a page for people).
"""

from __future__ import annotations

from datetime import UTC, datetime, time

from tracker.errors import UsageError
from tracker.export.documents import When
from tracker.law.dates import parse_day, parse_instant
from tracker.timeutil import utcnow
from tracker.vocab import PLACE_KINDS, STATUSES, SUBSTANCES, match
from tracker.web.app import Request

MAX_PLACES = 100  # places in one status request


def substance(request: Request) -> str:
    raw = request.query.get("substance", "kratom") or "kratom"
    try:
        return match(raw, SUBSTANCES, "substance")
    except ValueError:
        raise UsageError(
            f"invalid substance: {raw!r}", "Accepted: substance=kratom or substance=7-OH."
        ) from None


def when(request: Request) -> When:
    as_of_text = request.query.get("as_of", "").strip()
    known_text = request.query.get("known_at", "").strip()
    day = parse_day(as_of_text, option="as_of") if as_of_text else utcnow().date()
    known = parse_instant(known_text, option="known_at") if known_text else None
    if known is not None and known > utcnow():
        raise UsageError(
            f"known_at {known_text} is in the future",
            "known_at is when the tracker learned something; omit it for what is known now.",
        )
    return When(day, known, substance(request), bool(as_of_text))


def choice(request: Request, name: str, choices: tuple[str, ...]) -> str | None:
    raw = request.query.get(name, "").strip()
    if not raw:
        return None
    try:
        return match(raw, choices, name)
    except ValueError:
        raise UsageError(
            f"invalid {name}: {raw!r}", f"Accepted {name} values: {', '.join(choices)}."
        ) from None


def status_filter(request: Request) -> str | None:
    return choice(request, "status", STATUSES)


def kind_filter(request: Request) -> str | None:
    return choice(request, "kind", PLACE_KINDS)


def places(request: Request) -> list[str]:
    """`place=` values (repeatable, or comma separated)."""
    out = [
        p.strip()
        for value in request.query_all.get("place", [])
        for p in value.split(",")
        if p.strip()
    ]
    if not out:
        raise UsageError(
            "no place given",
            "Give place=CODE (repeatable, or comma separated): an ISO code, an OCD id, "
            "a name or a US ZIP code.",
        )
    if len(out) > MAX_PLACES:
        raise UsageError(f"{len(out)} places asked for", f"Ask for at most {MAX_PLACES}.")
    return out


def since(request: Request) -> datetime | None:
    raw = request.query.get("since", "").strip()
    if not raw:
        return None
    if len(raw) == 10:
        return datetime.combine(parse_day(raw, option="since"), time(0), UTC)
    return parse_instant(raw, option="since")
