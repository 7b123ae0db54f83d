"""One check of one source: fetch -> extract -> normalize -> compare -> store.

`check_source(watcher, row)` is the single entry point; `tracker check` (through
`tracker.watch.cycle`) and the daemon both call it. The caller has claimed `row` with
`tracker.storage.lease.claim(db, SOURCE, owner, due_column="next_check_at", ...)`; every write
here is fenced on that lease, so a result whose lease was lost is dropped, never stored
twice. Pass the `HostSlot` the caller holds for the source's host; without one, the
check claims the host itself (and waits its turn). `observe` fetches, extracts and
normalizes (writing nothing); `tracker.watch.store` compares and stores.

Outcomes (`page_check.outcome`):
- `baseline`: first version seen (or the first after the source's extraction settings
  changed: `rebaselined`); stored, no event.
- `not_modified` (304), `unchanged` (same bytes, or same normalized text): no event.
- `reverted`: the text went back to a version seen in the last `flap_days` days: stored
  as current, no event (anti-flap).
- `changed`: a new version. The snapshot, the change (unified and HTML diff) and its
  `page_changed` event are written in one transaction; importance `relevant` when changed
  lines name a kratom term or a source keyword, else `minor`.
- `busy` (`host_busy`): another worker kept the host; the source is given back, due in
  a minute, not counted as a failure.
- `error`: fetch, robots, HTTP or extraction failed, or the check ran out of its budget.
  Nothing stored for the source is touched except its failure streak; after
  `failure_alert_after` failures in a row one `source_failing` event is written, and the
  next success clears the streak.

Budget: from the page request on (after the host's politeness wait and robots.txt,
each bounded on its own), fetch, extract, normalize and diff share `check_budget`
seconds. The fetch is cut when it runs out (`netguard.deadline`), extraction and
normalization are bounded by their caps and checked against it after, and the diff gets
what is left (past it the change is recorded as too large to diff). A check that ran out
is an error; the host is released either way.

Interruption: when `watcher.stop` is set (Ctrl-C or SIGTERM in `tracker check`), the
fetches in progress are cut (`netguard.abort_all`) and `check_source` raises
`Interrupted` without storing anything: the caller releases the leases.
"""

from __future__ import annotations

import hashlib
import logging
import time
from datetime import datetime, timedelta
from typing import Any

from tracker.errors import SourceError
from tracker.storage.lease import complete
from tracker.storage.tables_watch import SOURCE
from tracker.timeutil import utcnow
from tracker.watch import hosts
from tracker.watch.extract import Page, Selectors, extract
from tracker.watch.normalize import digest, normalize
from tracker.watch.sources import Spec, spec_from_json
from tracker.watch.store import LeaseLost, store, store_failure
from tracker.watch.watcher import CheckResult, Observation, Watcher

logger = logging.getLogger(__name__)


class Interrupted(Exception):
    """The watcher was told to stop during a check: nothing of it was stored."""


def _over_budget(seconds: float) -> SourceError:
    return SourceError(
        f"the check took longer than its budget of {seconds:g} s (check_budget)",
        "The page is too slow or too large to check: raise check_budget, or select a "
        "smaller region of the page.",
        stage="fetch",
    )


def observe(w: Watcher, spec: Spec, row: Any, slot: hosts.HostSlot | None) -> Observation:
    """Fetch, extract and normalize within the check's budget; writes nothing. Raises
    SourceError."""
    same_rules = row is not None and row.current_spec == spec.extraction_digest
    if slot is not None:
        robots = slot.allows(w.fetcher, spec.url)
    else:
        from tracker.watch.robots import fetch_robots

        robots = fetch_robots(w.fetcher, hosts.host_key(spec.url), utcnow())
    if not robots.allows(spec.url, w.fetcher.user_agent):
        raise SourceError(robots.why_not(), stage="robots")
    conditional = same_rules and row.current_sha is not None
    if slot is not None:
        slot.wait_turn()
    budget = w.config.check_budget
    deadline = time.monotonic() + budget
    try:
        resp = w.fetcher.get(
            spec.url,
            etag=row.etag if conditional else None,
            last_modified=row.last_modified if conditional else None,
            limit=budget,
        )
    except SourceError:
        if time.monotonic() >= deadline:
            raise _over_budget(budget) from None
        raise
    finally:
        if slot is not None:
            slot.done()
    obs = Observation(response=resp, deadline=deadline)
    if resp.status == 304:
        obs.outcome = "not_modified"
        return obs
    obs.body_sha = hashlib.sha256(resp.body).hexdigest()
    if conditional and obs.body_sha == row.body_sha:
        obs.outcome = "unchanged"  # identical bytes: no need to extract again
        return obs
    page = Page(resp.body, resp.media_type, resp.charset, resp.url)
    raw = extract(spec.kind, page, Selectors(spec.select, spec.exclude, spec.keep_furniture))
    obs.raw_lines = raw
    obs.lines = normalize(raw, spec.rules)
    if not obs.lines:
        raise SourceError("nothing left after ignore patterns and masks", stage="extract")
    if time.monotonic() > deadline:
        raise _over_budget(budget)
    obs.sha = digest(obs.lines)
    return obs


def check_source(
    w: Watcher, row: Any, *, slot: hosts.HostSlot | None = None, now: datetime | None = None
) -> CheckResult:
    """Check one claimed source and store the result (see the module docstring)."""
    started = now or utcnow()
    t0 = time.monotonic()
    spec = spec_from_json(row.spec)
    own = slot is None
    if own:
        slot = hosts.acquire(w.db, row.host, w.owner, delay=w.config.host_delay)
    result = CheckResult(row.id, row.key, row.place_code, "error")
    try:
        if slot is None:
            raise SourceError(f"host {row.host} stayed busy (another worker has it)", stage="fetch")
        obs = observe(w, spec, row, slot)
    except SourceError as err:
        obs, result.error, result.status_code = None, str(err), err.status
        error = err
    except Exception as exc:  # a bug must not stop the cycle or lose data
        logger.exception("check of %s failed unexpectedly", row.key)
        obs, error = None, SourceError(f"internal error: {exc!r}", stage="internal")
        result.error = str(error)
    finally:
        if own and slot is not None:
            hosts.release(slot)
    if obs is None and w.stop.is_set():
        raise Interrupted(row.key)  # cut short: not the page's fault, not stored
    result.duration_ms = int((time.monotonic() - t0) * 1000)
    try:
        if obs is None:
            store_failure(w, row, spec, error, started, result)
        else:
            result.status_code = obs.response.status if obs.response else None
            store(w, row, spec, obs, started, result)
    except LeaseLost:
        logger.warning("lease on %s lost; result dropped", row.key)
        result.stored = False
    return result


def host_busy(w: Watcher, row: Any, now: datetime | None = None) -> CheckResult:
    """Give back a claimed source whose host another worker kept busy: due again in a
    minute, not counted as a failure."""
    now = now or utcnow()

    def write(conn: Any) -> None:
        if not complete(conn, SOURCE, row.id, w.owner, next_check_at=now + timedelta(minutes=1)):
            raise LeaseLost

    result = CheckResult(row.id, row.key, row.place_code, "busy", error=f"host {row.host} busy")
    try:
        w.writer.run(write)
    except LeaseLost:
        result.stored = False
    return result
