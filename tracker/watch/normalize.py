"""Normalization: from extracted text to the stable lines whose digest decides "changed".

Steps, in order: Unicode NFC; every run of whitespace (including no-break and zero-width
spaces) becomes one space; ignore patterns and masks are applied to each line; lines are
stripped and empty ones dropped.

- An **ignore pattern** (a regex from the source's `ignore:` list) removes what it matches,
  which may be part of a line ("Page generated in 0.12 s"), never more than that line.
- A **mask** (named, from `MASKS`, listed in the source's `masks:`) replaces a volatile
  value by a placeholder such as `‹date›`, so the line stays readable in diffs.

Masks are opt-in per source: a date inside a statute can be the very change that matters.

Ignore patterns and masks run on Google's RE2 engine (google-re2), whose matching time is
linear in the text: with Python's backtracking engine the `tokens` mask took 9 s on one
40 kB line of a hostile page, and an operator's careless pattern could take forever.
RE2 has no lookaround and no backreferences: a pattern that needs them is refused when
the source is loaded, with a message saying so. Its digit, word, space and word-boundary
classes are ASCII-only.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import re2

_MONTHS = (
    r"(?:Jan(?:uary)?|Feb(?:ruary)?|Mar(?:ch)?|Apr(?:il)?|May|June?|July?|Aug(?:ust)?|"
    r"Sep(?:t(?:ember)?)?|Oct(?:ober)?|Nov(?:ember)?|Dec(?:ember)?)"
)

_DAY = r"(?:(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun)[a-z]*\.?,? )?"  # an optional weekday first

# name -> (placeholder, patterns). Patterns run on one line with single spaces; a group
# named `keep` is kept after the placeholder (RE2 has no lookahead).
MASKS: dict[str, tuple[str, tuple[str, ...]]] = {
    "dates": (
        "‹date›",
        (
            r"\b\d{4}-\d{2}-\d{2}"
            r"(?:[T ]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?)?",
            r"\b\d{1,2}/\d{1,2}/\d{2,4}\b",
            rf"\b{_DAY}{_MONTHS}\.? \d{{1,2}}(?:st|nd|rd|th)?,? \d{{4}}\b",
            rf"\b{_DAY}\d{{1,2}} {_MONTHS}\.? \d{{4}}\b",
        ),
    ),
    "times": (
        "‹time›",
        (r"\b\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?: ?[AaPp]\.?[Mm]\.?)?(?: ?[A-Z]{2,4}\b)?",),
    ),
    # A run of 16+ letters, digits, `_` and `-` with at least one digit and one letter
    # (`_MIXED` decides the second part: a run without both is left alone).
    "tokens": ("‹token›", (r"\b[A-Za-z0-9_-]{16,}\b",)),
    "counters": (
        "‹n›",
        (r"\b\d[\d,.]*(?P<keep> (?:views?|visits?|visitors?|hits?|downloads?|results?)\b)",),
    ),
}
_MIXED = re.compile(r"(?=.*\d)(?=.*[A-Za-z])")  # on one token of at most a line: bounded
_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # a refused pattern is reported to the operator, not logged


def _compile(pattern: str) -> Any:
    """An RE2 pattern. Raises ValueError naming what RE2 does not support."""
    try:
        return re2.compile(pattern, _OPTIONS)
    except re2.error as exc:
        why = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        hint = (
            " (lookaround and backreferences are not supported: patterns run in linear time)"
            if "perl operator" in why or "escape sequence" in why
            else ""
        )
        raise ValueError(f"invalid ignore pattern {pattern!r}: {why}{hint}") from None


def _mask(name: str, placeholder: str) -> Callable[[Any], str]:
    def replace(m: Any) -> str:
        if name == "tokens" and not _MIXED.match(m.group(0)):
            return str(m.group(0))
        keep = m.groupdict().get("keep")
        return placeholder + (keep or "")

    return replace


_SPACE = re.compile(r"\s+")
_ZERO_WIDTH_CHARS = "\u200b\u200c\u200d\u2060\ufeff"
_ZERO_WIDTH = re.compile(f"[{_ZERO_WIDTH_CHARS}]")


class Rules:
    """Compiled ignore patterns and masks of one source. Raises ValueError on a bad
    pattern or an unknown mask name (the source file check reports it)."""

    def __init__(self, ignore: Sequence[str] = (), masks: Sequence[str] = ()) -> None:
        self.subs: list[tuple[Any, str | Callable[[Any], str]]] = []
        for pattern in ignore:
            self.subs.append((_compile(pattern), ""))
        for name in masks:
            for known, (placeholder, patterns) in MASKS.items():
                if known == name:
                    self.subs += [(_compile(p), _mask(name, placeholder)) for p in patterns]
                    break
            else:
                raise ValueError(f"unknown mask {name!r}; known masks: {', '.join(MASKS)}")


def normalize(lines: Iterable[str], rules: Rules | None = None) -> list[str]:
    """The normalized, non-empty lines of `lines` (each may hold several text lines)."""
    out: list[str] = []
    subs = rules.subs if rules else []
    for chunk in lines:
        chunk = unicodedata.normalize("NFC", chunk)
        if any(z in chunk for z in _ZERO_WIDTH_CHARS):  # a scan in C beats a regex pass
            chunk = _ZERO_WIDTH.sub("", chunk)
        for raw in chunk.split("\n"):
            # str.split() knows every Unicode space, NBSP too. But printable text has no
            # whitespace other than the ASCII space (tabs, NBSP and the other Unicode
            # spaces are not printable), so without a double space only its ends can
            # change: two scans in C instead of splitting every word (0.17 -> 0.11 ms
            # on a 30 kB page).
            clean = "  " not in raw and raw.isprintable()
            line = raw.strip(" ") if clean else " ".join(raw.split())
            if line and subs:
                for pattern, replacement in subs:
                    line = pattern.sub(replacement, line)
                line = " ".join(line.split())
            if line:
                out.append(line)
    return out


def text_of(lines: Sequence[str]) -> str:
    return "\n".join(lines)


def digest(lines: Sequence[str]) -> str:
    """sha256 of the normalized text: the identity of a version and of its snapshot."""
    return hashlib.sha256(text_of(lines).encode("utf-8")).hexdigest()
