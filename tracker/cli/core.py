"""Commands that read the status history: status, history, list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from tracker.cli.common import (
    as_of_option,
    citation,
    known_at_option,
    short,
    substance_option,
    times,
)
from tracker.cli.context import database
from tracker.cli.output import SCHEMA, echo_json, json_option, paint, status_text, table
from tracker.law import places as places_mod
from tracker.law.effective import Answer, effective, effective_all, pending_dict, place_dict
from tracker.law.history import history_rows, record_dict
from tracker.vocab import PLACE_KINDS, STATUSES

# ---------------------------------------------------------------- status


@click.command()
@click.argument("place", nargs=-1, required=True)
@as_of_option
@known_at_option
@substance_option
@json_option
def status(
    place: Sequence[str], as_of: str | None, known_at: str | None, substance: str, as_json: bool
) -> None:
    """Show the effective status of each PLACE (ISO code, OCD id, name or US ZIP code).

    A ZIP code (38801, or 38801-1234) is answered for the city, county and state it lies
    in; what the ZIP data cannot settle (other city names, city limits) is noted. The
    answer combines the place's chain (city, county, state, country and the US
    federal level): the most restrictive status wins, and the level that decided is
    named. Every level is shown with its citation and source tier.
    """
    from tracker.law import zips

    day, when = times(as_of, known_at)
    db = database()
    answers: list[tuple[Answer, zips.ZipArea | None]] = []
    with db.read() as conn:
        for text in place:
            if zips.is_zip(text):
                area = zips.lookup(conn, text)
                answers.append((zips.effective_zip(conn, area, substance, day, when), area))
            else:
                target = places_mod.resolve(conn, text)
                answers.append((effective(conn, target, substance, day, when), None))
    if as_json:
        echo_json(
            {
                "schema": SCHEMA,
                "as_of": day.isoformat(),
                "known_at": when.isoformat() if when else None,
                "substance": substance,
                "results": [zips.answer_dict(z, a) if z else a.to_dict() for a, z in answers],
            }
        )
        return
    click.echo("\n\n".join(_render_zip(z) + _render_answer(a) for a, z in answers))


def _render_zip(area: Any) -> str:
    """The ZIP's places and notes, above its answer (empty for a place)."""
    if area is None:
        return ""
    where = ", ".join(x for x in (area.city, area.county, area.state) if x)
    lines = [paint(f"ZIP {area.code}", bold=True) + f": {where}"]
    if area.other_cities:
        lines.append(f"  also named: {', '.join(area.other_cities)}")
    lines += [f"  note: {n}" for n in area.notes]
    return "\n".join(lines) + "\n"


def _render_answer(a: Answer) -> str:
    known = (
        f"as known at {a.known_at.isoformat(timespec='seconds')}" if a.known_at else "as known now"
    )
    lines = [
        paint(f"{places_mod.label(a.place)}", bold=True)
        + f" · {a.substance} · on {a.as_of.isoformat()} · {known}"
    ]
    status = status_text(a.status.upper(), a.min_age)
    if a.decided_by is None:
        lines.append(f"  {status}  no record at any level")
    elif a.record is None:
        lines.append(
            f"  {status}  no record for {places_mod.label(a.decided_by)}"
            f", {places_mod.level_name(a.decided_by)} level"
        )
    else:
        lines.append(
            f"  {status}  decided by {places_mod.label(a.decided_by)}"
            f", {places_mod.level_name(a.decided_by)} level"
        )
        rec = a.record
        inst = rec["instrument"]
        lines.append(f"  {inst['type'] or 'instrument'}: {citation(rec)}")
        span = f"from {rec['valid_from'] or 'unknown'}" + (
            f" until {rec['valid_to']}" if rec["valid_to"] else ""
        )
        if rec["expires"]:
            span += f", expires {rec['expires']}"
        lines.append(
            f"  {span} · source: {rec['source']['tier']}"
            + (" · to verify" if rec["verify"] else "")
        )
        for key in ("url",):
            if rec["source"][key]:
                lines.append(f"  {rec['source'][key]}")
        if rec["source"]["quote"]:
            lines.append(f"  “{rec['source']['quote']}”")
        if rec["note"]:
            lines.append(f"  note: {rec['note']}")
    rows = []
    for lvl in a.levels:
        r = lvl.record
        rows.append(
            [
                places_mod.level_name(lvl.place),
                places_mod.label(lvl.place),
                status_text(lvl.status, r["min_age"] if r else None),
                (r["valid_from"] or "unknown") if r else "-",
                (r["valid_to"] or "-") if r else "-",
                short(citation(r), 50),
                r["source"]["tier"] if r else "-",
            ]
        )
        for ex in lvl.expired:
            rows.append(
                [
                    "",
                    "",
                    paint(f"({ex['status']} {ex['substance']})", "bright_black"),
                    ex["valid_from"] or "unknown",
                    f"expired {ex['expires']}",
                    short(citation(ex), 50),
                    ex["source"]["tier"],
                ]
            )
    lines += [
        "",
        table(["level", "place", "status", "from", "until", "citation", "tier"], rows, indent="  "),
    ]
    for rel in a.related:
        lines.append(
            f"  also: {rel['substance']} {status_text(rel['status'], rel['min_age'])}"
            f" at {rel['place']} ({short(citation(rel), 60)})"
            + (f", expires {rel['expires']}" if rel["expires"] else "")
        )
    for p in a.pending:
        lines.append(
            f"  pending: {p['place']} {p['substance']} {p['direction']}: "
            f"{short(p['measure'], 70)} ({p['stage']}) [{p['source']['tier']}]"
        )
    return "\n".join(lines)


