"""The diff of a roll call whose "Yea"/"Nay" lines all flip: before (difflib's
SequenceMatcher with autojunk=False, as `tracker/watch/diff.py` used it) and after
(`tracker.watch.diff.compare`: unique-line anchors, then diff-match-patch per gap).

    .venv/bin/python bench/diff_blowup.py [--limit 200]

Each "before" runs in a child process stopped after `--limit` seconds (it is cubic:
the 90,000-line page would take days). Target: the 3,000-line pair and the 90,000-line
pair diffed, with word highlights, well inside the diff's 5 s budget.
"""

from __future__ import annotations

import argparse
import difflib
import multiprocessing as mp
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # first: a site-packages `tests` must not shadow ours

from tests.support.hostile import roll_call  # noqa: E402
from tracker.watch.diff import compare  # noqa: E402


def _before(lines: int) -> None:
    old, new = roll_call(lines), roll_call(lines, flipped=True)
    matcher = difflib.SequenceMatcher(None, old, new, autojunk=False)
    list(matcher.get_grouped_opcodes(3))
    "\n".join(difflib.unified_diff(old, new, "before", "after", n=3, lineterm=""))


def before(lines: int, limit: float) -> str:
    child = mp.get_context("fork").Process(target=_before, args=(lines,))
    t0 = time.monotonic()
    child.start()
    child.join(limit)
    if child.is_alive():
        child.kill()
        child.join()
        return f"> {limit:.0f} s (stopped)"
    return f"{time.monotonic() - t0:.2f} s"


def after(lines: int) -> tuple[str, str]:
    old, new = roll_call(lines), roll_call(lines, flipped=True)
    t0 = time.monotonic()
    d = compare(old, new, max_bytes=10**9, seconds=60)
    took = time.monotonic() - t0
    shape = "too large" if d.too_large else f"+{len(d.added)} -{len(d.removed)}, word highlights"
    return f"{took:.3f} s", shape


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--limit", type=float, default=200.0, help="seconds for each 'before'")
    p.add_argument("--sizes", default="1200,3000,90000")
    args = p.parse_args()
    print("| lines | kB | before (difflib) | after | diff |")
    print("| --- | --- | --- | --- | --- |")
    for lines in (int(x) for x in args.sizes.split(",")):
        size = sum(len(x) + 1 for x in roll_call(lines)) / 1000
        took, shape = after(lines)
        print(f"| {lines:,} | {size:.0f} | {before(lines, args.limit)} | {took} | {shape} |")


if __name__ == "__main__":
    main()
