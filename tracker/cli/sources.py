"""Commands for the watched official pages: `tracker sources` (list), `add`, `test`,
`disable`, `enable`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click
import sqlalchemy as sa

from tracker.cli.context import database, settings
from tracker.cli.output import SCHEMA, echo_json, json_option, paint, table
from tracker.cli.watch_common import ts
from tracker.errors import TrackerError
from tracker.law import places as places_mod
from tracker.paths import jurisdictions_dir


class _SourcesGroup(click.Group):
    """`tracker sources [PLACE]` lists; `tracker sources add|test|disable|enable ...` are
    subcommands."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            ctx.meta["sources_place"] = args[0]
            args = args[1:]
        return super().parse_args(ctx, args)


@click.group(cls=_SourcesGroup, invoke_without_command=True)
@json_option
@click.pass_context
def sources(ctx: click.Context, as_json: bool) -> None:
    """List watched official pages (all, or those of PLACE and the places under it).

    Usage: tracker sources [PLACE] | tracker sources add ... | tracker sources test SOURCE
    | tracker sources disable|enable KEY. Sources are data: jurisdictions/sources/*.yaml
    (shipped) and <data_dir>/sources.yaml (yours, see `tracker sources add`). Problems in
    those files are listed at the end.
    """
    if ctx.invoked_subcommand is not None:
        return
    from tracker.storage.tables_watch import SOURCE
    from tracker.watch import sources as sources_mod

    db, s = database(), settings()
    report = sources_mod.sync(db, jurisdictions_dir(), s.data_path)
    try:
        off = sorted(sources_mod.disabled_keys(s.data_path))
    except TrackerError:
        off = []  # reported among the problems by sync
    place = ctx.meta.get("sources_place")
    with db.read() as conn:
        query = sa.select(SOURCE).where(SOURCE.c.active).order_by(SOURCE.c.place_code, SOURCE.c.key)
        if place:
            codes = places_mod.descendants(conn, places_mod.resolve(conn, place).code)
            query = query.where(SOURCE.c.place_code.in_(sorted(codes)))
        rows = list(conn.execute(query))
    if as_json:
        echo_json(
            {
                "schema": SCHEMA,
                "sources": [_source_dict(r) for r in rows],
                "disabled": off,
                "problems": [str(p) for p in report.problems],
            }
        )
        return
    body = [
        [
            r.key,
            r.place_code if "/" not in r.place_code else r.place_code.rsplit("/", 1)[-1],
            r.kind,
            r.spec.get("cron") or r.spec.get("every") or s.default_every,
            ts(r.last_checked_at),
            paint(f"failing ({r.failures})", "red")
            if r.failing
            else (f"{r.failures} failure(s)" if r.failures else "ok" if r.last_ok_at else "new"),
            r.url,
        ]
        for r in rows
    ]
    click.echo(table(["source", "place", "kind", "every", "last check", "state", "url"], body))
    click.echo(f"{len(rows)} sources")
    if off:
        click.echo(f"disabled ({len(off)}): {', '.join(off)}; `tracker sources enable KEY`")
    if not s.shipped_sources:
        click.echo("shipped sources are off (shipped_sources = false)")
    for problem in report.problems:
        click.echo(paint(f"problem: {problem}", "red"), err=True)


def _source_dict(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "key": r.key,
        "place": r.place_code,
        "title": r.title,
        "url": r.url,
        "kind": r.kind,
        "origin": r.origin,
        "spec": r.spec,
        "next_check_at": r.next_check_at.isoformat(),
        "last_checked_at": r.last_checked_at.isoformat() if r.last_checked_at else None,
        "failures": r.failures,
        "failing": r.failing,
        "last_error": r.last_error,
    }


@sources.command("add")
@click.argument("place")
@click.argument("url")
@click.option("--select", multiple=True, metavar="CSS", help="Region(s) to watch; repeatable.")
@click.option("--exclude", multiple=True, metavar="CSS", help="Parts to ignore; repeatable.")
@click.option("--every", metavar="INTERVAL", help="How often: 30m, 6h, 1d (default_every).")
@click.option("--cron", metavar="EXPR", help="Or a cron expression in UTC: '0 6 * * 1-5'.")
@click.option(
    "--kind", default="html", show_default=True, help="html, pdf, json, federal_register, feed."
)
@click.option(
    "--ignore",
    multiple=True,
    metavar="REGEX",
    help="Text to drop before comparing (a regex; may match part of a line); repeatable.",
)
@click.option(
    "--keyword",
    "keywords",
    multiple=True,
    metavar="WORD",
    help="A word that makes a change relevant, besides the kratom terms; repeatable.",
)
@click.option("--key", metavar="KEY", help="The source's key (default: from place and URL).")
@click.option("--title", help="A name for the page (default: from place and URL).")
def sources_add(
    place: str,
    url: str,
    select: Sequence[str],
    exclude: Sequence[str],
    every: str | None,
    cron: str | None,
    kind: str,
    ignore: Sequence[str],
    keywords: Sequence[str],
    key: str | None,
    title: str | None,
) -> None:
    """Watch URL for PLACE; kept in your own sources file, not in the shipped data.

    The key and title are derived from the place and the URL unless given
    (`us-ri-21-28.12-5`); `tracker sources test KEY` then shows what it extracts.
    """
    from tracker.netguard import check_url
    from tracker.watch import sources as sources_mod
    from tracker.watch.operator_sources import add_operator_source

    s = settings()
    check_url(url, allow_loopback=s.allow_loopback)
    db = database()
    with db.read() as conn:
        spec = add_operator_source(
            conn,
            s.data_path,
            place,
            url,
            kind=kind,
            title=title,
            select=tuple(select),
            exclude=tuple(exclude),
            every=every,
            cron=cron,
            root=jurisdictions_dir(),
            key=key,
            ignore=tuple(ignore),
            keywords=tuple(keywords),
        )
    sources_mod.sync(db, jurisdictions_dir(), s.data_path)
    click.echo(f"added {spec.key} to {s.data_path / sources_mod.OPERATOR_FILE}")
    click.echo(f"  title: {spec.title}")
    click.echo(f"  try it: tracker sources test {spec.key}")


