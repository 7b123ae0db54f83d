"""The process-wide scheduling policy of sources: the shortest interval a source may ask
for (`min_every`), the jitter fraction added to each next check time (`check_jitter`),
and whether the shipped sources are watched at all (`shipped_sources`). Set once at start
from settings (`tracker.service.daemon_config.apply_policy`, called by every CLI command
and by the daemon); read by `tracker.watch.sources` when it validates an interval, when
it computes a next check time and when it lists the source files.

Kept in this small module, with no heavy import, so that loading settings stays cheap
for commands that never look at sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

MIN_EVERY = timedelta(minutes=1)


@dataclass(frozen=True)
class Policy:
    min_every: timedelta = MIN_EVERY
    jitter: float = 0.0  # fraction of the interval; cron sources keep their exact times
    shipped: bool = True  # False: only the operator's own sources file (staging, tests)


_policy = Policy()


def current() -> Policy:
    return _policy


def configure(
    *,
    min_every: timedelta | None = None,
    jitter: float | None = None,
    shipped: bool | None = None,
) -> Policy:
    """Replace the given parts of the policy; returns the policy now in force."""
    global _policy
    _policy = Policy(
        _policy.min_every if min_every is None else min_every,
        _policy.jitter if jitter is None else max(0.0, jitter),
        _policy.shipped if shipped is None else shipped,
    )
    return _policy
