"""Commands that write or look up: record, pending, places."""

from __future__ import annotations

from collections.abc import Sequence

import click

from tracker.cli.common import row_id, short, substance_option, tier_text
from tracker.cli.context import database
from tracker.cli.output import SCHEMA, echo_json, json_option, status_text, table
from tracker.errors import UsageError
from tracker.law import places as places_mod
from tracker.law.belief import Belief
from tracker.law.dates import PartialDate
from tracker.law.effective import place_dict
from tracker.law.history import record_belief
from tracker.timeutil import utcnow
from tracker.vocab import INSTRUMENT_TYPES, STATUSES

# ---------------------------------------------------------------- record


def _url(value: str, option: str) -> str:
    from tracker.valuecheck import http_url

    url = value.strip()
    if http_url(url) or any(c.isspace() for c in url):
        raise UsageError(
            f"invalid {option}: {value!r}",
            "Give an absolute http:// or https:// URL with a host name, without spaces.",
        )
    return url


def _valid_citation(citation: str, start: PartialDate, expires: PartialDate | None) -> str:
    """The citation, stripped; refuses an empty one and an expiry before the start."""
    if not citation.strip() or not citation.isprintable():
        raise UsageError(
            f"invalid --citation {citation!r}",
            "Give the citation of the instrument, e.g. 'R.I. Gen. Laws § 21-28.12-5'.",
        )
    # Refused only when the whole period `expires` names ends before the start.
    if expires is not None and expires.period_end().value <= start.value:
        raise UsageError(
            f"--expires {expires} is before --from {start}",
            "A rule cannot expire before it takes effect: check both dates.",
        )
    return citation.strip()


def _partial(value: str | None, option: str) -> PartialDate | None:
    if value is None:
        return None
    try:
        return PartialDate.parse(value)
    except ValueError:
        raise UsageError(
            f"invalid {option}: {value!r}",
            "Accepted forms: YYYY-MM-DD, or YYYY-MM / YYYY when only the month or year is known.",
        ) from None


def _page(proof: object) -> str:
    from tracker.law.review import Evidence

    assert isinstance(proof, Evidence)
    return proof.source_url


def operator() -> str:
    """Who runs this command, as kept with what it closes: `login@host`."""
    import getpass
    import socket

    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no login name (a container without /etc/passwd entry)
        user = "unknown"
    return f"{user}@{socket.gethostname()}"


