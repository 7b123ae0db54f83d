"""Waiting for a condition that another process or thread brings about.

A deadline, never a sleep-and-hope: the condition is polled until it holds, and the
deadline is generous because these tests must pass on a busy machine (two cores shared
with other work). Reaching the deadline fails the test, naming what did not happen.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

DEADLINE = 120.0


def wait_for(what: str, predicate: Callable[[], Any], timeout: float = DEADLINE) -> Any:
    """Poll `predicate` every 0.1 s until it returns something true (returned), or fail."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
