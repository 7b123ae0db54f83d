"""Storing one check's result (the last step of `tracker.watch.check.check_source`).

`store(w, row, spec, obs, now, result)` compares the observation with the source's
current version, decides the outcome, and writes through the watcher's group writer
(`tracker.storage.writer.GroupWriter`), in one transaction:
- the source update, fenced on the caller's lease (`LeaseLost` when another worker took
  the source; nothing of this check is then written): validators, current version,
  failure streak cleared, `next_check_at` from the interval or cron expression;
- for a new version, its snapshot (content-addressed, compressed by the worker before
  the transaction) and its `source_version` rows;
- for a change, the `page_change` row with the unified and HTML diffs and its
  `page_changed` event (with the event's outbox rows, `events.emit`);
- the `page_check` row.
A kratom-relevant change also opens a review item for the source's place
(`tracker.law.review`) in the same transaction, so the place is *under review* from the
moment the change is known.

A return to a version seen within `flap_days` (outcome `reverted`) is news once: when the
version being left was brought by a reported change that no reversal has undone yet, a
`page_change` row naming that change (`reverts_change_id`) and its `page_changed` event
are written, at least as important as the change it undoes (whoever was told of the
change is told it is undone), and the undone change's open review items are closed as
`reverted` (or, when they were closed already, the reversal opens a new one if it is
relevant). Any further flip between versions already reported is silent, so a page that
flips back and forth gives one alert, not one per flip.

`store_failure` records a failed check: the failure streak, after `failure_alert_after`
failures in a row one `source_failing` event, the `page_check` row, and the next try
after a backoff (`sources.retry_due`: minutes, doubling, up to the interval); nothing
else stored for the source is touched.

The fenced update and the change (whose new id the event and the `page_check` row need)
run in the writer's `fn`; the pure inserts (snapshot, versions, `page_check`) are handed
to the writer as rows, batched into one `executemany` per statement for all the checks
committed together.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from tracker.alerts import events
from tracker.errors import SourceError
from tracker.law import review
from tracker.storage.lease import complete
from tracker.storage.tables_core import PLACE
from tracker.storage.tables_watch import PAGE_CHANGE, PAGE_CHECK, SOURCE, SOURCE_VERSION
from tracker.vocab import IMPORTANCE
from tracker.watch import snapshots
from tracker.watch.diff import SECONDS, Diff, compare, keywords_in, too_large_html
from tracker.watch.normalize import text_of
from tracker.watch.sources import Spec, next_due, retry_due
from tracker.watch.watcher import CheckResult, Observation, Watcher

logger = logging.getLogger(__name__)


class LeaseLost(Exception):
    """The caller's lease on the source was lost: the result is dropped."""


_B = sa.bindparam
# `lease.complete`'s fenced update (owner must still hold the lease), prebuilt because it
# runs once per check: building an UPDATE per call cost 230 us against 35 us prebuilt.
_DONE_OK = (
    SOURCE.update()
    .where(SOURCE.c.id == _B("b_id"), SOURCE.c.lease_owner == _B("b_owner"))
    .values(
        lease_owner=None,
        lease_until=None,
        next_check_at=_B("b_next"),
        last_checked_at=_B("b_now"),
        last_ok_at=_B("b_now"),
        failures=0,
        failing=False,
        last_error=None,
        etag=_B("b_etag"),
        last_modified=_B("b_modified"),
        body_sha=_B("b_body"),
        current_sha=_B("b_sha"),
        current_spec=_B("b_spec"),
    )
)
_CHECK = PAGE_CHECK.insert()
_CHANGE = PAGE_CHANGE.insert().returning(PAGE_CHANGE.c.id)
_CHANGE_EVENT = (
    PAGE_CHANGE.update().where(PAGE_CHANGE.c.id == _B("b_id")).values(event_id=_B("b_event"))
)


def _check_row(
    source_id: int,
    now: datetime,
    result: CheckResult,
    *,
    size: int | None = None,
    sha: str | None = None,
    error: str | None = None,
) -> dict[str, Any]:
    """A `page_check` row with every column named: rows batched into one executemany
    must all bind the same parameters."""
    return {
        "source_id": source_id,
        "started_at": now,
        "duration_ms": result.duration_ms,
        "outcome": result.outcome,
        "status_code": result.status_code,
        "bytes": size,
        "sha": sha,
        "change_id": result.change_id,
        "error": error,
    }


