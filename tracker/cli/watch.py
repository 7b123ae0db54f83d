"""Commands for checking official pages: check, changes, diff."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Sequence
from datetime import UTC, datetime, time
from typing import Any

import click
import sqlalchemy as sa

from tracker.cli.common import row_id, short
from tracker.cli.context import database, settings
from tracker.cli.output import SCHEMA, echo_json, json_option, paint, table
from tracker.cli.watch_common import OUTCOME_COLOURS, OUTCOMES, ts
from tracker.errors import UsageError
from tracker.law.dates import parse_day, parse_instant
from tracker.paths import jurisdictions_dir
from tracker.safetext import visible


def _change_note(r: Any) -> str:
    if not r.change_id:
        return ""
    note = f"change #{r.change_id} ({r.importance}) {', '.join(r.keywords)}".strip()
    return note + (f"; undoes change #{r.reverts}" if r.reverts else "")


@click.command()
@click.argument("source", nargs=-1)
@json_option
def check(source: Sequence[str], as_json: bool) -> None:
    """Check SOURCE(s) now (all active sources by default), concurrently and politely.

    Shows a progress bar on a terminal and a summary at the end. Exit status 1 when any
    source failed (each failure is recorded; the other sources are still checked), or
    when every chosen source was busy. Ctrl-C or SIGTERM stops at once: the checks in
    progress are dropped, every lease is released, exit status 130.
    """
    from tracker.service.runtime import tune_for_checks
    from tracker.watch.cycle import CycleInterrupted, run_cycle
    from tracker.watch.watcher import Watcher

    db, s = database(), settings()
    w = Watcher.from_settings(db, s)
    tune_for_checks()
    bar: Any = None
    lock = threading.Lock()

    def start(n: int) -> None:
        nonlocal bar
        if sys.stderr.isatty() and not as_json and n:
            bar = click.progressbar(length=n, label="checking", file=sys.stderr)
            bar.__enter__()

    def step(_: Any) -> None:
        if bar is not None:
            with lock:
                bar.update(1)

    def interrupt(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt  # the same way out as Ctrl-C: leases are given back

    # SIGINT too: a process started in the background by a shell inherits SIGINT ignored,
    # and Python then installs no KeyboardInterrupt of its own.
    previous = {sig: signal.signal(sig, interrupt) for sig in (signal.SIGTERM, signal.SIGINT)}
    try:
        report = run_cycle(
            w, jurisdictions_dir(), s.data_path, source, on_start=start, on_result=step
        )
    except CycleInterrupted as stopped:
        if bar is not None:
            bar.__exit__(None, None, None)
            bar = None
        done = len(stopped.report.results)
        click.echo(
            f"interrupted after {done} check(s); the others were not checked and every "
            "lease was released: run `tracker check` again to finish",
            err=True,
        )
        raise SystemExit(130) from None
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        if bar is not None:
            bar.__exit__(None, None, None)
    failed = report.count("error")
    if as_json:
        echo_json(
            {
                "schema": SCHEMA,
                "results": [r.__dict__ for r in report.results],
                "busy": report.busy,
                "problems": [str(p) for p in report.problems],
            }
        )
    else:
        rows = [
            [
                r.key,
                paint(r.outcome, OUTCOME_COLOURS.get(r.outcome)),
                str(r.status_code or "-"),
                f"{r.duration_ms} ms",
                short(r.error or "", 80) or _change_note(r),
            ]
            for r in report.results
        ]
        if rows:
            click.echo(table(["source", "outcome", "http", "time", "note"], rows))
        counts = {o: report.count(o) for o in OUTCOMES}
        summary = ", ".join(f"{n} {o.replace('_', ' ')}" for o, n in counts.items() if n)
        click.echo(f"{len(report.results)} checked: {summary or 'nothing to check'}")
        for key in report.busy:
            click.echo(
                f"busy: {key} is being checked by another worker (or was claimed by one "
                "that was killed: it is free again when that lease runs out)",
                err=True,
            )
        for problem in report.problems:
            click.echo(paint(f"problem: {problem}", "red"), err=True)
    if failed or report.problems or (report.busy and not report.results):
        raise SystemExit(1)


@click.command()
@click.argument("place", required=False)
@click.option("--since", metavar="DATE", help="Only changes detected since (YYYY-MM-DD or a time).")
@json_option
def changes(place: str | None, since: str | None, as_json: bool) -> None:
    """List detected page changes, newest first (for PLACE and the places under it)."""
    from tracker.export import documents

    when = None
    if since:
        when = (
            datetime.combine(parse_day(since, option="--since"), time(0), UTC)
            if len(since.strip()) == 10
            else parse_instant(since, option="--since")
        )
    with database().read() as conn:
        doc = documents.changes_document(conn, place, when)
    if as_json:
        echo_json(doc)
        return
    items = doc["changes"]
    if not items:
        click.echo("no changes detected" + (f" since {since}" if since else ""))
        return
    click.echo(
        table(
            ["change", "detected (UTC)", "place", "source", "importance", "lines", "keywords"],
            [
                [
                    f"#{i['id']}",
                    i["detected_at"][:16].replace("T", " "),
                    i["place"],
                    i["source"],
                    paint(i["importance"], "yellow" if i["importance"] == "relevant" else None),
                    "too large" if i["too_large"] else f"+{i['added']} -{i['removed']}",
                    (", ".join(i["keywords"]) or "-")
                    + (f" (undoes #{i['reverts']})" if i["reverts"] else ""),
                ]
                for i in items
            ],
        )
    )


@click.command()
@click.argument("change")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML diff (text escaped).")
@click.option("--old", "show", flag_value="old", help="Print the whole text before the change.")
@click.option("--new", "show", flag_value="new", help="Print the whole text after the change.")
def diff(change: str, as_html: bool, show: str | None) -> None:
    """Show the diff of CHANGE (a number from `tracker changes`)."""
    from tracker.storage.tables_watch import PAGE_CHANGE, SOURCE
    from tracker.watch.snapshots import get

    number = row_id(change, "change", "Give a number from `tracker changes`.")
    db = database()
    with db.read() as conn:
        row = conn.execute(
            sa.select(PAGE_CHANGE, SOURCE.c.key, SOURCE.c.url)
            .join(SOURCE, SOURCE.c.id == PAGE_CHANGE.c.source_id)
            .where(PAGE_CHANGE.c.id == number)
        ).first()
        if row is None:
            raise UsageError(f"no change #{number}", "`tracker changes` lists them.")
        text = get(conn, row.old_sha if show == "old" else row.new_sha) if show else None
    if show:
        if text is None:
            raise UsageError(
                f"the {show} snapshot of change #{row.id} was removed by the retention rule",
                "The stored diff is kept: run without --old/--new.",
            )
        click.echo(visible(text))
        return
    if as_html:
        click.echo(visible(row.html_diff or ""))
        return
    click.echo(
        paint(f"change #{row.id}", bold=True)
        + f" · {row.key} · {row.place_code} · {ts(row.detected_at)} UTC · {row.importance}"
    )
    click.echo(f"  {visible(row.url)}")
    if row.too_large:
        click.echo(f"  too large to diff: +{row.added} -{row.removed} lines changed")
        click.echo(f"  before: snapshot {row.old_sha}  (tracker diff {row.id} --old)")
        click.echo(f"  after:  snapshot {row.new_sha}  (tracker diff {row.id} --new)")
        return
    # Page text may carry terminal escapes or bidi overrides: shown, never acted on.
    for line in visible(row.unified_diff).split("\n") if row.unified_diff else []:
        colour = "green" if line.startswith("+") else "red" if line.startswith("-") else None
        click.echo(paint(line, "cyan" if line.startswith("@@") else colour))
