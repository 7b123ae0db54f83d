"""The tables `python -m bench.faults` prints (Markdown, ready for bench/RESULTS.md)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.faults.common import Result


def _row(cells: Sequence[Any]) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def table(results: list[Result]) -> str:
    lines = [
        _row(
            [
                "scenario",
                "events expected",
                "events recorded",
                "messages expected",
                "delivered",
                "duplicates",
                "crash window allows",
                "lost",
                "history",
                "time",
            ]
        ),
        _row(["---"] * 10),
    ]
    notes = []
    for r in results:
        history = "intact" if not r.problems else "**" + "; ".join(r.problems[:3]) + "**"
        lines.append(
            _row(
                [
                    r.scenario,
                    r.events_expected,
                    r.events_recorded,
                    r.expected,
                    r.delivered,
                    r.duplicates,
                    r.window,
                    r.lost if r.lost == 0 else f"**{r.lost}**",
                    history,
                    f"{r.seconds:.0f} s",
                ]
            )
        )
        if r.notes:
            notes.append(f"- {r.scenario}: {r.notes.strip()}")
    return "\n".join(lines + (["", *notes] if notes else []))


def load_table(figures: list[Any]) -> str:
    lines = [
        _row(["load", "work", "time", "rate", "peak RSS", "politeness", "result"]),
        _row(["---"] * 7),
    ]
    notes = []
    for f in figures:
        lines.append(
            _row(
                [
                    f.name,
                    f.work,
                    f"{f.seconds:.1f} s",
                    f.rate,
                    f"{f.rss_mb:.0f} MB",
                    f.polite,
                    "ok" if f.ok else "**" + "; ".join(f.problems) + "**",
                ]
            )
        )
        if f.notes:
            notes.append(f"- {f.name}: {f.notes}")
    return "\n".join(lines + (["", *notes] if notes else []))
