"""Events: the things users may be told about, written in the transaction of their cause.

Kinds: `status_changed`, `effective`, `expiring`, `page_changed`, `pending_measure`,
`source_failing`. Importance is one of `vocab.IMPORTANCE` (minor < relevant < major).
An event with a `dedupe_key` is written at most once (e.g. one `effective` per rule and
day), whichever replica or run tries first. `emit` also writes, in the same transaction,
the event's outbox rows and digest items (`fanout.fan_out`); `reminders.emit_due` emits
`effective` and `expiring` from the status history.

Payload contract (JSON; consumers must tolerate added keys):
- `status_changed`: place, place_name, substance, as_of (the first day of the new rule,
  else today), old_status (a list of one: the place's effective status before, on as_of),
  old_min_age, new_status and min_age (the effective answer after), answers (`{before,
  after}` per day of `tracker record`'s output: today and the --from day, each `{as_of,
  status, min_age, decided_by}`), recorded_status, recorded_min_age (what the record
  itself says), valid_from, valid_to, expires, citation, instrument_type, source_url,
  source_document, source_tier, note, origin. Importance `major` when an effective
  answer changed, else `minor`.
- `pending_measure`: place_code, substance, direction, measure, stage, published,
  comments_close, source_url, source_tier, verify, note, previous_stage. `relevant`.
- `effective`: place, place_name, substance, status, min_age, valid_from, citation,
  source_url, record_id. `major`.
- `expiring`: the same plus expires and days_left. `relevant`.
- `page_changed`: source_id, source_url, source_title, place, place_name, change_id,
  diff_excerpt (the first lines of the unified diff, plain text), keywords (the kratom
  terms found in changed lines), too_large (bool), snapshot_old, snapshot_new, document
  (a Federal Register document in words, else null), reverts_change_id (the change a
  reversal undid, else null), review_id (the review item it opened, else null),
  reviews_closed (items of the undone change closed as reverted). `relevant` when changed
  lines contain kratom keywords, else `minor`; a reversal is at least as important as the
  change it undoes.
- `source_failing`: source_id, source_url, place, failures, last_error. `minor`
  (operators subscribe to it explicitly).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from tracker.alerts import fanout
from tracker.storage.engine import dialect_insert
from tracker.storage.tables_core import EVENT
from tracker.timeutil import utcnow
from tracker.vocab import EVENT_KINDS, IMPORTANCE

KINDS = EVENT_KINDS


_STATEMENTS: dict[tuple[str, bool], Any] = {}


def _insert(conn: Connection, dedupe: bool) -> Any:
    """The INSERT ... RETURNING id of an event, built once per dialect: building it on
    every call cost more than running it (one event per page change in a cycle)."""
    stmt = _STATEMENTS.get((conn.dialect.name, dedupe))
    if stmt is None:
        stmt = dialect_insert(conn, EVENT)
        if dedupe:
            stmt = stmt.on_conflict_do_nothing(index_elements=["dedupe_key"])
        stmt = _STATEMENTS[(conn.dialect.name, dedupe)] = stmt.returning(EVENT.c.id)
    return stmt


def emit(
    conn: Connection,
    kind: str,
    *,
    importance: str,
    title: str,
    place_code: str | None = None,
    substance: str | None = None,
    payload: dict[str, Any] | None = None,
    dedupe_key: str | None = None,
    occurred_at: datetime | None = None,
) -> int | None:
    """Insert one event in the caller's transaction. Returns its id, or None when an
    event with the same `dedupe_key` already exists."""
    if kind not in KINDS:
        raise ValueError(f"unknown event kind {kind!r}")
    if importance not in IMPORTANCE:
        raise ValueError(f"unknown importance {importance!r}")
    values = {
        "kind": kind,
        "importance": importance,
        "title": title,
        "place_code": place_code,
        "substance": substance,
        "payload": payload or {},
        "dedupe_key": dedupe_key,
        "occurred_at": occurred_at or utcnow(),
    }
    event_id = conn.execute(_insert(conn, dedupe_key is not None), values).scalar()
    if event_id is None:
        return None
    # The outbox rows (and digest items) commit or roll back with the event itself, so
    # an event is never lost between being recorded and being delivered.
    fanout.fan_out(conn, int(event_id), values)
    return int(event_id)
