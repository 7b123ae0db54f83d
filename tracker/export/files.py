"""Writing an export file atomically: a reader sees the old file or the new, never half.

The text goes to a temporary file in the same folder (same file system, so the rename is
atomic), which is flushed and fsynced, then `os.replace`d over the target; the folder is
fsynced so the rename survives a crash. On any error the temporary file is removed and
the previous export stays as it was.
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TextIO

from tracker.errors import UsageError

logger = logging.getLogger(__name__)

DEFAULT_MODE = 0o644  # exports are public documents, often served by a web server


def _unwritable(path: Path, exc: OSError) -> UsageError:
    reason = exc.strerror or exc.__class__.__name__
    return UsageError(
        f"cannot write {path}: {reason}",
        "Give -o a file in an existing folder you can write to (or set export_dir).",
    )


def atomic_write(path: Path, write: Callable[[TextIO], None]) -> Path:
    """Write `path` with `write(stream)` atomically (UTF-8, no newline translation).

    Raises UsageError when the folder does not exist or cannot be written, or `path` is
    a folder; whatever `write` raises propagates, with the previous file intact.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise UsageError(
            f"cannot write {path}: it is a folder", "Give -o a file name, e.g. status.html."
        )
    try:
        mode = stat.S_IMODE(path.stat().st_mode) if path.exists() else DEFAULT_MODE
        fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise _unwritable(path, exc) from None
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as stream:
            write(stream)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, OSError):
            raise _unwritable(path, exc) from None
        raise
    _fsync_folder(folder)
    logger.debug("wrote %s", path)
    return path


def _fsync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # some file systems refuse fsync on a folder; the rename still happened
        pass
    finally:
        os.close(fd)
