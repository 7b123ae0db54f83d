"""The `export` command: a thin layer over `tracker.export`."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tracker.cli.context import database, settings
from tracker.errors import UsageError


def _format_help() -> str:
    from tracker.export.registry import formats

    return "; ".join(f"{f.name}: {f.help}" for f in formats().values())


@click.command()
@click.option(
    "--format",
    "fmt",
    metavar="FORMAT",
    help="json, csv, ndjson, shipping, atom or html (each described above).",
)
@click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="Status on this day (YYYY-MM-DD, not in the future; default today).",
)
@click.option(
    "--substance",
    default="kratom",
    show_default=True,
    help="kratom (leaf and alkaloids) or 7-OH (concentrated products).",
)
@click.option(
    "-o",
    "--output",
    metavar="PATH",
    help="File to write atomically (default or '-': standard output); with --all, a folder.",
)
@click.option(
    "--all",
    "everything",
    is_flag=True,
    help="Write every export, for every substance, into the export_dir setting (or -o).",
)
@click.option(
    "--unknown",
    type=click.Choice(["block", "allow"], case_sensitive=False),
    help="shipping only: places with no record go into do_not_ship with status unknown "
    "(block, the default) or into their own list `unknown` (allow); never dropped.",
)
def export(
    fmt: str | None,
    as_of: str | None,
    substance: str,
    output: str | None,
    everything: bool,
    unknown: str | None,
) -> None:
    """Export every place's status as json, csv, ndjson, shipping, atom or html.

    json: every place with its effective status, conditions, dates, citations, source
    tier and last-verified time (JSON Schema in tracker/schemas/); ndjson: the same
    records, one per line; csv: one row per place; shipping: do-not-ship and minimum-age
    lists (places with no record are blocked unless --unknown allow), CSV, or JSON when
    -o ends in .json; atom: recent events as an Atom feed;
    html: a self-contained status page. A file is replaced atomically: on any error the
    previous one is left as it was.
    """
    from tracker.export import export as run_export
    from tracker.export import export_folder, regenerate_exports
    from tracker.law.dates import parse_day

    day = parse_day(as_of, option="--as-of") if as_of else None
    options = {"unknown": unknown.lower()} if unknown else {}
    if everything:
        if fmt or day or unknown:
            raise UsageError(
                "--all writes every format for today; it takes no --format, --as-of or --unknown",
                "Drop them, or drop --all to write one export.",
            )
        folder = Path(output) if output else export_folder(settings())
        for path in regenerate_exports(database(), folder):
            click.echo(str(path))
        return
    if not fmt:
        raise UsageError("missing --format", f"Formats: {_format_help()}.")
    if output and output != "-":
        run_export(database(), fmt, Path(output), as_of=day, substance=substance, options=options)
        return
    run_export(database(), fmt, sys.stdout, as_of=day, substance=substance, options=options)
