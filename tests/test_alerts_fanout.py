"""The outbox fan-out reads only the subscribers of an event's places (the indexed
`subscriber_place` rows), yet reaches exactly whom the filters of every subscriber ask
for; the migration that adds those rows fills them for existing subscribers."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config

from tests.support.alerting import subscribe
from tracker.alerts import events, subscriptions
from tracker.alerts.filters import EventFilter, place_chain
from tracker.storage.engine import Database, make_engine
from tracker.storage.schema import MIGRATIONS
from tracker.storage.tables_alerts import DIGEST_ITEM, OUTBOX, SUBSCRIBER, SUBSCRIBER_PLACE

SAN_DIEGO = "ocd-division/country:us/state:ca/place:san_diego"

# (kind, importance, place, substance) of the events emitted.
EVENTS = [
    ("status_changed", "major", "US-RI", "kratom"),
    ("status_changed", "minor", "US-CA", "7-OH"),
    ("status_changed", "major", SAN_DIEGO, "kratom"),
    ("page_changed", "relevant", "TH", None),
    ("page_changed", "minor", "US", None),
    ("source_failing", "minor", None, None),
]


def _reached(db: Database, event_id: int) -> set[int]:
    with db.read() as conn:
        alerts = conn.execute(
            sa.select(OUTBOX.c.subscriber_id).where(
                OUTBOX.c.event_id == event_id, OUTBOX.c.channel == "email"
            )
        ).scalars()
        items = conn.execute(
            sa.select(DIGEST_ITEM.c.subscriber_id).where(DIGEST_ITEM.c.event_id == event_id)
        ).scalars()
        return set(alerts) | set(items)


def _wanted(
    db: Database, kind: str, importance: str, place: str | None, sub: str | None
) -> set[int]:
    """Brute force: every active subscriber whose filter matches."""
    with db.read() as conn:
        chain = place_chain(conn, place)
        rows = conn.execute(sa.select(SUBSCRIBER).where(SUBSCRIBER.c.status == "active")).all()
    return {r.id for r in rows if EventFilter.of(r).matches(kind, importance, sub, chain)}


def test_fan_out_reaches_exactly_whom_the_filters_want(empty_db: Database) -> None:
    db = empty_db
    subscribe(db, "ri@example.org", places=["US-RI"])
    subscribe(db, "states@example.org", places=["US-*"], cadence="daily")
    subscribe(db, "all@example.org", places=[], kinds=["source_failing", "page_changed"])
    subscribe(db, "th@example.org", places=["TH"], min_importance="relevant")
    subscribe(db, "ca@example.org", places=["US-CA"], substances=["7-OH"], cadence="weekly")
    subscribe(db, "sd@example.org", places=["San Diego"])
    subscribe(db, "federal@example.org", places=["US"], min_importance="major")
    moved = subscribe(db, "moved@example.org", places=["TH"])
    gone = subscribe(db, "gone@example.org", places=["US-RI"])
    with db.write() as conn:
        # A subscription whose places change: its old places must no longer reach it.
        subscriptions.subscribe(conn, "moved@example.org", places=["TH", "US-RI"])
        subscriptions.subscribe(conn, "moved@example.org", places=["US-CA"])
        subscriptions.unsubscribe(conn, "gone@example.org")
    reached = []
    for kind, importance, place, substance in EVENTS:
        with db.write() as conn:
            event_id = events.emit(
                conn, kind, importance=importance, title="t", place_code=place, substance=substance
            )
        assert event_id is not None
        reached.append(_reached(db, event_id))
        assert reached[-1] == _wanted(db, kind, importance, place, substance), (kind, place)
    # The old places of a changed subscription reach it no more; San Diego is in CA.
    assert moved not in reached[0] | reached[3] and moved in reached[1] & reached[2]
    assert not any(gone in r for r in reached)  # unsubscribed
    assert all(reached[:5]) and len(reached[2]) >= 4  # not a vacuous comparison


def test_migration_fills_the_places_of_existing_subscribers(tmp_path: Path) -> None:
    db = Database(make_engine(f"sqlite:///{tmp_path / 'old.db'}"))
    with db.engine.begin() as conn:
        cfg = Config()
        cfg.set_main_option("script_location", str(MIGRATIONS))
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0004_daemon")
        for email, specs, codes in (
            ("a@example.org", ["US-RI", "MA"], ["US-RI", "US-MA"]),
            ("b@example.org", [], []),
        ):
            conn.execute(
                sa.text(
                    "INSERT INTO subscriber (email, place_specs, place_codes, substances, kinds, "
                    "min_importance, cadence, hour, weekday, tz, status, created_at) VALUES "
                    "(:email, :specs, :codes, '[]', '[]', 'minor', 'immediate', 8, 0, 'UTC', "
                    "'active', '2026-01-01 00:00:00')"
                ),
                {
                    "email": email,
                    "specs": str(specs).replace("'", '"'),
                    "codes": str(codes).replace("'", '"'),
                },
            )
        command.upgrade(cfg, "heads")
    with db.read() as conn:
        rows = set(
            conn.execute(
                sa.select(SUBSCRIBER.c.email, SUBSCRIBER_PLACE.c.place_code).join(
                    SUBSCRIBER_PLACE, SUBSCRIBER_PLACE.c.subscriber_id == SUBSCRIBER.c.id
                )
            ).all()
        )
    assert rows == {("a@example.org", "US-RI"), ("a@example.org", "US-MA"), ("b@example.org", "*")}
    db.dispose()
