"""Commands for delivery: webhooks, outbox, serve."""

from __future__ import annotations

import sys
import time
from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import click

from tracker.cli.alerts import importance_option, kind_option, place_option, substance_option
from tracker.cli.common import ROW_ID, short
from tracker.cli.context import database, settings
from tracker.cli.output import SCHEMA, echo_json, json_option, table
from tracker.errors import UsageError


def _endpoint_dict(ep: Any) -> dict[str, Any]:
    return {
        "id": ep.id,
        "url": ep.url,
        "status": ep.status,
        "disabled_reason": ep.disabled_reason,
        "places": list(ep.place_specs),
        "substances": list(ep.substances),
        "kinds": list(ep.kinds),
        "min_importance": ep.min_importance,
        "rotating_until": ep.old_secret_until.isoformat() if ep.old_secret else None,
    }


@click.group()
def webhooks() -> None:
    """Webhook endpoints: Standard Webhooks v1 signed JSON POSTs of events."""


@webhooks.command("add")
@click.argument("url")
@place_option
@substance_option
@kind_option
@importance_option
def webhooks_add(
    url: str,
    places: Sequence[str],
    substances: Sequence[str],
    kinds: Sequence[str],
    min_importance: str,
) -> None:
    """Add an endpoint receiving matching events at URL; prints its secret once.

    Private addresses are refused (loopback only with TRACKER_ALLOW_LOOPBACK=1).
    """
    from tracker.alerts import webhooks as hooks
    from tracker.law.places import resolve_specs

    cfg = settings()
    with database().write() as conn:
        specs, codes = resolve_specs(conn, places)
        ep = hooks.add(
            conn,
            url,
            allow_loopback=cfg.allow_loopback,
            places=codes,
            place_specs=specs,
            substances=list(substances),
            kinds=list(kinds),
            min_importance=min_importance.lower(),
        )
    click.echo(f"webhook #{ep.id} added for {ep.url}")
    click.echo(f"  secret (give it to the receiver; shown once): {ep.secret}")


@webhooks.command("list")
@json_option
def webhooks_list(as_json: bool) -> None:
    """List endpoints with their filters and status (secrets are not shown)."""
    from tracker.alerts import webhooks as hooks

    with database().read() as conn:
        rows = hooks.listing(conn)
    if as_json:
        echo_json({"schema": SCHEMA, "webhooks": [_endpoint_dict(r) for r in rows]})
        return
    if not rows:
        click.echo("no webhook endpoints; `tracker webhooks add URL` adds one")
        return
    body = [
        [
            f"#{r.id}",
            r.url,
            r.status + (f" ({r.disabled_reason})" if r.disabled_reason else ""),
            ", ".join(r.place_specs) or "everywhere",
            ", ".join(r.kinds),
            r.min_importance,
        ]
        for r in rows
    ]
    click.echo(table(["id", "url", "status", "places", "kinds", "min"], body))


@webhooks.command("test")
@click.argument("endpoint_id", type=ROW_ID)
def webhooks_test(endpoint_id: int) -> None:
    """Send a signed `test` message to endpoint ENDPOINT_ID now and show the answer."""
    import json

    from tracker.alerts import webhooks as hooks
    from tracker.alerts.messages import Hook
    from tracker.alerts.notifiers.webhook import WebhookNotifier
    from tracker.timeutil import utcnow

    with database().read() as conn:
        ep = hooks.get(conn, endpoint_id)
    msg_id = f"test_{endpoint_id}_{int(time.time() * 1000)}"
    body = {"type": "test", "timestamp": utcnow().isoformat(), "data": {"endpoint": ep.id}}
    keys = [ep.secret] + ([ep.old_secret] if ep.old_secret else [])
    hook = Hook(ep.url, msg_id, json.dumps(body, separators=(",", ":")).encode(), keys)
    with WebhookNotifier(settings()) as notifier:
        outcome = notifier.send(hook)
    if outcome.result == "sent":
        click.echo(f"ok: {ep.url} accepted the test message ({msg_id})")
        return
    click.echo(f"failed: {outcome.error}", err=True)
    raise SystemExit(1)


@webhooks.command("rotate")
@click.argument("endpoint_id", type=ROW_ID)
@click.option(
    "--keep-old-hours",
    type=click.IntRange(0, 24 * 30),
    default=24,
    show_default=True,
    help="Hours the old secret keeps signing beside the new one.",
)
def webhooks_rotate(endpoint_id: int, keep_old_hours: int) -> None:
    """Give endpoint ENDPOINT_ID a new secret; both sign until the old one expires."""
    from tracker.alerts import webhooks as hooks

    with database().write() as conn:
        ep = hooks.rotate(conn, endpoint_id, keep_old=timedelta(hours=keep_old_hours))
    click.echo(f"webhook #{ep.id}: new secret (shown once): {ep.secret}")
    click.echo(f"  the old secret also signs until {ep.old_secret_until:%Y-%m-%d %H:%M} UTC")


