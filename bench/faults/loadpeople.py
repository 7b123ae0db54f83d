"""The 10,000 subscribers of the load figures, and what their filters ask for.

Made through `subscriptions.subscribe` (confirmed, as an operator would add them), so
every structure the product keeps for subscribers is kept for these too. Mix: 2%
immediate for one US state, 1% daily for every place, the rest daily (70%) or weekly
for one US state each.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from bench.faults.loadsite import STATES
from tracker.alerts import subscriptions
from tracker.storage.engine import Database


@dataclass(frozen=True)
class Person:
    id: int
    cadence: str
    place: str | None  # None: everywhere


Population = list[Person]


def add_population(db: Database, count: int, rng: random.Random) -> Population:
    people: Population = []
    with db.write() as conn:
        for n in range(count):
            roll = rng.random()
            place: str | None = "US-" + rng.choice(STATES)
            if roll < 0.02:
                cadence = "immediate"
            elif roll < 0.03:
                cadence, place = "daily", None
            else:
                cadence = "daily" if rng.random() < 0.7 else "weekly"
            sub = subscriptions.subscribe(
                conn,
                f"load{n}@example.org",
                places=[place] if place else [],
                cadence=cadence,
                hour=rng.randrange(24),
                confirmed=True,
            )
            people.append(Person(sub.subscriber_id, cadence, place))
    return people


def expected_rows(people: Population, changed_places: list[str]) -> dict[str, int]:
    """Alert rows, digest items and digests that events in `changed_places` call for."""
    per_place: dict[str, int] = {}
    for p in changed_places:
        per_place[p] = per_place.get(p, 0) + 1
    alerts = items = digests = 0
    for person in people:
        hits = len(changed_places) if person.place is None else per_place.get(person.place, 0)
        if person.cadence == "immediate":
            alerts += hits
        else:
            items += hits
            digests += 1 if hits else 0
    return {"alerts": alerts, "items": items, "digests": digests}
