"""The `tracker` command: a thin layer over the Python API.

Commands are loaded lazily (`COMMANDS` maps a name to `module:function`), so a command
imports only what it needs and `tracker status` starts fast. Each command's docstring is
its `--help`. Errors the user can cause print a message and what to do, and exit with the
error's code (2 for bad input); nothing is half-written.

The top layer: may import every other layer; nothing imports it.
"""

from __future__ import annotations

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
    "pending": "tracker.cli.record:pending",
    "places": "tracker.cli.record:places",
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
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

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
    """Entry point of the console script and `python -m tracker`."""
    _setup_logging()
    try:
        return cli.main(args=argv, prog_name="tracker", standalone_mode=False)
    except TrackerError as err:
        _fail(str(err), err.hint, err.exit_code)
    except click.exceptions.Abort:
        _fail("aborted", "", 130)
    except click.ClickException as err:
        err.show()
        sys.exit(err.exit_code)
    except BrokenPipeError:
        sys.exit(0)
    except Exception as exc:
        known = _known_cause(exc)
        if known is not None:
            _fail(str(known), known.hint, known.exit_code)
        # A bug: one plain line, the traceback in the debug log.
        logging.getLogger("tracker").debug("internal error", exc_info=True)
        _fail(
            f"internal error: {exc!r}",
            "This is a bug. Run again with TRACKER_LOG_LEVEL=DEBUG to see the traceback, "
            "and report it.",
            1,
        )


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


def _fail(message: str, hint: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    if hint:
        click.echo(f"  {hint}", err=True)
    sys.exit(code)