@webhooks.command("remove")
@click.argument("endpoint_id", type=ROW_ID)
def webhooks_remove(endpoint_id: int) -> None:
    """Remove endpoint ENDPOINT_ID (its undelivered messages are skipped)."""
    from tracker.alerts import webhooks as hooks

    with database().write() as conn:
        hooks.remove(conn, endpoint_id)
    click.echo(f"webhook #{endpoint_id} removed")


@click.group(invoke_without_command=True)
@click.option("--dead", is_flag=True, help="Show dead rows (no attempt left).")
@json_option
@click.pass_context
def outbox(ctx: click.Context, dead: bool, as_json: bool) -> None:
    """Show undelivered messages (or dead ones), with counts by status.

    Subcommands: `retry ID` makes a dead row pending again; `send` delivers due rows now.
    """
    if ctx.invoked_subcommand is not None:
        return
    from tracker.alerts import outbox as box

    with database().read() as conn:
        counts = box.counts(conn)
        rows = box.listing(conn, ["dead"] if dead else ["pending"])
    if as_json:
        items = [
            {
                **{k: r._mapping[k] for k in ("id", "key", "channel", "purpose", "recipient")},
                "status": r.status,
                "attempts": r.attempts,
                "due_at": r.due_at.isoformat(),
                "last_error": r.last_error,
            }
            for r in rows
        ]
        echo_json({"schema": SCHEMA, "counts": counts, "rows": items})
        return
    click.echo(", ".join(f"{n} {s}" for s, n in counts.items()))
    if rows:
        body = [
            [
                f"#{r.id}",
                r.channel,
                r.purpose,
                r.recipient,
                str(r.attempts),
                r.due_at.isoformat(timespec="seconds"),
                short(r.last_error or "-", 60),
            ]
            for r in rows
        ]
        click.echo(table(["id", "channel", "purpose", "to", "tries", "due", "last error"], body))


@outbox.command("retry")
@click.argument("row_id", type=ROW_ID)
def outbox_retry(row_id: int) -> None:
    """Make dead row ROW_ID pending again, due now, with a full set of attempts."""
    from tracker.alerts import outbox as box

    with database().write() as conn:
        row = box.retry(conn, row_id)
    click.echo(f"outbox #{row_id} ({row.purpose} to {row.recipient}) is pending again")


@outbox.command("send")
def outbox_send() -> None:
    """Deliver every due row now (the daemon does this on its own)."""
    from tracker.alerts.dispatch import Dispatcher
    from tracker.alerts.outbox import configured_backoff

    cfg = settings()
    backoff = configured_backoff(cfg.retry_delays)
    stats = Dispatcher(database(), cfg, backoff=backoff).run()
    click.echo(
        f"sent {stats.sent}, to retry {stats.retry}, dead {stats.dead}, skipped {stats.skipped}"
    )


@click.command()
@click.option("--host", help="Address to listen on (default: the http_host setting).")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    help="Port (default: the http_port setting; 0 picks a free one).",
)
def serve(host: str | None, port: int | None) -> None:
    """Serve the public web service alone (until Ctrl-C or SIGTERM): the status pages,
    the JSON API, ZIP look-up, feeds, the subscribe and preferences forms and the links
    in mail. The daemon (`tracker run`) serves the same app; this runs no timers.
    """
    import signal
    import threading

    from tracker.valuecheck import host as check_host
    from tracker.web.config import WebConfig
    from tracker.web.public import make_public_app
    from tracker.web.server import Server

    cfg = settings()
    if host is not None and (not host or check_host(host)):
        raise UsageError(f"invalid --host {host!r}", "Give a host name or an IP address.")
    overrides = {k: v for k, v in (("http_host", host), ("http_port", port)) if v is not None}
    cfg = cfg.replace(**overrides) if overrides else cfg
    web_cfg = WebConfig.from_settings(cfg)
    app = make_public_app(database(), cfg, cfg=web_cfg)
    try:
        server = Server(app, web_cfg.http_host, web_cfg.http_port, web_cfg.limits)
    except OSError as exc:
        raise UsageError(
            f"cannot listen on {web_cfg.http_host}:{web_cfg.http_port}: {exc.strerror or exc}",
            "Give an address of this machine (127.0.0.1, 0.0.0.0, ::1) and a free port "
            "(--port 0 picks one).",
        ) from None
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    server.start()
    click.echo(f"serving on {server.url}  (Ctrl-C stops)")
    sys.stdout.flush()
    while not stop.wait(0.5):  # short waits: signal handlers run between them
        pass
    clean = server.stop(grace=cfg.shutdown_grace)
    click.echo("stopped" if clean else "stopped; requests still in progress were cut off")