def store(
    w: Watcher, row: Any, spec: Spec, obs: Observation, now: datetime, result: CheckResult
) -> None:
    """Decide the outcome of a successful fetch and store it. Raises LeaseLost."""
    diff: Diff | None = None
    place_name = row.place_code
    if obs.sha is None or obs.sha == row.current_sha:
        result.outcome = obs.outcome or "unchanged"
    elif row.current_sha is None or row.current_spec != spec.extraction_digest:
        result.outcome = "baseline" if row.current_sha is None else "rebaselined"
    else:
        undone: Any = None
        with w.db.read() as conn:
            recent = conn.execute(
                sa.select(SOURCE_VERSION.c.id).where(
                    SOURCE_VERSION.c.source_id == row.id,
                    SOURCE_VERSION.c.sha == obs.sha,
                    SOURCE_VERSION.c.last_seen_at >= now - timedelta(days=w.config.flap_days),
                )
            ).first()
            if recent:
                undone = _undone_change(conn, row)
            old_text = None if recent and undone is None else snapshots.get(conn, row.current_sha)
            place_name = (
                conn.execute(sa.select(PLACE.c.name).where(PLACE.c.code == row.place_code)).scalar()
                or row.place_code
            )
        result.outcome = "reverted" if recent else "changed"
        if not recent or undone is not None:
            old = old_text.split("\n") if old_text else []
            left = SECONDS if obs.deadline is None else obs.deadline - time.monotonic()
            diff = compare(
                old,
                obs.lines or [],
                max_bytes=w.config.diff_max_bytes,
                old_label=f"{spec.key} {row.current_sha[:12]}",
                new_label=f"{spec.key} {obs.sha[:12]}",
                seconds=min(SECONDS, max(left, 0.0)),
            )
    resp = obs.response
    fresh = resp is not None and resp.status != 304
    params = {
        "b_id": row.id,
        "b_owner": w.owner,
        "b_next": next_due(spec, now, w.config.default_every),
        "b_now": now,
        "b_etag": resp.etag if fresh and resp else row.etag,
        "b_modified": resp.last_modified if fresh and resp else row.last_modified,
        "b_body": obs.body_sha if fresh else row.body_sha,
        "b_sha": obs.sha or row.current_sha,
        "b_spec": spec.extraction_digest if obs.sha else row.current_spec,
    }
    rows: list[tuple[Any, dict[str, Any]]] = []
    if obs.sha is not None and obs.sha != row.current_sha:
        dialect = w.db.engine.dialect.name
        packed = snapshots.pack(text_of(obs.lines or []))
        rows.append(snapshots.put_row(dialect, obs.sha, packed, now))
        # The version left behind was current until now; the new one is seen now.
        # (An unchanged check touches no version row: the current one is always kept.)
        if row.current_sha is not None:
            rows.append(snapshots.seen_row(dialect, row.id, row.current_sha, now))
        rows.append(snapshots.seen_row(dialect, row.id, obs.sha, now))
    size = len(resp.body) if resp else None
    check = _check_row(row.id, now, result, size=size, sha=params["b_sha"])
    if diff is None:
        rows.append((_CHECK, check))

    def write(conn: Any) -> None:
        if conn.execute(_DONE_OK, params).rowcount != 1:
            raise LeaseLost
        if diff is not None and obs.sha is not None:
            _record_change(w, conn, row, spec, diff, obs.sha, place_name, now, result, undone)
            conn.execute(_CHECK, {**check, "change_id": result.change_id})

    w.writer.run(write, rows)


def _undone_change(conn: Any, row: Any) -> Any:
    """The reported change a return to an earlier version undoes: the source's latest
    change, when it brought the version being left and is not itself a reversal. None
    otherwise (that version came by a silent flip, or its change was undone already)."""
    last = conn.execute(
        sa.select(
            PAGE_CHANGE.c.id,
            PAGE_CHANGE.c.new_sha,
            PAGE_CHANGE.c.importance,
            PAGE_CHANGE.c.reverts_change_id,
        )
        .where(PAGE_CHANGE.c.source_id == row.id)
        .order_by(PAGE_CHANGE.c.id.desc())
        .limit(1)
    ).first()
    if last is None or last.new_sha != row.current_sha or last.reverts_change_id is not None:
        return None
    return last


def federal_register_document(lines: list[str]) -> str | None:
    """The first added Federal Register document in words (number, type, agencies,
    title; see `extract.jsondoc.federal_register` for the line), plus how many more."""
    docs = [x.split(" | ") for x in lines]
    docs = [d for d in docs if len(d) >= 5]
    if not docs:
        return None
    number, _, kind, agencies, title = docs[0][:5]
    text = f"FR Doc. {number} ({kind}"
    text += f", {agencies})" if agencies and agencies != "-" else ")"
    text += f": {title}"
    return text + (f" (and {len(docs) - 1} more)" if len(docs) > 1 else "")


