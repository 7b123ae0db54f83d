"""What the history commands share: options, time parsing and short renderings."""

from __future__ import annotations

import sys
from datetime import date, datetime
from typing import Any

import click

from tracker.errors import UsageError
from tracker.law.dates import parse_day, parse_instant
from tracker.timeutil import utcnow
from tracker.vocab import SUBSTANCES, match

# A row id as the database stores it (INTEGER: 32-bit on PostgreSQL): a larger number
# names nothing, and the drivers refuse it with an overflow rather than "not found".
MAX_ID = 2**31 - 1
ROW_ID = click.IntRange(1, MAX_ID)


def row_id(text: str, what: str, hint: str) -> int:
    """A row id from text such as `12` or `#12`. Raises UsageError."""
    digits = text.strip().lstrip("#")
    if not digits.isdigit() or not 1 <= int(digits) <= MAX_ID:
        raise UsageError(f"invalid {what} {text!r}", hint)
    return int(digits)


def check_substance(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return match(value, SUBSTANCES, "substance")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


substance_option = click.option(
    "--substance",
    default="kratom",
    show_default=True,
    callback=check_substance,
    help="kratom (leaf and alkaloids) or 7-OH (concentrated products).",
)
as_of_option = click.option(
    "--as-of",
    "as_of",
    metavar="DATE",
    help="Answer for this day (YYYY-MM-DD or 'today'; default today).",
)
known_at_option = click.option(
    "--known-at",
    "known_at",
    metavar="TIME",
    help="Answer with what was known at this time (YYYY-MM-DD = end of that day UTC, "
    "or YYYY-MM-DDTHH:MM[:SS][Z|+HH:MM]; default now).",
)


def times(as_of: str | None, known_at: str | None) -> tuple[date, datetime | None]:
    day = parse_day(as_of, option="--as-of") if as_of else utcnow().date()
    when = parse_instant(known_at, option="--known-at") if known_at else None
    if when is not None and when > utcnow():
        raise UsageError(
            f"--known-at {known_at} is in the future",
            "Knowledge time is when the tracker learned something; omit "
            "--known-at for what is known now.",
        )
    return day, when


def citation(record: dict[str, Any] | None) -> str:
    if not record:
        return "-"
    inst, src = record["instrument"], record["source"]
    if inst.get("citation"):
        return str(inst["citation"])
    if src.get("document"):
        title = src.get("title") or src["document"]
        return f"seed document: {title}"
    return "-"


# The mark of a record whose sources conflict or whose instrument was not confirmed in
# official text (`verify: true`), and of every record resting on a vendor or advocacy page.
UNVERIFIED = "unverified"


def tier_text(record: dict[str, Any] | None) -> str:
    """The source tier of a record, with the unverified mark when it has one."""
    if not record:
        return "-"
    tier = str(record["source"]["tier"])
    return f"{tier} · {UNVERIFIED}" if record["verify"] else tier


def span_text(record: dict[str, Any]) -> tuple[str, str]:
    """(from, until) of a record for a table; a claim of no period says so."""
    if record.get("no_period"):
        return "no period", "-"
    return record["valid_from"] or "unknown", record["valid_to"] or "-"


def short(text: str, width: int = 60) -> str:
    """`text` cut to `width` with an ellipsis, on a terminal only: piped into another
    program or a file, every cell stays whole (nothing a script reads is cut)."""
    if len(text) <= width or not sys.stdout.isatty():
        return text
    return text[: width - 1] + "…"
