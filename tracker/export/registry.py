"""The export formats: a small registry keyed by format name.

A format is one function in one short module, registered with `@register`:

    @register("csv", suffixes=(".csv",))
    def write_csv(snapshot: Snapshot, out: TextIO, suffix: str) -> None:
        '''One row per place ...'''   # the first line is the help text

Contract of a writer: it writes the whole export for `snapshot` to `out` (a text stream
opened with `newline=""`, so a writer chooses its own line endings) and nothing else; it
reads nothing from the database (everything it needs is in the snapshot, built in one read
transaction) and it may raise, in which case the caller discards what was written.
`suffixes` are the file suffixes the format writes, the default first; a format with
several (shipping: `.csv` and `.json`) is told which one was chosen in `suffix`.
`needs` names the optional parts of the snapshot it reads (`history`, `events`);
`options` names the per-export choices it reads from `snapshot.options` (shipping:
`unknown`), so an option given to a format that has none is refused, not ignored.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TextIO

from tracker.errors import UsageError

if TYPE_CHECKING:
    from tracker.export.snapshot import Snapshot

Writer = Callable[["Snapshot", TextIO, str], None]

# The modules that register formats; imported on first use of the registry.
_MODULES = ("fmt_json", "fmt_ndjson", "fmt_csv", "fmt_shipping", "fmt_atom", "fmt_html")


@dataclass(frozen=True)
class Format:
    name: str
    help: str
    write: Writer
    suffixes: tuple[str, ...]
    needs: frozenset[str]
    options: tuple[str, ...] = ()

    def suffix_for(self, filename: str | None) -> str:
        """The variant for an output file name: its suffix when the format writes that
        suffix, else the default (also for standard output)."""
        if filename:
            lowered = filename.lower()
            for suffix in self.suffixes:
                if lowered.endswith(suffix):
                    return suffix
        return self.suffixes[0]


_FORMATS: dict[str, Format] = {}


def register(
    name: str,
    *,
    suffixes: tuple[str, ...],
    needs: tuple[str, ...] = (),
    options: tuple[str, ...] = (),
) -> Callable[[Writer], Writer]:
    """Register the decorated writer as format `name`; its first docstring line is the help."""

    def wrap(fn: Writer) -> Writer:
        if name in _FORMATS:
            raise ValueError(f"export format {name!r} registered twice")
        help_text = (fn.__doc__ or "").strip().splitlines()[0] if fn.__doc__ else ""
        _FORMATS[name] = Format(name, help_text, fn, suffixes, frozenset(needs), options)
        return fn

    return wrap


def formats() -> dict[str, Format]:
    """Every registered format by name, in the order of `_MODULES` (others after)."""
    for module in _MODULES:
        importlib.import_module(f"tracker.export.{module}")

    def rank(f: Format) -> int:
        module = f.write.__module__.rsplit(".", 1)[-1]
        return _MODULES.index(module) if module in _MODULES else len(_MODULES)

    return {f.name: f for f in sorted(_FORMATS.values(), key=rank)}


def get_format(name: str) -> Format:
    """The format called `name` (case-insensitive). Raises UsageError naming the formats."""
    known = formats()
    wanted = name.strip().lower()
    for fmt in known.values():
        if fmt.name == wanted:
            return fmt
    else:
        raise UsageError(
            f"unknown export format: {name!r}",
            "Accepted formats: " + ", ".join(known) + ".",
        )
