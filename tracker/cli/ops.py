"""Operator commands: config (and, with the daemon, run and doctor)."""

from __future__ import annotations

import click

from tracker.cli.context import settings
from tracker.cli.output import SCHEMA, echo_json, json_option, table


@click.command()
@json_option
def config(as_json: bool) -> None:
    """Print the effective settings and where each came from (secrets masked).

    Precedence: defaults, then the TOML file ($TRACKER_CONFIG or the user config
    folder's tracker.toml), then TRACKER_* environment variables.
    """
    rows = settings().describe()
    if as_json:
        echo_json(
            {
                "schema": SCHEMA,
                "settings": [{"name": n, "value": v, "origin": o} for n, v, o in rows],
            }
        )
        return
    click.echo(table(["setting", "value", "from"], [list(r) for r in rows]))
