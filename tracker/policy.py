"""The process-wide scheduling policy of sources: the shortest interval a source may ask
for (`min_every`) and the jitter fraction added to each next check time
(`check_jitter`). Set once at start from settings (`tracker.daemon_config.apply_policy`,
called by every CLI command and by the daemon); read by `tracker.sources` when it
validates an interval and when it computes a next check time.

Kept in this small module, with no heavy import, so that loading settings stays cheap
for commands that never look at sources.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

MIN_EVERY = timedelta(minutes=1)
_EVERY_RE = re.compile(r"^(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$")


@dataclass(frozen=True)
class Policy:
    min_every: timedelta = MIN_EVERY
    jitter: float = 0.0  # fraction of the interval; cron sources keep their exact times


_policy = Policy()


def current() -> Policy:
    return _policy


def configure(*, min_every: timedelta | None = None, jitter: float | None = None) -> Policy:
    """Replace the given parts of the policy; returns the policy now in force."""
    global _policy
    _policy = Policy(
        _policy.min_every if min_every is None else min_every,
        _policy.jitter if jitter is None else max(0.0, jitter),
    )
    return _policy


def interval(text: str) -> timedelta:
    """`6h`, `30m`, `1d`, `2h30m`, `90s` -> a positive timedelta. Raises ValueError."""
    m = _EVERY_RE.match(text.strip().lower())
    if not m or not any(m.groups()):
        raise ValueError(f"invalid interval {text!r}; use forms like 30m, 6h, 1d, 2h30m")
    d, h, mi, s = (int(x or 0) for x in m.groups())
    try:
        every = timedelta(days=d, hours=h, minutes=mi, seconds=s)
    except OverflowError:  # more days than a timedelta holds (about 2.7 million years)
        raise ValueError(f"interval {text!r} is too long") from None
    if every <= timedelta(0):
        raise ValueError(f"interval {text!r} must be longer than zero")
    return every
