"""Events that come from the calendar, not from a change: `effective` (a recorded rule
takes effect today) and `expiring` (a temporary rule's `expires` falls within the next
`expiring_days` days). The daemon calls `emit_due` once a day (any number of times is
harmless).

Each event has a dedupe key (`effective:<place>:<substance>:<valid_from>:<status>`,
`expiring:<place>:<substance>:<expires>`), so it is emitted once whichever replica or
run gets there first. Only current knowledge counts. `effective` needs a start known to
the day; a start in the last `catch_up_days` days is still announced (as "took effect")
so a daemon that was down does not lose it. An expiry known only to the month or year
counts from the first day of that period (the earliest it can be).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from tracker.alerts import events
from tracker.law.dates import PartialDate
from tracker.storage.engine import Database
from tracker.storage.tables_core import PLACE, STATUS
from tracker.timeutil import utcnow

logger = logging.getLogger(__name__)


@dataclass
class Emitted:
    effective: int = 0
    expiring: int = 0


def emit_due(
    db: Database,
    today: date | None = None,
    *,
    expiring_days: int = 30,
    catch_up_days: int = 7,
    now: datetime | None = None,
) -> Emitted:
    """Emit the `effective` and `expiring` events due on `today` (UTC). Returns how many
    were new (an event emitted before is not counted)."""
    now = now or utcnow()
    today = today or now.date()
    done = Emitted()
    with db.write() as conn:
        names = dict(conn.execute(sa.select(PLACE.c.code, PLACE.c.name)).all())
        current = STATUS.c.superseded_at.is_(None)
        starting = conn.execute(
            sa.select(STATUS)
            .where(
                current,
                STATUS.c.valid_from_precision == "day",
                STATUS.c.valid_from > today - timedelta(days=catch_up_days + 1),
                STATUS.c.valid_from <= today,
            )
            .order_by(STATUS.c.id)
        ).all()
        for r in starting:
            name = names.get(r.place_code, r.place_code)
            verb = "takes effect today" if r.valid_from == today else f"took effect {r.valid_from}"
            age = f" ({r.min_age}+)" if r.min_age else ""
            new = events.emit(
                conn,
                "effective",
                importance="major",
                title=f"{name}: {r.substance} {r.status}{age} {verb}",
                place_code=r.place_code,
                substance=r.substance,
                payload=_payload(r, name),
                dedupe_key=f"effective:{r.place_code}:{r.substance}:{r.valid_from}:{r.status}",
                occurred_at=now,
            )
            done.effective += new is not None
        ending = conn.execute(
            sa.select(STATUS)
            .where(
                current,
                STATUS.c.expires.is_not(None),
                STATUS.c.expires >= today,
                STATUS.c.expires <= today + timedelta(days=expiring_days),
            )
            .order_by(STATUS.c.id)
        ).all()
        for r in ending:
            name = names.get(r.place_code, r.place_code)
            expires = PartialDate.from_columns(r.expires, r.expires_precision)
            days_left = (r.expires - today).days
            payload = {**_payload(r, name), "expires": str(expires), "days_left": days_left}
            new = events.emit(
                conn,
                "expiring",
                importance="relevant",
                title=f"{name}: {r.substance} {r.status} rule expires {expires} ({days_left} days)",
                place_code=r.place_code,
                substance=r.substance,
                payload=payload,
                dedupe_key=f"expiring:{r.place_code}:{r.substance}:{r.expires}",
                occurred_at=now,
            )
            done.expiring += new is not None
    if done.effective or done.expiring:
        logger.info("calendar events: %d effective, %d expiring", done.effective, done.expiring)
    return done


def _payload(r: sa.Row[object], name: str) -> dict[str, object]:
    start = PartialDate.from_columns(r.valid_from, r.valid_from_precision)
    return {
        "place": r.place_code,
        "place_name": name,
        "substance": r.substance,
        "status": r.status,
        "min_age": r.min_age,
        "valid_from": str(start) if start else None,
        "citation": r.instrument_citation,
        "source_url": r.source_url,
        "record_id": r.id,
    }
