"""Exports: the status in the formats people already use.

    export(db, "html", Path("status.html"))          # one format, written atomically
    export(db, "csv", sys.stdout, as_of=date(2026, 1, 1))
    regenerate_exports(db, folder)                   # every export, for the daemon

Formats live in a registry (`registry.formats()`), one short module each
(`fmt_*.py`); a format only formats a `Snapshot`, which is read in one transaction.
Files are replaced atomically (`files.atomic_write`), so a reader never sees half an
export and a failed export leaves the previous file as it was.

May import: `watch` (a successful check of an official page moves "last verified"
forward), `law`, `alerts`, `storage` and the root modules.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from tracker.errors import UsageError
from tracker.settings import Settings
from tracker.storage.engine import Database
from tracker.timeutil import utcnow
from tracker.vocab import SUBSTANCES, match

if TYPE_CHECKING:  # imported where used: `tracker.export.documents` (every --json) needs
    # none of them, and importing this package runs this module.
    from tracker.export.registry import Format
    from tracker.export.snapshot import Snapshot

logger = logging.getLogger(__name__)

__all__ = ["EXPORT_FILES", "export", "export_folder", "regenerate_exports"]

# What `regenerate_exports` writes for kratom: (format, file name). For another substance
# the file name gets `-<substance>` before its suffix: `status-7-oh.json`.
EXPORT_FILES: tuple[tuple[str, str], ...] = (
    ("json", "status.json"),
    ("ndjson", "status.ndjson"),
    ("csv", "status.csv"),
    ("shipping", "shipping.csv"),
    ("shipping", "shipping.json"),
    ("atom", "events.atom"),
    ("html", "status.html"),
)

_STALE_TEMP_SECONDS = 3600  # a temporary file this old was left by a crashed export


def export_folder(settings: Settings) -> Path:
    """The configured export folder: `export_dir`, else `<data_dir>/exports`."""
    configured = getattr(settings, "export_dir", "") or ""
    return Path(configured).expanduser() if configured else settings.data_path / "exports"


def _substance(value: str) -> str:
    try:
        return match(value, SUBSTANCES, "substance")
    except ValueError as exc:
        raise UsageError(str(exc), "Use --substance kratom or --substance 7-OH.") from None


def snapshot_for(
    db: Database,
    fmts: Sequence[Format],
    substance: str,
    as_of: date | None = None,
    now: datetime | None = None,
) -> Snapshot:
    """One snapshot with every part the given formats need. An explicit `as_of` is checked
    (not in the future, not before the earliest record); None means today."""
    from tracker.export.snapshot import build_snapshot, check_as_of

    now = now or utcnow()
    needs = set().union(*(f.needs for f in fmts))
    with db.read() as conn:
        if as_of is not None:
            check_as_of(conn, as_of, now.date())
        return build_snapshot(conn, substance, as_of or now.date(), needs=needs, now=now)


def export(
    db: Database,
    fmt: str,
    out: Path | TextIO,
    *,
    as_of: date | None = None,
    substance: str = "kratom",
    now: datetime | None = None,
    options: Mapping[str, str] | None = None,
) -> None:
    """Write format `fmt` to the file `out` (atomically) or to the stream `out`.

    `options` are the format's own choices (shipping: `unknown` = block | allow).
    Raises UsageError for an unknown format, substance or option, a bad `as_of` (see
    `snapshot.check_as_of`) or an output file that cannot be written.
    """
    from tracker.export.files import atomic_write
    from tracker.export.registry import get_format

    f = get_format(fmt)
    given = dict(options or {})
    for key in given:
        if key not in f.options:
            raise UsageError(
                f"--{key} does not apply to --format {f.name}",
                "Formats with options: "
                + ", ".join(f"{x.name} (--{', --'.join(x.options)})" for x in _with_options())
                + ".",
            )
    snap = snapshot_for(db, [f], _substance(substance), as_of, now)
    snap.options = given
    if isinstance(out, Path):
        atomic_write(out, _writer(f, snap, f.suffix_for(out.name)))
    else:
        f.write(snap, out, f.suffix_for(None))


def _with_options() -> list[Format]:
    from tracker.export.registry import formats

    return [f for f in formats().values() if f.options]


def _writer(f: Format, snap: Snapshot, suffix: str) -> Callable[[TextIO], None]:
    def write(stream: TextIO) -> None:
        f.write(snap, stream, suffix)

    return write


def _name_for(name: str, substance: str) -> str:
    if substance == "kratom":
        return name
    stem, dot, suffix = name.rpartition(".")
    return f"{stem}-{substance.lower()}{dot}{suffix}"


def regenerate_exports(
    db: Database,
    folder: Path,
    *,
    substances: Sequence[str] = SUBSTANCES,
    now: datetime | None = None,
) -> list[Path]:
    """Write every export of `EXPORT_FILES`, for each substance, into `folder` (created
    if missing), each file atomically; returns the paths written. Today's status as known
    now; one snapshot per substance, so the files of one substance agree. Meant to be
    called after each change (the daemon does); raises UsageError if `folder` cannot be
    written."""
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(
            f"cannot create the export folder {folder}: {exc.strerror}",
            "Set export_dir (TRACKER_EXPORT_DIR) to a folder you can write to.",
        ) from None
    from tracker.export.registry import get_format

    _remove_stale_temps(folder)
    fmts = {name: get_format(name) for name, _ in EXPORT_FILES}
    written: list[Path] = []
    from tracker.export.files import atomic_write

    for substance in substances:
        snap = snapshot_for(db, list(fmts.values()), _substance(substance), now=now)
        for name, filename in EXPORT_FILES:
            f, path = fmts[name], folder / _name_for(filename, snap.substance)
            written.append(atomic_write(path, _writer(f, snap, f.suffix_for(path.name))))
    logger.info("exports regenerated in %s: %d files", folder, len(written))
    return written


def _remove_stale_temps(folder: Path) -> None:
    cutoff = time.time() - _STALE_TEMP_SECONDS
    for tmp in folder.glob(".*.tmp"):
        try:
            if tmp.stat().st_mtime < cutoff:
                tmp.unlink()
        except OSError:  # removed by a concurrent run, or not ours to remove
            continue
