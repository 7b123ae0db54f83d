"""A setting's declaration (`Setting`), shared by the section modules of `tracker.settings`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracker.valuecheck import Check


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    check: Check | None = None  # a range or a format: what is wrong with a value, or None

    @property
    def env(self) -> str:
        return "TRACKER_" + self.name.upper()


def default_data_dir() -> str:
    import platformdirs

    return platformdirs.user_data_dir("tracker", appauthor=False)
