"""Diffs between two versions of a page: unified text diff, HTML diff, kratom keywords.

- `unified`: a unified diff (difflib's format) over normalized lines, stored per change,
  used in text mail and `tracker diff`. The lines are aligned by `tracker.watch.linediff`
  (unique-line anchors, then a Myers diff per gap), whose cost stays near-linear on
  repetitive pages where difflib's matcher is cubic.
- `html`: the changed hunks with context; inside a replaced block the words that changed
  are marked with `<del>`/`<ins>` (fast-diff-match-patch, semantic clean-up). Every piece
  of page text goes through `html.escape`: a page can never inject markup into a mail or
  a web view.
- Work is bounded: above `max_bytes` of text (both versions together), or when the lines
  cannot be aligned within `seconds`, no diff is stored: the change is recorded as too
  large, with both snapshots, and the changed lines are found by a set difference
  (linear), enough to decide importance. A replaced block above `WORDS_MAX` characters,
  or one reached when the time is up, is shown line by line without word highlights.

Importance: `relevant` when an added or removed line names a kratom term (DOMAIN.md:
kratom, Mitragyna, mitragynine, 7-hydroxymitragynine, 7-OH, ketum) or one of the source's
own keywords; otherwise `minor`.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from tracker.watch.linediff import Matcher, Opcode, align, unified

KRATOM_TERMS: tuple[str, ...] = (
    "kratom",
    "Mitragyna",
    "mitragynine",
    "7-hydroxymitragynine",
    "7-OH",
    "ketum",
)
CONTEXT = 3
SECONDS = 5.0  # default time to align the lines of one change
WORDS_MAX = 200_000  # characters of a replaced block (both sides) given word highlights


@dataclass
class Diff:
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unified: str | None = None
    html: str | None = None
    too_large: bool = False

    def excerpt(self, max_lines: int = 20) -> str:
        """The first lines of the unified diff (or of the changed lines when too large)."""
        if self.unified is not None:
            lines = self.unified.splitlines()
        else:
            lines = [f"-{x}" for x in self.removed] + [f"+{x}" for x in self.added]
        more = len(lines) - max_lines
        return "\n".join(lines[:max_lines]) + (f"\n… {more} more lines" if more > 0 else "")


@lru_cache(maxsize=256)
def _term_pattern(terms: tuple[str, ...]) -> re.Pattern[str]:
    alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True))
    return re.compile(rf"(?<![\w-])(?:{alternatives})(?![\w])", re.I)


def keywords_in(lines: Sequence[str], extra: Sequence[str] = ()) -> list[str]:
    """The terms (canonical spelling, in `KRATOM_TERMS` then `extra` order) named in lines."""
    terms = tuple(dict.fromkeys((*KRATOM_TERMS, *extra)))
    found = {m.group(0).lower() for line in lines for m in _term_pattern(terms).finditer(line)}
    return [t for t in terms if t.lower() in found]


def _too_large(old: Sequence[str], new: Sequence[str]) -> Diff:
    old_set, new_set = set(old), set(new)
    return Diff(
        added=[x for x in new if x not in old_set],
        removed=[x for x in old if x not in new_set],
        too_large=True,
    )


def compare(
    old: Sequence[str],
    new: Sequence[str],
    *,
    max_bytes: int,
    old_label: str = "before",
    new_label: str = "after",
    seconds: float = SECONDS,
) -> Diff:
    """The diff from `old` to `new` (normalized lines), computed in about `seconds`."""
    size = sum(len(x) + 1 for x in old) + sum(len(x) + 1 for x in new)
    if size > max_bytes:
        return _too_large(old, new)
    deadline = time.monotonic() + seconds
    alignment = align(old, new, seconds=seconds)
    if not alignment.complete:
        return _too_large(old, new)
    groups: Opcodes = list(Matcher(alignment.blocks).get_grouped_opcodes(CONTEXT))
    d = Diff()
    for group in groups:
        for tag, i1, i2, j1, j2 in group:
            if tag in ("delete", "replace"):
                d.removed += old[i1:i2]
            if tag in ("insert", "replace"):
                d.added += new[j1:j2]
    d.unified = "\n".join(unified(old, new, groups, old_label, new_label))
    d.html = _html(old, new, groups, deadline)
    return d


_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")


def _encode(text: str, vocab: dict[str, str], words: list[str]) -> str:
    """Each distinct word (or space run, or punctuation mark) becomes one character, so
    the character diff below is a word diff (the diff-match-patch "lines to chars" trick)."""
    out = []
    for token in _TOKEN.findall(text):
        code = vocab.get(token)
        if code is None:
            if len(words) >= 0x1FFFE:  # both private-use planes used up: diff characters
                raise OverflowError
            code = vocab[token] = chr(0xF0000 + len(words))  # a private-use plane
            words.append(token)
        out.append(code)
    return "".join(out)


def _words(old: str, new: str, seconds: float) -> list[str]:
    """Lines of a replaced block with changed words marked; tags never span lines."""
    import fast_diff_match_patch

    vocab: dict[str, str] = {}
    words: list[str] = []
    try:
        a, b = _encode(old, vocab, words), _encode(new, vocab, words)
    except OverflowError:
        a, b, words = old, new, []
    lines: list[str] = [""]
    ops = fast_diff_match_patch.diff(
        a, b, counts_only=False, cleanup="Semantic", timelimit=max(seconds, 0.001)
    )
    for op, codes in ops:
        text = "".join(words[ord(c) - 0xF0000] for c in codes) if words else codes
        for n, piece in enumerate(text.split("\n")):
            if n:
                lines.append("")
            if not piece:
                continue
            safe = html.escape(piece)
            lines[-1] += (
                safe if op == "=" else f"<del>{safe}</del>" if op == "-" else f"<ins>{safe}</ins>"
            )
    return lines


Opcodes = list[list[Opcode]]


def _html(old: Sequence[str], new: Sequence[str], groups: Opcodes, deadline: float) -> str:
    out = ['<div class="diff">']
    for n, group in enumerate(groups):
        if n:
            out.append('<div class="gap">…</div>')
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                out += [f'<div class="same">{html.escape(x)}</div>' for x in old[i1:i2]]
            elif tag == "delete":
                out += [f'<div class="del"><del>{html.escape(x)}</del></div>' for x in old[i1:i2]]
            elif tag == "insert":
                out += [f'<div class="ins"><ins>{html.escape(x)}</ins></div>' for x in new[j1:j2]]
            else:
                before, after = "\n".join(old[i1:i2]), "\n".join(new[j1:j2])
                left = deadline - time.monotonic()
                if left > 0 and len(before) + len(after) <= WORDS_MAX:
                    words = _words(before, after, left)
                    out += [f'<div class="chg">{line}</div>' for line in words]
                else:  # over the work budget: the lines, without word highlights
                    out += [
                        f'<div class="del"><del>{html.escape(x)}</del></div>' for x in old[i1:i2]
                    ]
                    out += [
                        f'<div class="ins"><ins>{html.escape(x)}</ins></div>' for x in new[j1:j2]
                    ]
    out.append("</div>")
    return "\n".join(out)


def too_large_html(old_link: str, new_link: str) -> str:
    """The HTML shown for a change too large to diff: links to both snapshots."""
    return (
        '<div class="diff too-large"><p>This page changed, but it is too large to show a '
        f'diff.</p><p><a href="{html.escape(old_link)}">before</a> · '
        f'<a href="{html.escape(new_link)}">after</a></p></div>'
    )
