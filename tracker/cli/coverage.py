"""The `coverage` command: what the tracker can answer for, and what needs an operator."""

from __future__ import annotations

from typing import Any

import click

from tracker.cli.common import as_of_option, short, substance_option, times
from tracker.cli.context import database, settings
from tracker.cli.output import SCHEMA, echo_json, json_option, paint, table
from tracker.errors import UsageError
from tracker.vocab import STATUSES


@click.command()
@as_of_option
@substance_option
@click.option(
    "--stale-days",
    type=int,
    metavar="N",
    help="Records checked more than N days ago (or undated) are stale; default: the "
    "stale_days setting (365).",
)
@json_option
def coverage(as_of: str | None, substance: str, stale_days: int | None, as_json: bool) -> None:
    """Count places by effective status and level, and list what needs review.

    Lists places with no record of their own on the day, stale records (checked date
    older than stale_days, or undated), unverified records and records whose only source
    is a vendor or advocacy page. The record lists cover every substance.
    """
    from tracker.law.coverage import LEVELS
    from tracker.law.coverage import coverage as build

    day, _ = times(as_of, None)
    days = settings().stale_days if stale_days is None else stale_days
    if days < 0:
        raise UsageError(
            f"stale_days must be 0 or more, not {days}",
            "Give --stale-days N (or the stale_days setting) as a whole number of days.",
        )
    with database().read() as conn:
        report = build(conn, substance, day, days)
    if as_json:
        echo_json({"schema": SCHEMA, **report.to_dict()})
        return
    click.echo(
        paint(f"Coverage on {day.isoformat()}", bold=True)
        + f" · {substance} · stale after {days} days (checked before "
        f"{report.stale_before.isoformat()}, or undated)"
    )
    rows = [
        [lvl, str(sum(c.values())), *(str(c[s]) for s in STATUSES)]
        for lvl in LEVELS
        if (c := report.counts.get(lvl))
    ]
    totals = report.totals()
    rows.append(["total", str(sum(totals.values())), *(str(totals[s]) for s in STATUSES)])
    click.echo(table(["level", "places", *STATUSES], rows, indent="  "))

    click.echo(f"\nNo record of their own on {day.isoformat()}: {len(report.no_record)} places")
    for lvl in LEVELS:
        codes = [p["code"] for p in report.no_record if p["level"] == lvl]
        if codes:
            click.echo(f"  {lvl} ({len(codes)}): " + " ".join(_short(c) for c in codes))
    for title, items in (
        ("Stale records", report.stale),
        ("Unverified records", report.unverified),
        ("Records resting only on a vendor or advocacy page", report.vendor_only),
    ):
        click.echo(f"\n{title}: {len(items)}")
        if items:
            click.echo(_records(items))


def _short(code: str) -> str:
    """An OCD id without its common prefix (`ca/place:san_diego`)."""
    return code.removeprefix("ocd-division/country:us/state:")


def _records(items: list[dict[str, Any]]) -> str:
    rows = [
        [
            short(r["place_name"], 34),
            r["substance"],
            r["status"] + (f" {r['min_age']}+" if r["min_age"] else ""),
            r["valid_from"] or "unknown",
            r["source_tier"],
            r["checked"] or "undated",
            short(r["citation"] or "-", 50),
        ]
        for r in items
    ]
    headers = ["place", "substance", "status", "from", "tier", "checked", "citation"]
    return table(headers, rows, indent="  ")
