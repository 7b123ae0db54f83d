"""One measured step of the load figures, in a fresh process (so its peak RSS is its own):

    python -m bench.faults.loaddriver cycle STATE      # `tracker check` over every source
    python -m bench.faults.loaddriver digests STATE    # `digest.enqueue_due` (all are due)
    python -m bench.faults.loaddriver deliver STATE N  # N dispatchers send every due row

Settings come from the environment (TRACKER_*) set by `bench.faults.load`; STATE is the
scratch folder (its `data/` holds the database and the sources file). Prints one JSON
line: seconds of the step (imports and opening the database excluded), what it did, and
`rss_mb`, the process's peak resident memory. `cycle` also times the outbox fan-out of
the events it writes (`fan_out_s`), the hot spot of a cycle with many changes.
"""

from __future__ import annotations

import itertools
import json
import resource
import sys
import threading
import time
from pathlib import Path
from typing import Any

from tracker.alerts import digest, fanout
from tracker.law.bootstrap import open_database
from tracker.settings import load_settings


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _watch_requests() -> list[tuple[str, float, float]]:
    """Log (host, start, end) of every request the fetcher makes. The start is taken
    before the request is sent and the end after the answer is read, so the gap between
    an end and the next start on a host is a lower bound of the gap on the wire."""
    from tracker.watch import fetch
    from tracker.watch.hosts import host_key

    log: list[tuple[str, float, float]] = []
    real = fetch.Fetcher.get

    def get(self: fetch.Fetcher, url: str, **kw: Any) -> fetch.Response:
        t0 = time.monotonic()
        try:
            return real(self, url, **kw)
        finally:
            log.append((host_key(url), t0, time.monotonic()))  # list.append is atomic

    fetch.Fetcher.get = get  # type: ignore[method-assign]
    return log


def politeness(log: list[tuple[str, float, float]]) -> dict[str, Any]:
    """Most requests open at once on one host, and the shortest gap on one host."""
    by_host: dict[str, list[tuple[float, float]]] = {}
    for host, t0, t1 in log:
        by_host.setdefault(host, []).append((t0, t1))
    most, gap = 0, float("inf")
    for spans in by_host.values():
        spans.sort()
        edges = sorted([(t0, 1) for t0, _ in spans] + [(t1, -1) for _, t1 in spans])
        level = 0
        for _, step in edges:
            level += step
            most = max(most, level)
        for (_, end), (start, _) in itertools.pairwise(spans):
            gap = min(gap, start - end)
    return {
        "inflight": most,
        "gap": None if gap == float("inf") else gap,
        "hosts": len(by_host),
        "requests": len(log),
    }


def cycle(state: Path) -> dict[str, Any]:
    from tracker.service.runtime import tune_for_checks
    from tracker.watch.cycle import run_cycle
    from tracker.watch.watcher import Watcher

    requests = _watch_requests()

    spent = [0.0]
    real = fanout.fan_out

    def timed(*args: Any, **kw: Any) -> int:
        t = time.perf_counter()
        try:
            return real(*args, **kw)
        finally:
            spent[0] += time.perf_counter() - t

    fanout.fan_out = timed  # type: ignore[assignment]
    settings = load_settings()
    db = open_database(settings)
    w = Watcher.from_settings(db, settings)
    tune_for_checks()
    root = state / "no-shipped-sources"  # only the local pages: there is no internet here
    root.mkdir(exist_ok=True)
    t0 = time.perf_counter()
    report = run_cycle(w, root, settings.data_path)
    seconds = time.perf_counter() - t0
    outcomes: dict[str, int] = {}
    for r in report.results:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    return {
        "seconds": seconds,
        "checks": len(report.results),
        "outcomes": outcomes,
        "fan_out_s": spent[0],
        "polite": politeness(requests),
    }


def digests(state: Path) -> dict[str, Any]:
    db = open_database(load_settings())
    t0 = time.perf_counter()
    enqueued = digest.enqueue_due(db)
    return {"seconds": time.perf_counter() - t0, "enqueued": enqueued}


def deliver(state: Path, threads: int) -> dict[str, Any]:
    from tracker.alerts.dispatch import Dispatcher

    settings = load_settings()
    db = open_database(settings)
    workers = [Dispatcher(db, settings, batch=50) for _ in range(threads)]
    stats: list[Any] = [None] * threads

    def run(n: int) -> None:
        stats[n] = workers[n].run()

    t0 = time.perf_counter()
    pool = [threading.Thread(target=run, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return {
        "seconds": time.perf_counter() - t0,
        "sent": sum(s.sent for s in stats),
        "retry": sum(s.retry for s in stats),
        "dead": sum(s.dead for s in stats),
    }


def main() -> None:
    mode, state = sys.argv[1], Path(sys.argv[2])
    if mode == "cycle":
        out = cycle(state)
    elif mode == "digests":
        out = digests(state)
    else:
        out = deliver(state, int(sys.argv[3]))
    print(json.dumps(out | {"rss_mb": round(_rss_mb(), 1)}), flush=True)


if __name__ == "__main__":
    main()
