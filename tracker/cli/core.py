"""Commands that read the status history: status, history, list."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from tracker.cli.common import (
    UNVERIFIED,
    as_of_option,
    citation,
    known_at_option,
    short,
    span_text,
    substance_option,
    tier_text,
    times,
)
from tracker.cli.context import database
from tracker.cli.output import echo_json, json_option, paint, status_text, table
from tracker.law import places as places_mod
from tracker.law.effective import Answer
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
    from tracker.export import documents

    day, when = times(as_of, known_at)
    w = documents.When(day, when, substance)
    with database().read() as conn:
        found = documents.answers_for(conn, place, w)
    if as_json:
        echo_json(documents.status_document(w, found))
        return
    shown = [_render_zip(f.area) + _render_answer(f.answer, f.review) for f in found]
    click.echo("\n\n".join(shown))


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


def _review_lines(under: dict[str, Any]) -> list[str]:
    lines = [
        paint(
            f"  UNDER REVIEW since {under['since'][:16].replace('T', ' ')} UTC", "yellow", bold=True
        )
        + ": an official page changed; this answer may be out of date"
    ]
    for i in under["items"]:
        lines.append(
            f"    item #{i['id']}: change #{i['change']} of {i['source']} ({i['place']})"
            + (f", mentions {', '.join(i['keywords'])}" if i["keywords"] else "")
            + f" · tracker review {i['id']}"
        )
    return lines


def _render_answer(a: Answer, under: dict[str, Any] | None = None) -> str:
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
        lines += _review_lines(under) if under else []
    elif a.record is None:
        lines.append(
            f"  {status}  no record for {places_mod.label(a.decided_by)}"
            f", {places_mod.level_name(a.decided_by)} level"
        )
        lines += _review_lines(under) if under else []
    else:
        lines.append(
            f"  {status}  decided by {places_mod.label(a.decided_by)}"
            f", {places_mod.level_name(a.decided_by)} level"
        )
        if under:
            lines += _review_lines(under)
        lines += _record_lines(a.record)
    rows = []
    for lvl in a.levels:
        r = lvl.record
        rows.append(
            [
                places_mod.level_name(lvl.place),
                places_mod.label(lvl.place),
                status_text(lvl.status, r["min_age"] if r else None),
                *(span_text(r) if r else ("-", "-")),
                short(citation(r), 50),
                tier_text(r),
                (r["checked"] or "undated") if r else "-",
            ]
        )
        # Rules of the level that do not answer here, each with why in its "until" cell.
        asides = [(x, f"expired {x['expires']}") for x in lvl.expired]
        asides += [(x, "not here: unincorporated area only") for x in lvl.elsewhere]
        for x, why in asides:
            rows.append(
                [
                    "",
                    "",
                    paint(f"({x['status']} {x['substance']})", "bright_black"),
                    span_text(x)[0],
                    why,
                    short(citation(x), 50),
                    tier_text(x),
                    x["checked"] or "undated",
                ]
            )
    headers = ["level", "place", "status", "from", "until", "citation", "tier", "checked"]
    lines += ["", table(headers, rows, indent="  ")]
    # Related rules and pending measures name a level of the chain by its code; a local
    # level's code is a long OCD id, so each is shown as in the table (`Tupelo, MS`).
    named = {lvl.place.code: places_mod.short_code(lvl.place) for lvl in a.levels}
    for rel in a.related:
        lines.append(
            f"  also: {rel['substance']} {status_text(rel['status'], rel['min_age'])}"
            f" at {named.get(rel['place'], rel['place'])} ({short(citation(rel), 60)})"
            + (f", expires {rel['expires']}" if rel["expires"] else "")
            + (f" [{UNVERIFIED}]" if rel["verify"] else "")
        )
    for p in a.pending:
        stage = p["stage"] + (f" {p['stage_date']}" if p["stage_date"] else "")
        lines.append(
            f"  pending: {named.get(p['place'], p['place'])} {p['substance']} {p['direction']}: "
            f"{short(p['measure'], 70)} ({stage}) [{tier_text(p)}]"
        )
    return "\n".join(lines)


def _record_lines(rec: dict[str, Any]) -> list[str]:
    """The deciding record: instrument, dates, source, marks, conditions, quote, note."""
    inst, src = rec["instrument"], rec["source"]
    lines = []
    if rec["verify"]:
        why = (
            "a vendor or advocacy page, a lead only"
            if src["tier"] == "vendor"
            else "sources conflict or the instrument was not confirmed in official text"
        )
        lines.append("  " + paint(f"{UNVERIFIED.upper()}: {why}", "yellow", bold=True))
    if inst["type"] == "none":
        lines.append(f"  no law at this level names kratom: {citation(rec)}")
    else:
        lines.append(f"  {inst['type'] or 'instrument'}: {citation(rec)}")
    frm, until = span_text(rec)
    span = f"from {frm}" + (f" until {until}" if rec["valid_to"] else "")
    if rec["expires"]:
        span += f", expires {rec['expires']}"
    lines.append(f"  {span} · source: {tier_text(rec)} · checked {rec['checked'] or 'undated'}")
    if rec["conditions"]:
        lines.append(f"  conditions: {'; '.join(rec['conditions'])}")
    if rec["scope"] == "unincorporated":
        lines.append("  applies in the unincorporated area only, not inside its cities")
    if src["title"] and src["url"]:
        lines.append(f"  {src['title']}: {src['url']}")
    elif src["url"]:
        lines.append(f"  {src['url']}")
    if src["quote"]:
        lines.append(f"  “{src['quote']}”")
    if rec["note"]:
        lines.append(f"  note: {rec['note']}")
    return lines


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
    from tracker.export import documents

    with database().read() as conn:
        target = places_mod.resolve(conn, place)
        doc = documents.history_document(conn, target.code)
    if as_json:
        echo_json(doc)
        return
    rows, pend = doc["records"], doc["pending"]
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
            *span_text(r),
            tier_text(r),
            r["checked"] or "undated",
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
                "checked",
                "citation / source",
            ],
            body,
        )
    )
    if any(r["no_period"] for r in rows):
        click.echo(
            "  no period: the claim's document is undated, so it answers for no date "
            "(kept in history, attributed)."
        )
    for r in rows:
        if r["conditions"]:
            click.echo(f"  #{r['id']} conditions: {'; '.join(r['conditions'])}")
    quotes = {(r["source"]["document"], r["source"]["quote"]) for r in rows if r["source"]["quote"]}
    for doc, quote in sorted(quotes, key=str):
        click.echo(f"  {doc or 'source'}: “{quote}”")
    for p in pend:
        click.echo(
            f"  pending #{p['id']} {ts(p['recorded_at'])} -> {ts(p['superseded_at'])}: "
            f"{p['measure']} ({p['stage']}) [{tier_text(p)}]"
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
    from tracker.export import documents

    day, when = times(as_of, known_at)
    w = documents.When(day, when, substance)
    with database().read() as conn:
        answers = documents.list_answers(conn, w, status=status_filter, within=within, kind=kind)
    if as_json:
        echo_json(documents.list_document(w, answers))
        return
    rows = [
        [
            places_mod.short_code(a.place),
            places_mod.label(a.place),
            a.place.kind,
            status_text(a.status, a.min_age),
            (a.record or {}).get("valid_from") or ("-" if not a.record else "unknown"),
            places_mod.short_code(a.decided_by) if a.decided_by and a.record else "-",
            tier_text(a.record),
        ]
        for a in answers
    ]
    click.echo(table(["code", "place", "kind", "status", "since", "decided by", "tier"], rows))
    click.echo(f"{len(answers)} places · {substance} · on {day.isoformat()}")
