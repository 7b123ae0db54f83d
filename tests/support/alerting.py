"""Small helpers shared by the alert tests: a clock that only moves when told, settings
for a test, recording a status change, and subscribing a confirmed address."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from tracker.alerts import subscriptions
from tracker.alerts.dispatch import Dispatcher
from tracker.alerts.outbox import Backoff
from tracker.law.belief import Belief
from tracker.law.dates import PartialDate
from tracker.law.history import record_belief
from tracker.law.places import resolve_specs
from tracker.settings import Settings, load_settings
from tracker.storage.engine import Database, make_engine
from tracker.timeutil import utcnow

# Short, positive delays: with the injected clock no test ever sleeps for them.
FAST = Backoff(delays=(1, 1, 1), jitter=0)


class Clock:
    """Starts a minute ahead of the real clock (so rows the test writes with the real
    clock in the next seconds are due) and moves only with `advance`."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or utcnow() + timedelta(minutes=1)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


def make_settings(**overrides: Any) -> Settings:
    """Settings from the isolated test environment, plus overrides."""
    base = {"allow_loopback": True, "mail_from": "alerts@tracker.test"}
    return load_settings().replace(**{**base, **overrides})


def dispatcher(db: Database, settings: Settings, clock: Clock, **kw: Any) -> Dispatcher:
    return Dispatcher(db, settings, clock=clock, backoff=kw.pop("backoff", FAST), **kw)


def record(
    db: Database,
    place: str,
    status: str,
    *,
    start: str = "2026-04-01",
    min_age: int | None = None,
    expires: str | None = None,
    substance: str = "kratom",
) -> int | None:
    """Record a status (as `tracker record` does); returns the status_changed event id."""
    belief = Belief(
        place_code=place,
        substance=substance,
        status=status,
        source_tier="official",
        origin="test",
        valid_from=PartialDate.parse(start),
        expires=PartialDate.parse(expires) if expires else None,
        min_age=min_age,
        instrument_type="statute",
        instrument_citation=f"Test Act {place} §1",
        source_url="https://legislature.example/act",
    )
    with db.write() as conn:
        return record_belief(conn, belief).event_id


def subscribe(db: Database, email: str, **kw: Any) -> int:
    """Subscribe as the CLI does: place names and patterns resolved first."""
    kw.setdefault("confirmed", True)
    with db.write() as conn:
        specs, codes = resolve_specs(conn, kw.pop("places", []))
        done = subscriptions.subscribe(conn, email, places=codes, place_specs=specs, **kw)
        return done.subscriber_id


def sqlite_copy(tmp_path: Path, template: Path) -> Iterator[Database]:
    """A SQLite copy of a session template, for fixtures of tests that check delivery
    behaviour rather than storage (storage tests run on both backends)."""
    path = tmp_path / "alerts.db"
    shutil.copy(template, path)
    db = Database(make_engine(f"sqlite:///{path}"))
    yield db
    db.dispose()
