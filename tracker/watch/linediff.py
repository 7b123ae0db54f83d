"""Line alignment of two versions of a page, near-linear on repetitive pages.

`difflib.SequenceMatcher(autojunk=False)` is cubic on pages whose lines repeat: a
roll call whose "Yea"/"Nay" lines are swapped took 77 s at 3,000 lines, and a
90,000-line one never finished, holding its host the whole time. `align` works the way
patience and histogram diffs do:

1. lines that occur exactly once in each version are anchors; the longest run of
   anchors in the same order (a longest increasing subsequence, O(n log n)) is kept
   as equal lines: on most pages (statutes, bill pages, roll calls with names) that
   leaves only small gaps;
2. each gap between two anchors is diffed by diff-match-patch's Myers diff (C++) in
   line mode, every distinct line encoded as one character (its own "lines to chars"
   trick), under the time that is left;
3. when the time runs out, the gaps not yet diffed are taken as replaced whole: the
   result is still a correct diff, only not a minimal one, and `Alignment.complete` is
   False so the caller can record the change as too large to diff.

`Matcher` hands the result to `difflib` for the grouping into hunks, and `unified`
writes the unified diff of those hunks, so the stored format stays difflib's.
"""

from __future__ import annotations

import difflib
import time
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import fast_diff_match_patch

Opcode = tuple[str, int, int, int, int]
_FIRST = 0x10000  # encoded lines start past the BMP: no surrogates, no real text clash
_LAST = 0x10FFFF


@dataclass
class Alignment:
    blocks: list[tuple[int, int, int]]  # (i, j, n): old[i:i+n] == new[j:j+n]
    complete: bool  # False when the time ran out and some gaps were replaced whole


def _encode(old: Sequence[str], new: Sequence[str]) -> tuple[str, str] | None:
    vocab: dict[str, str] = {}
    if len(set(old) | set(new)) > _LAST - _FIRST:
        return None
    a = "".join([vocab.setdefault(x, chr(_FIRST + len(vocab))) for x in old])
    b = "".join([vocab.setdefault(x, chr(_FIRST + len(vocab))) for x in new])
    return a, b


def _anchors(a: str, b: str) -> list[tuple[int, int]]:
    """Lines unique in both versions, in the longest order they share (patience)."""
    count_a, count_b = Counter(a), Counter(b)
    where_b = {c: j for j, c in enumerate(b) if count_b[c] == 1}
    pairs = [(i, where_b[c]) for i, c in enumerate(a) if count_a[c] == 1 and c in where_b]
    # Longest increasing subsequence of the positions in `b` (pairs are sorted by `a`).
    tails: list[int] = []  # tails[k]: the smallest end of a run of length k + 1
    tail_at: list[int] = []  # index in `pairs` of that end
    before: list[int] = [-1] * len(pairs)
    for n, (_, j) in enumerate(pairs):
        k = bisect_left(tails, j)
        if k:
            before[n] = tail_at[k - 1]
        if k == len(tails):
            tails.append(j)
            tail_at.append(n)
        else:
            tails[k], tail_at[k] = j, n
    chain: list[tuple[int, int]] = []
    n = tail_at[-1] if tail_at else -1
    while n >= 0:
        chain.append(pairs[n])
        n = before[n]
    return chain[::-1]


def align(old: Sequence[str], new: Sequence[str], *, seconds: float) -> Alignment:
    """Matching blocks of `old` and `new`, found within about `seconds`."""
    encoded = _encode(old, new)
    if encoded is None:
        return Alignment([(len(old), len(new), 0)], complete=False)
    a, b = encoded
    deadline = time.monotonic() + seconds
    blocks: list[tuple[int, int, int]] = []
    complete = True

    def equal(i: int, j: int, n: int) -> None:
        if n <= 0:
            return
        if blocks and blocks[-1][0] + blocks[-1][2] == i and blocks[-1][1] + blocks[-1][2] == j:
            pi, pj, pn = blocks[-1]
            blocks[-1] = (pi, pj, pn + n)
        else:
            blocks.append((i, j, n))

    def gap(i1: int, i2: int, j1: int, j2: int) -> None:
        nonlocal complete
        if i1 == i2 or j1 == j2:
            return  # only deletions or only insertions: nothing to match
        left = deadline - time.monotonic()
        if left <= 0:
            complete = False
            return
        started = time.monotonic()
        ops = fast_diff_match_patch.diff(
            a[i1:i2], b[j1:j2], timelimit=left, checklines=False, cleanup="No"
        )
        if time.monotonic() - started >= left:
            complete = False  # diff-match-patch gave up: its answer is coarse
        i, j = i1, j1
        for op, length in ops:
            if op == "=":
                equal(i, j, length)
                i, j = i + length, j + length
            elif op == "-":
                i += length
            else:
                j += length

    i = j = 0
    for ai, bj in _anchors(a, b):
        gap(i, ai, j, bj)
        equal(ai, bj, 1)
        i, j = ai + 1, bj + 1
    gap(i, len(a), j, len(b))
    blocks.append((len(a), len(b), 0))
    return Alignment(blocks, complete)


class Matcher(difflib.SequenceMatcher):
    """A SequenceMatcher with given matching blocks: difflib does the opcodes and the
    grouping into hunks, nothing is matched again."""

    def __init__(self, blocks: list[tuple[int, int, int]]) -> None:
        # No super().__init__(): it would index the whole page for its own matching.
        self.matching_blocks = [difflib.Match(*x) for x in blocks]
        self.opcodes = None

    def get_matching_blocks(self) -> list[difflib.Match]:
        return list(self.matching_blocks)


def _range(start: int, stop: int) -> str:
    """A unified diff range: `start,length` counted from one (`start` alone for one line)."""
    length = stop - start
    if length == 1:
        return str(start + 1)
    return f"{start if not length else start + 1},{length}"


def unified(
    old: Sequence[str],
    new: Sequence[str],
    groups: list[list[Opcode]],
    old_label: str,
    new_label: str,
) -> Iterator[str]:
    """The unified diff of the hunks `groups` (lines without line ends)."""
    if not groups:
        return
    yield f"--- {old_label}"
    yield f"+++ {new_label}"
    for group in groups:
        first, last = group[0], group[-1]
        yield f"@@ -{_range(first[1], last[2])} +{_range(first[3], last[4])} @@"
        for tag, i1, i2, j1, j2 in group:
            if tag == "equal":
                yield from (" " + x for x in old[i1:i2])
                continue
            if tag in ("replace", "delete"):
                yield from ("-" + x for x in old[i1:i2])
            if tag in ("replace", "insert"):
                yield from ("+" + x for x in new[j1:j2])
