"""What the page-watching commands share."""

from __future__ import annotations

from datetime import datetime

OUTCOMES = (
    "changed",
    "baseline",
    "rebaselined",
    "unchanged",
    "not_modified",
    "reverted",
    "busy",
    "error",
)
OUTCOME_COLOURS = {"changed": "yellow", "error": "red", "baseline": "cyan", "reverted": "blue"}


def ts(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M") if value else "-"
