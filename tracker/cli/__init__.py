"""The `tracker` command: a thin layer over the Python API.

Commands are loaded lazily (`COMMANDS` maps a name to `module:function`), so a command
imports only what it needs and `tracker status` starts fast. Each command's docstring is
its `--help`. Errors the user can cause print a message and what to do, and exit with the
error's code (2 for bad input); nothing is half-written.

The top layer: may import every other layer; nothing imports it.
"""

from __future__ import annotations

import gc
import importlib
import logging
import os
import sys
from typing import Any

import click

from tracker import __version__
from tracker.errors import TrackerError

# name -> "module:attribute"; the attribute is a click command or group.
COMMANDS: dict[str, str] = {
    "status": "tracker.cli.core:status",
    "history": "tracker.cli.core:history",
    "list": "tracker.cli.core:list_places",
    "record": "tracker.cli.record:record",
    "review": "tracker.cli.review:review",
    "pending": "tracker.cli.record:pending",
    "places": "tracker.cli.record:places",
    "coverage": "tracker.cli.coverage:coverage",
    "export": "tracker.cli.export:export",
    "config": "tracker.cli.ops:config",
    "sources": "tracker.cli.sources:sources",
    "check": "tracker.cli.watch:check",
    "changes": "tracker.cli.watch:changes",
    "diff": "tracker.cli.watch:diff",
    "subscribe": "tracker.cli.alerts:subscribe",
    "subscribers": "tracker.cli.alerts:subscribers",
    "unsubscribe": "tracker.cli.alerts:unsubscribe",
    "digest": "tracker.cli.alerts:digest",
    "webhooks": "tracker.cli.delivery:webhooks",
    "outbox": "tracker.cli.delivery:outbox",
    "serve": "tracker.cli.delivery:serve",
    "run": "tracker.cli.daemon:run",
    "doctor": "tracker.cli.daemon:doctor",
    "db": "tracker.cli.db:db",
}

# name -> the first sentence of its docstring, so that `tracker --help` lists the commands
# without importing them (tests/test_docs.py keeps this in step with the docstrings).
SUMMARIES: dict[str, str] = {
    "status": "Show the effective status of each PLACE (ISO code, OCD id, name or US ZIP code).",
    "history": "Show every record ever held for PLACE, oldest knowledge first.",
    "list": "List places with their effective status (all places by default).",
    "record": "Record that PLACE has STATUS from a date, with its citation and source.",
    "review": "List open review items (all, or of PLACE and the places under it), oldest first.",
    "pending": "List pending measures (bills, notices), for PLACE and the levels above it, or all.",
    "places": "Find places whose code, OCD id or name contains TEXT.",
    "coverage": "Count places by effective status and level, and list what needs review.",
    "export": "Export every place's status as json, csv, ndjson, shipping, atom or html.",
    "config": "Print the effective settings and where each came from (secrets masked).",
    "sources": "List watched official pages (all, or those of PLACE and the places under it).",
    "check": "Check SOURCE(s) now (all active sources by default), concurrently and politely.",
    "changes": "List detected page changes, newest first (for PLACE and the places under it).",
    "diff": "Show the diff of CHANGE (a number from `tracker changes`).",
    "subscribe": "Subscribe EMAIL to alerts (double opt-in: a confirmation mail is sent).",
    "subscribers": "List subscribers with their status, filters and cadence.",
    "unsubscribe": "Unsubscribe EMAIL and add it to the suppression list (nothing more is sent).",
    "digest": "Daily and weekly digests: preview one, send one now, or enqueue the due ones now.",
    "webhooks": "Webhook endpoints: Standard Webhooks v1 signed JSON POSTs of events.",
    "outbox": "Show undelivered messages (or dead ones), with counts by status.",
    "serve": "Serve the public web service alone (until Ctrl-C or SIGTERM): the status pages, "
    "the JSON API, ZIP look-up, feeds, the subscribe and preferences forms and the "
    "links in mail.",
    "run": "Run the daemon: check due sources, deliver alerts and digests, send reminders, "
    "apply snapshot retention and keep the exports current, until SIGTERM or Ctrl-C.",
    "doctor": "Check the settings, the database, mail (SMTP or the mail folder), the HTTP "
    "address, the exports folder and the reachability of every source host, each with"
    " a timeout.",
    "db": "The database schema: `current`, `upgrade`, `check`.",
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            summary = SUMMARIES.get(name)
            if summary is None:  # not listed yet: ask the command itself (imports it)
                command = self.get_command(ctx, name)
                summary = command.get_short_help_str(1000) if command else ""
            # A bare Command shortens the text exactly as click does for a loaded one.
            rows.append((name, click.Command(name, help=summary).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, attr = target.split(":")
        command = getattr(importlib.import_module(module), attr)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="tracker")
def cli() -> None:
    """Track the legal status of kratom in every jurisdiction, with citations and history.

    Settings come from defaults, then the TOML file ($TRACKER_CONFIG), then TRACKER_*
    environment variables; `tracker config` shows them.
    """


def _setup_logging() -> None:
    level = os.environ.get("TRACKER_LOG_LEVEL", "WARNING").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.WARNING), format="%(levelname)s %(name)s: %(message)s"
    )


