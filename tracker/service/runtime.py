"""Process-wide settings for a process that runs many checks. `tracker check` calls
`tune_for_checks()`, the daemon `tune_for_checks(long_running=True)`, once, after
start-up and before their worker threads.

- The garbage collector: the objects created at start-up (modules, classes, SQLAlchemy's
  and pydantic's tables of types) live as long as the process, yet every full
  collection walks them again (about 80 ms once per first-sight cycle of 1,000 pages).
  `gc.freeze()` leaves them out of future collections; reference counting still frees
  them, only cyclic garbage among them would stay.
- glibc malloc arenas, for a long-running process only: glibc gives each thread that
  meets a locked arena a new one, up to eight per core, and memory freed in one arena is
  not reused by another, so a daemon's resident memory creeps up. Two arenas kept 3-7 MB
  less resident at the end of a watch cycle of 1,000 pages with ten workers, but the
  threads then wait for each other's allocations: cycles that parse pages ran 5-11%
  slower (`bench/watch_cycle.py`, 2026-11-21). A daemon runs for months and checks a
  page now and then, so it takes the memory; a one-shot `tracker check` exits and takes
  the speed. Elsewhere than glibc this is a no-op.
"""

from __future__ import annotations

import ctypes
import gc
import logging

logger = logging.getLogger(__name__)

MALLOC_ARENAS = 2
_M_ARENA_MAX = -8  # glibc's <malloc.h>
_tuned = False


def tune_for_checks(*, long_running: bool = False) -> None:
    """Apply the settings above (once per process; later calls do nothing)."""
    global _tuned
    if _tuned:
        return
    _tuned = True
    if long_running:
        limit_malloc_arenas(MALLOC_ARENAS)
    gc.freeze()


def limit_malloc_arenas(count: int) -> bool:
    """Cap glibc's malloc arenas for threads started from now on. False when the C
    library has no `mallopt` (not glibc) or refuses."""
    try:
        mallopt = ctypes.CDLL(None).mallopt  # the C library the interpreter runs on
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    ok = bool(mallopt(_M_ARENA_MAX, count))
    if not ok:
        logger.debug("mallopt(M_ARENA_MAX, %d) refused", count)
    return ok