def _switch(key: str, enabled: bool) -> None:
    from tracker.watch import sources as sources_mod
    from tracker.watch.operator_sources import set_enabled

    db, s = database(), settings()
    root = jurisdictions_dir()
    # Every file, the shipped ones too even when shipped_sources is off.
    files = [(p, f"shipped:sources/{p.name}") for p in sorted((root / "sources").glob("*.yaml"))]
    files += [f for f in sources_mod.source_files(root, s.data_path) if f[1] == "operator"]
    known, _, _ = sources_mod.load_specs(files)
    changed = set_enabled(s.data_path, key, enabled, {k.key for k in known})
    sources_mod.sync(db, root, s.data_path)
    state = "enabled" if enabled else "disabled"
    click.echo(f"{key} {state}" if changed else f"{key} was already {state}")
    if changed:
        click.echo(f"  kept in {s.data_path / sources_mod.OPERATOR_FILE} (`disabled:`)")


@sources.command("disable")
@click.argument("key")
def sources_disable(key: str) -> None:
    """Stop watching source KEY (shipped or yours); its history stays.

    Kept in your own sources file (`disabled:`), never in the shipped data, so it
    survives upgrades; `tracker sources enable KEY` undoes it.
    """
    _switch(key, False)


@sources.command("enable")
@click.argument("key")
def sources_enable(key: str) -> None:
    """Watch source KEY again after `tracker sources disable KEY`."""
    _switch(key, True)


@sources.command("test")
@click.argument("source")
def sources_test(source: str) -> None:
    """Fetch, extract and normalize SOURCE, showing each stage; writes nothing."""
    from tracker.errors import SourceError
    from tracker.watch import sources as sources_mod
    from tracker.watch.check import observe
    from tracker.watch.cycle import select
    from tracker.watch.snapshots import get
    from tracker.watch.watcher import Watcher

    db, s = database(), settings()
    sources_mod.sync(db, jurisdictions_dir(), s.data_path)
    with db.read() as conn:
        (row,) = select(conn, [source])
    spec = sources_mod.spec_from_json(row.spec)
    w = Watcher.from_settings(db, s)
    click.echo(paint(f"{spec.key}", bold=True) + f" · {spec.kind} · {spec.url}")
    try:
        obs = observe(w, spec, None, None)
    except SourceError as err:
        click.echo(paint(f"  failed at {err.stage}: {err}", "red"))
        if err.hint:
            click.echo(f"  {err.hint}")
        raise SystemExit(1) from None
    r = obs.response
    assert r is not None and obs.lines is not None and obs.raw_lines is not None
    click.echo(
        f"fetch:     HTTP {r.status}, {len(r.body):,} bytes, {r.media_type or 'no type'}"
        f"{'; charset ' + r.charset if r.charset else ''}, {r.elapsed_ms} ms"
        f"{'; redirected to ' + r.url if r.url != spec.url else ''}"
    )
    raw_count = sum(len(x.splitlines()) for x in obs.raw_lines)
    click.echo(f"extract:   {raw_count} raw lines (select {list(spec.select) or 'body'})")
    click.echo(f"normalize: {len(obs.lines)} lines, sha {obs.sha}")
    for line in obs.lines[:15]:
        click.echo(f"  | {line[:120]}")
    if len(obs.lines) > 15:
        click.echo(f"  | … {len(obs.lines) - 15} more")
    with db.read() as conn:
        old = get(conn, row.current_sha) if row.current_sha else None
    if row.current_sha is None:
        verdict = "no version stored yet: the next check is a baseline"
    elif obs.sha == row.current_sha:
        verdict = "same as the stored version: no change"
    elif old is None:
        verdict = "differs from the stored version"
    else:
        from tracker.watch.diff import compare

        d = compare(old.split("\n"), obs.lines, max_bytes=s.diff_max_bytes)
        verdict = f"differs from the stored version: +{len(d.added)} -{len(d.removed)} lines"
    click.echo(f"compare:   {verdict}")
