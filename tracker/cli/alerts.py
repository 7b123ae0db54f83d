"""Commands for subscribers: subscribe, subscribers, unsubscribe, digest."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import click

from tracker.alerts import subscriptions
from tracker.cli.context import database, settings
from tracker.cli.output import SCHEMA, echo_json, json_option, table
from tracker.errors import UsageError
from tracker.law.places import resolve_specs
from tracker.vocab import EVENT_KINDS as KINDS
from tracker.vocab import IMPORTANCE, SUBSTANCES

place_option = click.option(
    "--place",
    "places",
    multiple=True,
    metavar="PLACE",
    help="A place (code, OCD id or name; it includes the places under it) or a code "
    "pattern such as 'US-*' (every US state). Repeatable; none means everywhere.",
)
substance_option = click.option(
    "--substance",
    "substances",
    multiple=True,
    type=click.Choice(SUBSTANCES, case_sensitive=False),
    help="Only this substance (a kratom rule also counts for 7-OH). Repeatable.",
)
kind_option = click.option(
    "--kind",
    "kinds",
    multiple=True,
    type=click.Choice(KINDS, case_sensitive=False),
    help="Only these event kinds (default: all but source_failing). Repeatable.",
)
importance_option = click.option(
    "--min-importance",
    type=click.Choice(IMPORTANCE, case_sensitive=False),
    default="minor",
    show_default=True,
    help="Skip events less important than this.",
)


@click.command()
@click.argument("email")
@place_option
@substance_option
@kind_option
@importance_option
@click.option(
    "--cadence",
    type=click.Choice(subscriptions.CADENCES, case_sensitive=False),
    default="immediate",
    show_default=True,
    help="One mail per event, or a daily or weekly digest.",
)
@click.option(
    "--hour",
    type=click.IntRange(0, 23),
    default=8,
    show_default=True,
    help="Local hour of the digest.",
)
@click.option("--tz", default="UTC", show_default=True, help="IANA time zone of --hour.")
@click.option(
    "--weekday",
    type=click.Choice(subscriptions.WEEKDAYS, case_sensitive=False),
    default="mon",
    show_default=True,
    help="Day of the weekly digest.",
)
@click.option("--name", help="The subscriber's name, shown in the To: header.")
@click.option(
    "--confirmed",
    is_flag=True,
    help="The person already agreed (e.g. yourself): skip the confirmation mail.",
)
@click.option(
    "--resubscribe",
    is_flag=True,
    help="Take the address off the suppression list (only if the person asked again).",
)
@json_option
def subscribe(
    email: str,
    places: Sequence[str],
    substances: Sequence[str],
    kinds: Sequence[str],
    min_importance: str,
    cadence: str,
    hour: int,
    tz: str,
    weekday: str,
    name: str | None,
    confirmed: bool,
    resubscribe: bool,
    as_json: bool,
) -> None:
    """Subscribe EMAIL to alerts (double opt-in: a confirmation mail is sent).

    Running it again for the same address changes the filters and cadence.
    """
    _refuse_conflicts(click.get_current_context(), cadence.lower())
    db = database()
    with db.write() as conn:
        specs, codes = resolve_specs(conn, places)
        done = subscriptions.subscribe(
            conn,
            email,
            places=codes,
            place_specs=specs,
            substances=list(substances),
            kinds=list(kinds),
            min_importance=min_importance.lower(),
            cadence=cadence.lower(),
            hour=hour,
            weekday=subscriptions.WEEKDAYS.index(weekday.lower()),
            tz=tz,
            name=name,
            confirmed=confirmed,
            resubscribe=resubscribe,
        )
        row = subscriptions.find(conn, subscriptions.normalize_email(email))
    assert row is not None
    if as_json:
        echo_json({"schema": SCHEMA, "subscriber": _subscriber_dict(row), "created": done.created})
        return
    verb = "subscribed" if done.created else "updated"
    click.echo(f"{verb} {row.email} (#{row.id}): {row.status}, {_when(row)}")
    if done.confirmation_key:
        click.echo("  a confirmation mail is queued; nothing else is sent until it is confirmed")


def _refuse_conflicts(ctx: click.Context, cadence: str) -> None:
    """--hour, --tz and --weekday shape digests: given with a cadence that has no use
    for them, they are refused rather than silently ignored."""
    unused = {"immediate": ("hour", "tz", "weekday"), "daily": ("weekday",)}.get(cadence, ())
    given = [
        f"--{name}"
        for name in unused
        if ctx.get_parameter_source(name) == click.core.ParameterSource.COMMANDLINE
    ]
    if given:
        raise UsageError(
            f"{', '.join(given)} cannot be used with --cadence {cadence}",
            "--hour and --tz set the time of a daily or weekly digest, --weekday the day "
            "of a weekly one: drop them, or choose that cadence.",
        )


def _when(row: Any) -> str:
    if row.cadence == "immediate":
        return "immediate"
    day = subscriptions.WEEKDAYS[row.weekday] + " " if row.cadence == "weekly" else ""
    return f"{row.cadence} at {day}{row.hour:02d}:00 {row.tz}"


def _subscriber_dict(row: Any) -> dict[str, Any]:
    m = row._mapping
    out = {k: m[k] for k in ("id", "email", "name", "status", "cadence", "hour", "tz")}
    out.update(
        places=list(m["place_specs"]),
        substances=list(m["substances"]),
        kinds=list(m["kinds"]),
        min_importance=m["min_importance"],
        weekday=subscriptions.WEEKDAYS[m["weekday"]],
    )
    for k in ("created_at", "confirmed_at", "unsubscribed_at", "next_digest_at"):
        out[k] = m[k].isoformat() if m[k] else None
    return out


@click.command()
@json_option
def subscribers(as_json: bool) -> None:
    """List subscribers with their status, filters and cadence."""
    with database().read() as conn:
        rows = subscriptions.listing(conn)
    if as_json:
        echo_json({"schema": SCHEMA, "subscribers": [_subscriber_dict(r) for r in rows]})
        return
    if not rows:
        click.echo("no subscribers; `tracker subscribe EMAIL --place PLACE` adds one")
        return
    body = [
        [
            f"#{r.id}",
            r.email,
            r.status,
            _when(r),
            ", ".join(r.place_specs) or "everywhere",
            ", ".join(r.substances) or "all",
            r.min_importance,
            r.next_digest_at.isoformat(timespec="minutes") if r.next_digest_at else "-",
        ]
        for r in rows
    ]
    headers = ["id", "email", "status", "cadence", "places", "substances", "min", "next digest"]
    click.echo(table(headers, body))


@click.command()
@click.argument("email")
def unsubscribe(email: str) -> None:
    """Unsubscribe EMAIL and add it to the suppression list (nothing more is sent)."""
    address = subscriptions.normalize_email(email)
    with database().write() as conn:
        changed = subscriptions.unsubscribe(conn, address, detail="cli")
    click.echo(f"unsubscribed {address}" if changed else f"{address} was already unsubscribed")


@click.group()
def digest() -> None:
    """Daily and weekly digests: preview one, send one now, or enqueue the due ones now."""


@digest.command("preview")
@click.argument("email")
@click.option("--html", "as_html", is_flag=True, help="Print the HTML part instead of the text.")
def preview(email: str, as_html: bool) -> None:
    """Show the digest EMAIL would receive now (nothing is sent or marked)."""
    from tracker.alerts import digest as digest_mod
    from tracker.alerts import messages, tokens

    db = database()
    cfg = settings()
    key = tokens.signing_key(db, cfg.signing_key)
    with db.read() as conn:
        row = digest_mod.preview_row(conn, email)
        built = messages.build(conn, row, messages.Context(cfg.mail_from, cfg.public_url, key))
    if isinstance(built, messages.Skip):
        raise UsageError(f"no digest would be sent: {built.reason}")
    assert isinstance(built, messages.Mail)
    msg = built.message
    for header in ("From", "To", "Subject", "List-Unsubscribe"):
        click.echo(f"{header}: {msg[header]}")
    click.echo("")
    click.echo(built.part("html" if as_html else "plain"))


@digest.command("send")
@click.argument("email")
def send(email: str) -> None:
    """Send EMAIL's digest now, with every change waiting for it, and mark it sent.

    What the subscriber will get, for an operator to see: the waiting changes go into
    this digest and the next regular one starts after them (its time is kept).
    """
    from tracker.alerts import digest as digest_mod
    from tracker.alerts.dispatch import Dispatcher
    from tracker.alerts.outbox import configured_backoff

    db, cfg = database(), settings()
    with db.write() as conn:
        key, count = digest_mod.enqueue_now(conn, email)
    stats = Dispatcher(db, cfg, backoff=configured_backoff(cfg.retry_delays), keys=(key,)).run()
    if stats.sent:
        click.echo(f"sent a digest of {count} change(s) to {email} ({key})")
        return
    import sqlalchemy as sa

    from tracker.storage.tables_alerts import OUTBOX

    with db.read() as conn:
        row = conn.execute(sa.select(OUTBOX).where(OUTBOX.c.key == key)).one()
    click.echo(
        f"not sent yet: {row.status}, {row.last_error or 'no error'}; "
        "it stays in the outbox (`tracker outbox`)",
        err=True,
    )
    raise SystemExit(1)


@digest.command("send-due")
def send_due() -> None:
    """Enqueue every digest that is due now (the daemon does this on its own)."""
    from tracker.alerts import digest as digest_mod

    count = digest_mod.enqueue_due(database())
    click.echo(f"{count} digest(s) enqueued; `tracker outbox send` delivers them")