def main(argv: list[str] | None = None) -> Any:
    """Entry point of the console script and `python -m tracker`.

    With `--json` anywhere on the command line, an error is a JSON document on standard
    error (`{schema, error: {message, hint, exit_code}}`), so a script reads it too."""
    _setup_logging()
    args = sys.argv[1:] if argv is None else argv
    as_json = "--json" in args
    try:
        return cli.main(args=argv, prog_name="tracker", standalone_mode=False)
    except TrackerError as err:
        _fail(str(err), err.hint, err.exit_code, as_json)
    except click.exceptions.Abort:
        _fail("aborted", "", 130, as_json)
    except click.ClickException as err:
        if as_json:
            _fail(err.format_message(), "Run the command with --help.", err.exit_code, True)
        err.show()
        sys.exit(err.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        known = _known_cause(exc)
        if known is not None:
            _fail(str(known), known.hint, known.exit_code, as_json)
        # A bug: one plain line, the traceback in the debug log.
        logging.getLogger("tracker").debug("internal error", exc_info=True)
        _fail(
            f"internal error: {exc!r}",
            "This is a bug. Run again with TRACKER_LOG_LEVEL=DEBUG to see the traceback, "
            "and report it.",
            1,
            as_json,
        )


def program() -> Any:
    """The `tracker` program (console script and `python -m tracker`): `main`, then the
    process ends.

    The database the command opened is closed first (on SQLite that folds the
    write-ahead log into the database file). Then everything still alive, which lives
    until the process ends anyway, is frozen: that spares the interpreter's last garbage
    collections at exit, which traverse every object (about 70,000 after `tracker
    status`, 150 ms of its 540 ms here). `main` itself does neither: a caller in a
    longer-lived process (the tests) keeps its database and collects as usual."""
    try:
        return main()
    finally:
        # Only if a command loaded it: importing it would load the storage layer, which
        # `tracker --help` never needs.
        context = sys.modules.get("tracker.cli.context")
        try:
            if context is not None:
                context.close()
        except Exception:  # the process ends anyway; SQLite keeps what the log holds
            logging.getLogger("tracker").debug("closing the database", exc_info=True)
        gc.freeze()


def _known_cause(exc: BaseException) -> TrackerError | None:
    """An error with a cause outside the program (the database file, the disk), raised
    where no storage code could name it (migrations, exports, mail files)."""
    import errno

    from tracker.errors import StorageError
    from tracker.storage.engine import classify

    try:
        from tracker.cli.context import settings

        url = settings().effective_database_url
        where = " " + (url[len("sqlite:///") :] if url.startswith("sqlite:///") else url)
        where = where if "@" not in where else ""  # never print credentials
    except Exception:
        where = ""
    for cause in (exc, exc.__cause__, exc.__context__):
        if cause is None:
            continue
        known = classify(cause, where)
        if known is not None:
            return known
        if isinstance(cause, OSError) and cause.errno == errno.ENOSPC:
            return StorageError(
                f"no space left on the disk: {cause.filename or cause}",
                "Free space on it, or move the data folder to a larger disk, then run it again.",
            )
        if isinstance(cause, OSError) and cause.errno in (errno.EROFS, errno.EACCES):
            return StorageError(
                f"cannot write {cause.filename or 'a file'}: {cause.strerror}",
                "Make the data folder writable for this user, or set TRACKER_DATA_DIR to a "
                "writable folder.",
            )
    return None


def _fail(message: str, hint: str, code: int, as_json: bool = False) -> None:
    if as_json:
        import json

        error = {"message": message, "hint": hint or None, "exit_code": code}
        click.echo(json.dumps({"schema": "tracker.cli/1", "error": error}), err=True)
        sys.exit(code)
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"  {hint}", err=True)
    sys.exit(code)
