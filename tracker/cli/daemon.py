"""Commands of the daemon: run and doctor."""

from __future__ import annotations

import faulthandler
import logging
import os
import signal
import sys
from collections.abc import Sequence
from types import FrameType
from typing import TYPE_CHECKING

import click

from tracker.cli.context import settings
from tracker.cli.output import SCHEMA, echo_json, json_option, paint, table
from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker.service.daemon import Daemon

logger = logging.getLogger(__name__)


@click.command()
def run() -> None:
    """Run the daemon: check due sources, deliver alerts and digests, send reminders,
    apply snapshot retention and keep the exports current, until SIGTERM or Ctrl-C.

    Prints where everything is (database, data folder, mail, exports, the public web
    service, and the operations endpoints /livez, /readyz, /metrics and /status.json).
    Several replicas may share one PostgreSQL database; SQLite supports one. On SIGTERM
    or Ctrl-C the work in progress finishes and every lease is released (a second signal
    stops at once). Exit status: 0 after a clean stop, 1 when work had to be cut short,
    2 for bad settings or a port in use, 3 when the database stayed unreachable for
    db_retry_for seconds.
    """
    from tracker import __version__, logs
    from tracker.service.daemon import Daemon
    from tracker.service.runtime import tune_for_checks
    from tracker.storage.health import StopRequested

    cfg = settings()
    logs.configure(cfg.log_level, cfg.log_format)
    daemon = Daemon(cfg)
    tune_for_checks(long_running=True)  # before the worker threads start

    def on_signal(signum: int, _frame: FrameType | None) -> None:
        if daemon.stopping.is_set():
            daemon.abort()
        logger.info("%s received: stopping", signal.Signals(signum).name)
        daemon.request_stop(0)

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    # `kill -USR1 PID` writes every thread's stack to standard error: what a daemon that
    # does not stop is waiting for (the tests ask for it when a stop takes too long).
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        daemon.start()
    except StopRequested:
        click.echo("stopped while waiting for the database", err=True)
        return
    click.echo(paint(f"tracker {__version__} daemon running", bold=True))
    where = _where(daemon)
    width = max(len(name) for name, _ in where)
    for name, value in where:
        click.echo(f"  {name:<{width}}  {value}")
    click.echo("Stop with Ctrl-C or SIGTERM. Logs go to standard error.")
    sys.stdout.flush()
    code = daemon.wait()
    if daemon.fatal is not None:
        raise daemon.fatal
    if code:
        # Threads still stuck in a fetch or a send would hold the interpreter open.
        logging.shutdown()
        sys.stdout.flush()
        os._exit(code)


def _where(daemon: Daemon) -> list[tuple[str, str]]:
    """Where everything is, for the banner."""
    from sqlalchemy import make_url

    from tracker.export import export_folder
    from tracker.settings import config_file_path

    s = daemon.settings
    url = make_url(s.effective_database_url).render_as_string(hide_password=True)
    backend = "SQLite, one replica" if url.startswith("sqlite") else "several replicas"
    if s.smtp_host:
        mail = f"SMTP {s.smtp_host}:{s.smtp_port} ({s.smtp_tls})"
    else:
        mail = f"{s.data_path / 'mail'} (.eml files; set smtp_host to send)"
    http, ops = daemon.http_address, daemon.ops_address
    path = config_file_path(os.environ)
    return [
        ("settings", f"{path} and environment" if path else "defaults and environment"),
        ("database", f"{url} ({backend})"),
        ("data dir", str(s.data_path)),
        ("mail", mail),
        ("exports", str(export_folder(s))),
        ("http", f"{http}  (status pages, {http}/api/v1/, /subscribe, mail links)"),
        ("ops", f"{ops}  ({ops}/livez, /readyz, /metrics, /status.json)"),
        ("replica", daemon.owner),
    ]


@click.command()
@click.option(
    "--timeout",
    type=click.FloatRange(0, 3600, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds per network check.",
)
@click.option("--source", "keys", multiple=True, help="Check only this source (repeatable).")
@click.option("--no-sources", is_flag=True, help="Skip the source files and hosts.")
@json_option
def doctor(timeout: float, keys: Sequence[str], no_sources: bool, as_json: bool) -> None:
    """Check the settings, the database, mail (SMTP or the mail folder), the HTTP address,
    the exports folder and the reachability of every source host, each with a timeout.

    Writes nothing. Exit status 1 when any check fails (warnings do not fail), 2 when the
    settings are invalid.
    """
    from tracker.service import doctor as dr
    from tracker.service.daemon_config import apply_policy

    if keys and no_sources:
        raise UsageError(
            "--source and --no-sources contradict each other",
            "Give --source KEY to check those sources, or --no-sources to skip them all.",
        )

    s, found = dr.settings_findings()
    if s is not None:
        apply_policy(s)
        found += dr.database_findings(s, timeout)
        found += dr.mail_findings(s, timeout)
        found += dr.local_findings(s)
        if not no_sources:
            found += dr.source_findings(s, keys, timeout)
    failed = sum(f.status == "fail" for f in found)
    if as_json:
        echo_json(
            {
                "schema": SCHEMA,
                "ok": not failed,
                "checks": [
                    {"check": f.check, "status": f.status, "detail": f.detail} for f in found
                ],
            }
        )
    else:
        colours = {"ok": "green", "warn": "yellow", "fail": "red"}
        rows = [[f.check, paint(f.status, colours[f.status]), f.detail] for f in found]
        click.echo(table(["check", "result", "detail"], rows))
        warned = sum(f.status == "warn" for f in found)
        click.echo(f"\n{len(found)} checks: {failed} failed, {warned} warnings")
    if any(f.check == "settings" and f.status == "fail" for f in found):
        sys.exit(2)  # bad settings are bad input, as for every other command
    if failed:
        sys.exit(1)
