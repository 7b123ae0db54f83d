"""Where the shipped data lives: `jurisdictions/` and `templates/`.

In a checkout (or an editable install) they sit beside the package; a wheel carries them
inside the package as `tracker/_data/`. Nothing here looks at the user's data directory;
that is `Settings.data_path`.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


@cache
def _root() -> Path:
    bundled = _PACKAGE / "_data"
    if (bundled / "jurisdictions").is_dir():
        return bundled
    return _PACKAGE.parent


def jurisdictions_dir() -> Path:
    return _root() / "jurisdictions"


def templates_dir() -> Path:
    return _root() / "templates"
