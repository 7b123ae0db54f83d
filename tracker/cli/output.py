"""Terminal output: aligned tables, colour only on a terminal, and JSON."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Sequence
from typing import Any

import click

# Every --json document carries this; fields are only ever added within a version.
SCHEMA = "tracker.cli/1"
json_option = click.option("--json", "as_json", is_flag=True, help="Print JSON (see README).")

STATUS_COLOURS = {
    "banned": "red",
    "restricted": "magenta",
    "regulated": "yellow",
    "legal": "green",
    "unknown": "bright_black",
}


def use_colour() -> bool:
    return sys.stdout.isatty() and "NO_COLOR" not in os.environ


def paint(text: str, colour: str | None = None, *, bold: bool = False) -> str:
    if not use_colour() or (colour is None and not bold):
        return text
    return click.style(text, fg=colour, bold=bold)


def status_text(status: str, min_age: int | None = None) -> str:
    text = status + (f" {min_age}+" if min_age else "")
    return paint(text, STATUS_COLOURS.get(status))


def _visible_len(text: str) -> int:
    return len(click.unstyle(text))


def table(headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "") -> str:
    """Columns padded to their widest cell; styled text is measured without its codes."""
    cells = [list(headers), *[[str(c) for c in row] for row in rows]]
    widths = [max(_visible_len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, row in enumerate(cells):
        parts = [c + " " * (w - _visible_len(c)) for c, w in zip(row, widths, strict=True)]
        line = indent + "  ".join(parts).rstrip()
        lines.append(paint(line, bold=True) if n == 0 else line)
    return "\n".join(lines)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, ensure_ascii=False, default=str))