@click.command()
@click.argument("place")
@click.argument("status", type=click.Choice(STATUSES[:-1], case_sensitive=False))
@click.option(
    "--from",
    "valid_from",
    required=True,
    metavar="DATE",
    help="When the rule took effect: YYYY-MM-DD, or YYYY-MM / YYYY if only that is known.",
)
@click.option("--to", "valid_to", metavar="DATE", help="When it stopped applying (exclusive).")
@click.option("--citation", required=True, help="Citation of the instrument.")
@click.option(
    "--source",
    "source_url",
    metavar="URL",
    help="URL of the source that shows it (with --change: the watched page by default).",
)
@click.option(
    "--change",
    "change",
    metavar="N",
    help="A detected page change (`tracker review`, `tracker changes`) as the evidence: the "
    "watched page is the source, its changed lines the quote; closes its review item.",
)
@click.option(
    "--tier",
    type=click.Choice(["official", "secondary", "vendor"], case_sensitive=False),
    help="official: legislature, agency, gazette; secondary: reputable press; vendor: a "
    "vendor or advocacy page (a lead only: the record is marked unverified). Default "
    "secondary; with --change, official when the page is a shipped official source.",
)
@click.option(
    "--verify",
    is_flag=True,
    help="Mark the record unverified: sources conflict or the instrument is unconfirmed.",
)
@click.option(
    "--checked",
    metavar="DATE",
    help="When the fact was last verified (the newest material consulted): YYYY-MM-DD, "
    "YYYY-MM or YYYY; default today.",
)
@click.option("--by", "by", metavar="NAME", help="Who records it (default: user@host).")
@click.option(
    "--type",
    "instrument_type",
    type=click.Choice(INSTRUMENT_TYPES),
    help="Kind of instrument (statute, admin_rule, ordinance, ...).",
)
@click.option("--title", help="Title of the instrument.")
@click.option("--min-age", type=click.IntRange(1, 99), help="Minimum purchase age.")
@click.option("--expires", metavar="DATE", help="Scheduled expiry of a temporary rule.")
@click.option(
    "--condition",
    "conditions",
    multiple=True,
    help="A further duty (licensing, labelling, ...); repeatable.",
)
@click.option("--note", help="Free text shown with the record.")
@substance_option
@json_option
def record(
    place: str,
    status: str,
    valid_from: str,
    valid_to: str | None,
    citation: str,
    source_url: str | None,
    change: str | None,
    tier: str | None,
    by: str | None,
    verify: bool,
    checked: str | None,
    instrument_type: str | None,
    title: str | None,
    min_age: int | None,
    expires: str | None,
    conditions: Sequence[str],
    note: str | None,
    substance: str,
    as_json: bool,
) -> None:
    """Record that PLACE has STATUS from a date, with its citation and source.

    The new record supersedes what overlaps it (history keeps the old) and a
    `status_changed` event is written in the same transaction. Prints the effective
    status before and after, today and on the --from date. With --change N the record
    cites the watched page of that change and closes its review item (who and when
    are kept with the item).
    """
    from tracker.law import review

    start, end = _partial(valid_from, "--from"), _partial(valid_to, "--to")
    assert start is not None
    expiry = _partial(expires, "--expires")
    citation = _valid_citation(citation, start, expiry)
    source_url = _url(source_url, "--source") if source_url is not None else None
    change_id = (
        row_id(change, "--change", "Give a number from `tracker review`.")
        if change is not None
        else None
    )
    if source_url is None and change_id is None:
        raise UsageError("missing --source", "Give --source URL, or --change N to cite a change.")
    seen = _partial(checked, "--checked") or PartialDate(utcnow().date())
    if seen.value > utcnow().date():
        raise UsageError(
            f"--checked {checked} is in the future", "Give the day the fact was last verified."
        )
    db = database()
    closed: list[int] = []
    with db.write() as conn:
        target = places_mod.resolve(conn, place)
        proof = review.evidence(conn, change_id) if change_id is not None else None
        if tier is None:
            official = proof is not None and proof.source_origin.startswith("shipped:")
            tier = "official" if official else "secondary"
        try:
            belief = Belief(
                place_code=target.code,
                substance=substance,
                status=status.lower(),
                source_tier=tier.lower(),
                origin="cli",
                valid_from=start,
                valid_to=end,
                expires=expiry,
                min_age=min_age,
                conditions=tuple(conditions),
                instrument_type=instrument_type,
                instrument_citation=citation,
                instrument_title=title,
                source_url=source_url or _page(proof),
                source_title=proof.source_title if proof else None,
                source_quote=proof.quote if proof else None,
                source_date=proof.detected_on if proof else None,
                note=note,
                verify=verify or tier.lower() == "vendor",
                checked=seen,
            )
        except ValueError as exc:
            raise UsageError(str(exc), "Fix the option named above.") from None
        done = record_belief(conn, belief)
        before, after = done.before, done.after
        if change_id is not None:
            closed = review.close_recorded(
                conn,
                change_id,
                target.code,
                by=by or operator(),
                record_id=done.inserted[0] if done.inserted else None,
                event_id=done.event_id,
                reason=None if done.inserted else "the same record was already current",
            )
    if as_json:
        echo_json(
            {
                "schema": SCHEMA,
                "recorded": not done.unchanged,
                "inserted": done.inserted,
                "superseded": done.superseded,
                "event": done.event_id,
                "before": [a.to_dict() for a in before],
                "after": [a.to_dict() for a in after],
                "change": change_id,
                "reviews_closed": closed,
            }
        )
        return
    if done.unchanged:
        click.echo("unchanged: the same record is already current.")
    else:
        click.echo(
            f"recorded #{done.inserted[0]} (superseded {len(done.superseded)} "
            f"record(s)); event #{done.event_id}"
        )
    for b, a in zip(before, after, strict=True):
        click.echo(
            f"  on {b.as_of.isoformat()}: {status_text(b.status, b.min_age)}"
            f" -> {status_text(a.status, a.min_age)}"
            + (f" (decided by {places_mod.label(a.decided_by)})" if a.decided_by else "")
        )
    if change_id is not None:
        click.echo(
            f"  review item(s) {', '.join(f'#{i}' for i in closed)} of change #{change_id} closed"
            if closed
            else f"  change #{change_id} had no open review item for {target.code}"
        )


# ---------------------------------------------------------------- pending, places


@click.command()
@click.argument("place", required=False)
@json_option
def pending(place: str | None, as_json: bool) -> None:
    """List pending measures (bills, notices), for PLACE and the levels above it, or all.

    Pending measures are not statuses: they are shown beside them with their stage.
    """
    from tracker.export import documents

    with database().read() as conn:
        doc = documents.pending_document(conn, place)
        # A local place's code is a long OCD id: the table shows `Tupelo, MS` instead.
        named = {}
        for code in {p["place"] for p in doc["pending"]}:
            found = places_mod.get(conn, code)
            named[code] = places_mod.short_code(found) if found else code
    if as_json:
        echo_json(doc)
        return
    items = doc["pending"]
    if not items:
        click.echo("no pending measures")
        return
    rows = [
        [
            named[p["place"]],
            p["substance"],
            p["direction"],
            short(p["measure"], 60),
            p["stage"],
            p["stage_date"] or "-",
            tier_text(p),
            p["checked"] or "undated",
        ]
        for p in items
    ]
    headers = ["place", "substance", "direction", "measure", "stage", "since", "tier", "checked"]
    click.echo(table(headers, rows))


@click.command()
@click.argument("text")
@json_option
def places(text: str, as_json: bool) -> None:
    """Find places whose code, OCD id or name contains TEXT."""
    db = database()
    with db.read() as conn:
        found = places_mod.search(conn, text)
    if as_json:
        echo_json({"schema": SCHEMA, "places": [place_dict(p) for p in found]})
        return
    if not found:
        click.echo(f"no place matches {text!r}")
        raise SystemExit(1)
    click.echo(
        table(
            ["code", "name", "kind", "parent", "OCD id"],
            [
                [
                    places_mod.short_code(p),
                    p.name,
                    p.kind,
                    p.parent_code or "-",
                    p.ocd_id or "-",
                ]
                for p in found
            ],
        )
    )
