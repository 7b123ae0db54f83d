"""Which record files a data folder holds, and the digest stored for each.

Kept apart from `recordfile` (parsing and validation) so that opening a database that is
already loaded (every command) digests the files without importing the parser.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

# Part of every file's digest: a change in how files are read (such as the seed rule)
# makes every file load again once; unchanged items are recognised by their own digests.
RULES = "2026-12: seed periods, checked dates, tier C, international"


# Keys of `data_file` rows that are record files (places and sources have their own).
RECORDS_PREFIX = "records/"


def record_files(root: Path) -> list[Path]:
    """Seed files first, then record files, each group by name."""
    files = sorted((root / "records").glob("*.yaml"))
    return sorted(files, key=lambda p: (0 if is_seed(p) else 1, p.name))


def is_seed(path: Path) -> bool:
    return path.name.startswith("seed")


def file_digest(path: Path) -> str:
    """The digest stored per file: its bytes and the loader's `RULES`."""
    return hashlib.sha256(RULES.encode() + b"\0" + path.read_bytes()).hexdigest()
