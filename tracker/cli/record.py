"""Commands that write or look up: record, pending, places."""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date

import click

from tracker.cli.common import short, substance_option
from tracker.cli.context import database
from tracker.cli.output import SCHEMA, echo_json, json_option, status_text, table
from tracker.errors import UsageError
from tracker.law import places as places_mod
from tracker.law.belief import Belief
from tracker.law.dates import PartialDate
from tracker.law.effective import effective, place_dict
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


def _last_day(d: PartialDate) -> date:
    """The last day a partial date can mean (31 December of a year-only date)."""
    if d.precision == "year":
        return date(d.value.year, 12, 31)
    if d.precision == "month":
        year, month = d.value.year, d.value.month
        return date(year, month, calendar.monthrange(year, month)[1])
    return d.value


def _checked(citation: str, start: PartialDate, expires: PartialDate | None) -> str:
    """The citation, stripped; refuses an empty one and an expiry before the start."""
    if not citation.strip() or not citation.isprintable():
        raise UsageError(
            f"invalid --citation {citation!r}",
            "Give the citation of the instrument, e.g. 'R.I. Gen. Laws § 21-28.12-5'.",
        )
    if expires is not None and _last_day(expires) < start.value:
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
    "--source", "source_url", required=True, metavar="URL", help="URL of the source that shows it."
)
@click.option(
    "--tier",
    type=click.Choice(["official", "secondary"], case_sensitive=False),
    default="secondary",
    show_default=True,
    help="official: legislature, agency, gazette; secondary: reputable press.",
)
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
    source_url: str,
    tier: str,
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
    status before and after, today and on the --from date.
    """
    start, end = _partial(valid_from, "--from"), _partial(valid_to, "--to")
    assert start is not None
    expiry = _partial(expires, "--expires")
    citation = _checked(citation, start, expiry)
    source_url = _url(source_url, "--source")
    db = database()
    with db.write() as conn:
        target = places_mod.resolve(conn, place)
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
                source_url=source_url,
                note=note,
            )
        except ValueError as exc:
            raise UsageError(str(exc), "Fix the option named above.") from None
        days = sorted({utcnow().date(), start.value})
        before = [effective(conn, target, belief.substance, d, with_pending=False) for d in days]
        done = record_belief(conn, belief)
        after = [effective(conn, target, belief.substance, d, with_pending=False) for d in days]
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


# ---------------------------------------------------------------- pending, places


@click.command()
@click.argument("place", required=False)
@json_option
def pending(place: str | None, as_json: bool) -> None:
    """List pending measures (bills, notices), for PLACE and the levels above it, or all.

    Pending measures are not statuses: they are shown beside them with their stage.
    """
    from tracker.law.effective import pending as pending_for

    db = database()
    with db.read() as conn:
        codes = None
        if place:
            codes = [p.code for p in places_mod.chain(conn, places_mod.resolve(conn, place).code)]
        items = pending_for(conn, codes)
    if as_json:
        echo_json({"schema": SCHEMA, "pending": items})
        return
    if not items:
        click.echo("no pending measures")
        return
    rows = [
        [
            p["place"],
            p["substance"],
            p["direction"],
            short(p["measure"], 60),
            p["stage"],
            p["published"] or "-",
            p["source"]["tier"] + (" · verify" if p["verify"] else ""),
        ]
        for p in items
    ]
    click.echo(
        table(["place", "substance", "direction", "measure", "stage", "published", "tier"], rows)
    )


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
