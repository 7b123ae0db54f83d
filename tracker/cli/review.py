"""`tracker review`: the places to re-check because their official page changed, and
the records nobody has verified for a long time."""

from __future__ import annotations

from typing import Any

import click

from tracker.cli.common import row_id, short
from tracker.cli.context import database, settings
from tracker.cli.output import SCHEMA, echo_json, json_option, paint, table
from tracker.errors import UsageError
from tracker.law import places as places_mod
from tracker.law import review as review_mod
from tracker.timeutil import utcnow


def _number(text: str) -> int | None:
    """A review item's number (`12`, `#12`), checked as every row id is; None for
    anything else (a place)."""
    if not text.strip().lstrip("#").isdigit():
        return None
    return row_id(text, "review item", "Give a number from `tracker review`.")


@click.command()
@click.argument("target", required=False, metavar="[PLACE | ITEM]")
@click.option(
    "--dismiss",
    metavar="WHY",
    help="Close review ITEM without a status change, saying why (counts as a verification "
    "of the place's current record).",
)
@click.option("--closed", is_flag=True, help="Closed items instead, newest first: who, when, why.")
@click.option(
    "--stale",
    is_flag=True,
    help="Records whose last verification is older than stale_days (to re-check).",
)
@click.option("--by", "by", metavar="NAME", help="Who closes the item (default: user@host).")
@json_option
def review(
    target: str | None,
    dismiss: str | None,
    closed: bool,
    stale: bool,
    by: str | None,
    as_json: bool,
) -> None:
    """List open review items (all, or of PLACE and the places under it), oldest first.

    A kratom-relevant change of a watched official page opens an item for its place,
    which is "under review" until the item is closed: `tracker record PLACE STATUS ...
    --change N` records what the page now says, `tracker review ITEM --dismiss "why"`
    closes it without a new status. `tracker review ITEM` shows one item; `--closed`
    lists closed ones (who closed what, when, why); `--stale` lists records whose last
    verification is older than the stale_days setting.
    """
    item_id = _number(target) if target else None
    if dismiss is not None:
        if item_id is None:
            raise UsageError(
                "--dismiss needs a review item number",
                'Usage: tracker review ITEM --dismiss "why" (`tracker review` lists them).',
            )
        _dismiss(item_id, dismiss, by, as_json)
        return
    if stale:
        _stale(target, as_json)
        return
    if item_id is not None:
        with database().read() as conn:
            item = review_mod.get(conn, item_id)
        if as_json:
            echo_json({"schema": SCHEMA, "item": item})
        else:
            click.echo(_describe(item))
        return
    db = database()
    with db.read() as conn:
        codes = None
        if target:
            codes = places_mod.descendants(conn, places_mod.resolve(conn, target).code)
        items = review_mod.items(conn, codes, closed=closed)
    if as_json:
        echo_json({"schema": SCHEMA, "items": items})
        return
    if not items:
        what = "closed" if closed else "open"
        click.echo(f"no {what} review items" + (f" for {target}" if target else ""))
        return
    if closed:
        body = [
            [
                f"#{i['id']}",
                i["place"],
                i["state"],
                (i["closed_at"] or "")[:16].replace("T", " "),
                i["closed_by"] or "-",
                f"#{i['change']['id']}",
                i["reason"] or (f"record #{i['record_id']}" if i["record_id"] else "-"),
            ]
            for i in items
        ]
        headers = ["item", "place", "closed as", "closed (UTC)", "by", "change", "why"]
        click.echo(table(headers, body))
        return
    body = [
        [
            f"#{i['id']}",
            i["place"],
            i["source"]["key"] or "-",
            f"#{i['change']['id']}",
            i["opened_at"][:16].replace("T", " "),
            f"{i['open_days']} d",
            ", ".join(i["keywords"]) or "-",
        ]
        for i in items
    ]
    click.echo(table(["item", "place", "source", "change", "opened (UTC)", "open", "terms"], body))
    click.echo(
        f"{len(items)} open; record: tracker record PLACE STATUS --from D --citation C "
        '--change N; or: tracker review ITEM --dismiss "why"'
    )


def _describe(item: dict[str, Any]) -> str:
    change = item["change"]
    lines = [
        paint(f"review item #{item['id']}", bold=True)
        + f" · {item['place_name']} ({item['place']}) · {item['state']}",
        f"  opened {item['opened_at'][:16].replace('T', ' ')} UTC, "
        f"{item['open_days']} day(s) {'open' if item['state'] == 'open' else 'until closed'}",
        f"  change #{change['id']} ({change['importance']}, +{change['added']} "
        f"-{change['removed']} lines"
        + (f", undoes change #{change['reverts']}" if change["reverts"] else "")
        + f"): `tracker diff {change['id']}`",
        f"  source: {item['source']['key']} · {item['source']['title']}",
        f"  {item['source']['url']}",
        f"  mentions: {', '.join(item['keywords']) or '-'}",
    ]
    if item["state"] == "open":
        lines.append(
            f"  record: tracker record {item['place']} STATUS --from D --citation C "
            f"--change {change['id']}"
        )
        lines.append(f'  or:     tracker review {item["id"]} --dismiss "why"')
    else:
        lines.append(
            f"  closed {item['closed_at'][:16].replace('T', ' ')} UTC by {item['closed_by']}"
            + (f": {item['reason']}" if item["reason"] else "")
            + (
                f" (record #{item['record_id']}, event #{item['event_id']})"
                if item["record_id"]
                else ""
            )
        )
    return "\n".join(lines)


def _dismiss(item_id: int, reason: str, by: str | None, as_json: bool) -> None:
    from tracker.cli.record import operator

    with database().write() as conn:
        item = review_mod.dismiss(conn, item_id, reason, by=by or operator())
    if as_json:
        echo_json({"schema": SCHEMA, "item": item})
        return
    click.echo(
        f"review item #{item_id} ({item['place']}) dismissed by {item['closed_by']}: "
        f"{short(item['reason'] or '', 200)}"
    )


def _stale(target: str | None, as_json: bool) -> None:
    from tracker.export.verified import stale_records

    days = settings().stale_days
    now = utcnow()
    with database().read() as conn:
        codes = None
        if target:
            codes = places_mod.descendants(conn, places_mod.resolve(conn, target).code)
        records = stale_records(conn, days, now=now, codes=codes)
    if as_json:
        echo_json({"schema": SCHEMA, "stale_days": days, "records": records})
        return
    if not records:
        click.echo(f"no record is older than {days} days since its last verification")
        return
    body = [
        [
            f"#{r['record']}",
            r["place"],
            r["substance"],
            r["status"] + (f" {r['min_age']}+" if r["min_age"] else ""),
            r["last_verified"] or "never",
            "-" if r["age_days"] is None else f"{r['age_days']} d",
            r["citation"] or "-",
        ]
        for r in records
    ]
    click.echo(
        table(["record", "place", "substance", "status", "verified", "age", "citation"], body)
    )
    click.echo(
        f"{len(records)} record(s) last verified more than {days} days ago (stale_days), "
        "or never (an undated source nobody confirmed)"
    )