# ---------------------------------------------------------------- history


@click.command()
@click.argument("place")
@json_option
def history(place: str, as_json: bool) -> None:
    """Show every record ever held for PLACE, oldest knowledge first.

    History is append-only: a record is never edited; a later belief supersedes it
    (the `superseded` column) and re-asserts the parts that still hold. Seed-document
    claims stay visible for good.
    """
    db = database()
    with db.read() as conn:
        target = places_mod.resolve(conn, place)
        rows = [record_dict(r) for r in history_rows(conn, target.code)]
        import sqlalchemy as sa

        from tracker.law.effective import PENDING

        pend = [
            pending_dict(r)
            for r in conn.execute(
                sa.select(PENDING)
                .where(PENDING.c.place_code == target.code)
                .order_by(PENDING.c.recorded_at, PENDING.c.id)
            )
        ]
    if as_json:
        echo_json({"schema": SCHEMA, "place": place_dict(target), "records": rows, "pending": pend})
        return
    click.echo(
        paint(f"History of {places_mod.label(target)}", bold=True)
        + f": {len(rows)} records, {len(pend)} pending-measure versions"
    )
    if not rows and not pend:
        click.echo("  nothing recorded yet; `tracker record` adds a status.")
        return

    def ts(value: str | None) -> str:
        return value[:19].replace("T", " ") if value else "current"

    body = [
        [
            f"#{r['id']}",
            ts(r["recorded_at"]),
            ts(r["superseded_at"]),
            r["substance"],
            status_text(r["status"], r["min_age"]),
            r["valid_from"] or "unknown",
            r["valid_to"] or "-",
            r["source"]["tier"],
            short(citation(r), 48),
        ]
        for r in rows
    ]
    click.echo(
        table(
            [
                "id",
                "recorded (UTC)",
                "superseded",
                "substance",
                "status",
                "valid from",
                "valid to",
                "tier",
                "citation / source",
            ],
            body,
        )
    )
    quotes = {(r["source"]["document"], r["source"]["quote"]) for r in rows if r["source"]["quote"]}
    for doc, quote in sorted(quotes, key=str):
        click.echo(f"  {doc or 'source'}: “{quote}”")
    for p in pend:
        click.echo(
            f"  pending #{p['id']} {ts(p['recorded_at'])} -> {ts(p['superseded_at'])}: "
            f"{p['measure']} ({p['stage']})"
        )


# ---------------------------------------------------------------- list


@click.command("list")
@click.option(
    "--status",
    "status_filter",
    type=click.Choice(STATUSES, case_sensitive=False),
    help="Only places with this effective status.",
)
@click.option("--in", "within", metavar="PLACE", help="Only PLACE and the places under it.")
@click.option(
    "--kind", type=click.Choice(PLACE_KINDS, case_sensitive=False), help="Only places of this kind."
)
@as_of_option
@known_at_option
@substance_option
@json_option
def list_places(
    status_filter: str | None,
    within: str | None,
    kind: str | None,
    as_of: str | None,
    known_at: str | None,
    substance: str,
    as_json: bool,
) -> None:
    """List places with their effective status (all places by default)."""
    day, when = times(as_of, known_at)
    db = database()
    with db.read() as conn:
        codes = None
        if within:
            codes = places_mod.descendants(conn, places_mod.resolve(conn, within).code)
        answers = effective_all(conn, substance, day, when, codes=sorted(codes) if codes else None)
    answers = [
        a
        for a in answers
        if (not status_filter or a.status == status_filter.lower())
        and (not kind or a.place.kind == kind.lower())
    ]
    if as_json:
        echo_json(
            {
                "schema": SCHEMA,
                "as_of": day.isoformat(),
                "known_at": when.isoformat() if when else None,
                "substance": substance,
                "places": [_list_item(a) for a in answers],
            }
        )
        return
    rows = [
        [
            places_mod.short_code(a.place),
            places_mod.label(a.place),
            a.place.kind,
            status_text(a.status, a.min_age),
            (a.record or {}).get("valid_from") or ("-" if not a.record else "unknown"),
            places_mod.short_code(a.decided_by) if a.decided_by and a.record else "-",
            (a.record or {}).get("source", {}).get("tier", "-"),
        ]
        for a in answers
    ]
    click.echo(table(["code", "place", "kind", "status", "since", "decided by", "tier"], rows))
    click.echo(f"{len(answers)} places · {substance} · on {day.isoformat()}")


def _list_item(a: Answer) -> dict[str, Any]:
    d = a.to_dict()
    return {k: d[k] for k in ("place", "status", "min_age", "decided_by", "record")}