def _record_change(
    w: Watcher,
    conn: Any,
    row: Any,
    spec: Spec,
    diff: Diff,
    new_sha: str,
    place_name: str,
    now: datetime,
    result: CheckResult,
    undone: Any = None,
) -> None:
    keywords = keywords_in(diff.added + diff.removed, spec.keywords)
    importance = "relevant" if keywords else "minor"
    if undone is not None and IMPORTANCE.index(undone.importance) > IMPORTANCE.index(importance):
        importance = undone.importance  # told of the change, told of its undoing
    html = diff.html
    if diff.too_large:
        base = w.config.public_url.rstrip("/") + "/snapshots/"
        html = too_large_html(base + row.current_sha, base + new_sha)
    change_id = conn.execute(
        _CHANGE,
        {
            "source_id": row.id,
            "place_code": row.place_code,
            "detected_at": now,
            "old_sha": row.current_sha,
            "new_sha": new_sha,
            "importance": importance,
            "keywords": keywords,
            "added": len(diff.added),
            "removed": len(diff.removed),
            "too_large": diff.too_large,
            "unified_diff": diff.unified,
            "html_diff": html,
            "event_id": None,
            "reverts_change_id": undone.id if undone is not None else None,
        },
    ).scalar_one()
    review_id = None
    closed: list[int] = []
    if undone is not None:
        closed = review.close_reverted(conn, undone.id, change_id, now=now)
    if importance != "minor" and not closed:
        review_id = review.open_item(
            conn,
            change_id=change_id,
            place_code=row.place_code,
            source_id=row.id,
            keywords=keywords,
            now=now,
        )
    document = federal_register_document(diff.added) if spec.kind == "federal_register" else None
    if undone is not None:
        title = f"{place_name}: {spec.title} changed back (change #{undone.id} undone)"
    else:
        title = f"{place_name}: {spec.title} changed" + (f": {document}" if document else "")
    event_id = events.emit(
        conn,
        "page_changed",
        importance=importance,
        title=title,
        place_code=row.place_code,
        payload={
            "source_id": row.id,
            "source_url": spec.url,
            "source_title": spec.title,
            "place": row.place_code,
            "place_name": place_name,
            "change_id": change_id,
            "diff_excerpt": diff.excerpt(),
            "keywords": keywords,
            "too_large": diff.too_large,
            "snapshot_old": row.current_sha,
            "snapshot_new": new_sha,
            "document": document,
            "reverts_change_id": undone.id if undone is not None else None,
            "review_id": review_id,
            "reviews_closed": closed,
        },
        dedupe_key=f"page_changed:{change_id}",
        occurred_at=now,
    )
    conn.execute(_CHANGE_EVENT, {"b_id": change_id, "b_event": event_id})
    result.change_id, result.importance, result.keywords = change_id, importance, keywords
    result.reverts = undone.id if undone is not None else None


def store_failure(
    w: Watcher, row: Any, spec: Spec, err: SourceError, now: datetime, result: CheckResult
) -> None:
    """Record a failed check (see the module docstring). Raises LeaseLost."""
    failures = (row.failures or 0) + 1
    due = retry_due(spec, now, failures, w.config.default_every)
    if err.retry_after:
        due = max(due, now + timedelta(seconds=err.retry_after))
    raise_alert = failures >= w.config.failure_alert_after and not row.failing
    check = {**_check_row(row.id, now, result, error=str(err)[:500]), "status_code": err.status}

    def write(conn: Any) -> None:
        ok = complete(
            conn,
            SOURCE,
            row.id,
            w.owner,
            next_check_at=due,
            last_checked_at=now,
            failures=failures,
            failing=bool(row.failing or raise_alert),
            last_error=str(err)[:500],
        )
        if not ok:
            raise LeaseLost
        if raise_alert:
            events.emit(
                conn,
                "source_failing",
                importance="minor",
                title=f"{spec.title}: {failures} failed checks in a row",
                place_code=row.place_code,
                payload={
                    "source_id": row.id,
                    "source_url": spec.url,
                    "place": row.place_code,
                    "failures": failures,
                    "last_error": str(err),
                },
                occurred_at=now,
            )

    w.writer.run(write, [(_CHECK, check)])
    logger.info(
        "check of %s failed (%s, %d in a row): %s; next try at %s",
        spec.key,
        err.stage,
        failures,
        err,
        due.isoformat(timespec="seconds"),
    )
