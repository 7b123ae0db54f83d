"""One cycle over many sources, concurrently but politely (`tracker check`).

`run_cycle(watcher, keys)`:
1. syncs the source files into the `source` table (bad entries become problems);
2. makes the chosen active sources due now and claims them with `tracker.storage.lease.claim`
   (a source another worker or the daemon is checking is reported busy, not checked
   twice);
3. groups them by host and runs one task per host on `workers` threads: the task claims
   the host (`tracker.watch.hosts`), then checks its sources one after another with
   `check.check_source`, spaced by the host's delay; a failure of one source never stops
   the others;
4. applies the snapshot retention rule.

Interrupted (Ctrl-C, or SIGTERM turned into KeyboardInterrupt by the CLI), the cycle
sets `watcher.stop`, cuts the fetches in progress (`netguard.abort_all`), waits for the
host tasks (they end at once: nothing is left to wait for), gives back every source and
host lease it holds, and raises `CycleInterrupted` with what was done: running it again
works at once, instead of finding the sources busy until their leases run out.

The daemon (`tracker.service.due_checks`) works on the sources that are due by themselves, the
other way round: it claims a host that has due sources first (`hosts.claim_due`), then
that host's due sources, and checks them with the same `check.check_source`; retention
is one of its singleton jobs (`tracker.service.jobs`).

`check_source` stores each result with a fenced update that also sets `next_check_at`
(from the source's interval or cron expression), so a source is due again by itself.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tracker import netguard
from tracker.errors import UsageError
from tracker.storage import lease
from tracker.storage.tables_watch import HOST, SOURCE
from tracker.timeutil import utcnow
from tracker.watch import hosts, snapshots, sources
from tracker.watch.check import CheckResult, Interrupted, check_source, host_busy
from tracker.watch.watcher import Watcher

logger = logging.getLogger(__name__)
LEASE_FOR = timedelta(hours=1)


@dataclass
class CycleReport:
    results: list[CheckResult] = field(default_factory=list)
    busy: list[str] = field(default_factory=list)  # keys another worker was checking
    problems: list[sources.Problem] = field(default_factory=list)
    pruned: int = 0

    def count(self, outcome: str) -> int:
        return sum(1 for r in self.results if r.outcome == outcome)


class CycleInterrupted(Exception):
    """The cycle was interrupted; `report` holds the checks finished before, and every
    lease was given back."""

    def __init__(self, report: CycleReport) -> None:
        super().__init__("interrupted")
        self.report = report


def select(conn: Any, keys: Sequence[str]) -> list[Any]:
    """Active sources named by key or numeric id (all when `keys` is empty)."""
    rows = list(conn.execute(sa.select(SOURCE).where(SOURCE.c.active).order_by(SOURCE.c.key)))
    if not keys:
        return rows
    by_key = {r.key: r for r in rows} | {str(r.id): r for r in rows}
    missing = [k for k in keys if k not in by_key]
    if missing:
        raise UsageError(
            f"unknown source(s): {', '.join(missing)}",
            "`tracker sources` lists every source with its key.",
        )
    return list({by_key[k].id: by_key[k] for k in keys}.values())


def check_host(
    w: Watcher,
    host: str,
    rows: Sequence[Any],
    on_result: Callable[[CheckResult], None] | None = None,
) -> list[CheckResult]:
    """Check claimed `rows` (all on `host`) one after another under one host lease."""
    slot = hosts.acquire(w.db, host, w.owner, delay=w.config.host_delay)
    results = []
    try:
        for row in rows:
            if w.stop.is_set():
                break  # interrupted: the sources not started stay leased until released
            try:
                result = check_source(w, row, slot=slot) if slot else host_busy(w, row)
            except Interrupted:
                break
            results.append(result)
            if on_result:
                on_result(result)
    finally:
        if slot is not None:
            hosts.release(slot)
    return results


def run_cycle(
    w: Watcher,
    root: Path,
    data_dir: Path,
    keys: Sequence[str] = (),
    *,
    on_result: Callable[[CheckResult], None] | None = None,
    on_start: Callable[[int], None] | None = None,
) -> CycleReport:
    """Check the chosen sources now; see the module docstring."""
    report = CycleReport()
    report.problems = sources.sync(w.db, root, data_dir).problems
    now = utcnow()
    with w.db.read() as conn:
        # Only ids and keys are kept: 1,000 rows with their specs hold 4.5 MB, and the
        # claim below returns the rows again.
        chosen = [(r.id, r.key) for r in select(conn, keys)]
    ids = [i for i, _ in chosen]
    if ids:
        with w.db.write() as conn:
            conn.execute(
                SOURCE.update()
                .where(SOURCE.c.id.in_(ids), SOURCE.c.next_check_at > now)
                .values(next_check_at=now)
            )
    claimed = lease.claim(
        w.db,
        SOURCE,
        w.owner,
        lease_for=LEASE_FOR,
        limit=max(len(ids), 1),
        now=now,
        due_column="next_check_at",
        where=[SOURCE.c.id.in_(ids)],
        order_by=[SOURCE.c.key],
    )
    got = {r.id for r in claimed}
    report.busy = [key for i, key in chosen if i not in got]
    if on_start:
        on_start(len(claimed))
    by_host: dict[str, list[Any]] = defaultdict(list)
    for row in claimed:
        by_host[row.host].append(row)
    del claimed  # a row with its spec is 4.5 kB: let each host task hold its own rows
    hosts.ensure(w.db, by_host, now)  # new hosts' rows in one transaction, not one each
    workers = max(1, min(w.config.workers, len(by_host)))
    futures: list[Future[list[CheckResult]]] = []
    pool = ThreadPoolExecutor(workers, thread_name_prefix="check")
    collected: set[Future[list[CheckResult]]] = set()  # results already in the report
    try:
        for host in list(by_host):  # popped: a task's rows go when the task ends
            futures.append(pool.submit(check_host, w, host, by_host.pop(host), on_result))
        for future in as_completed(futures):
            report.results += future.result()
            collected.add(future)
    except BaseException as exc:
        # Interrupted (Ctrl-C, SIGTERM) or the database went away: stop the checks in
        # progress now, then give the leases back at once rather than leave the sources
        # and hosts blocked until the leases expire.
        w.stop.set()
        netguard.abort_all()
        for future in futures:
            future.cancel()
        pool.shutdown(wait=True)
        for future in futures:
            ended = future.done() and not future.cancelled() and future.exception() is None
            if ended and future not in collected:
                report.results += future.result()
        lease.release(w.db, SOURCE, w.owner)
        lease.release(w.db, HOST, w.owner)
        if isinstance(exc, KeyboardInterrupt):
            report.results.sort(key=lambda r: r.key)
            raise CycleInterrupted(report) from None
        raise
    pool.shutdown()
    report.results.sort(key=lambda r: r.key)
    report.pruned = snapshots.prune(
        w.db,
        keep_versions=w.config.snapshot_keep,
        keep_days=w.config.snapshot_keep_days,
        now=utcnow(),
    )
    return report
