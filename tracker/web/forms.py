"""The subscription form's fields: what a person chose, read and checked.

`read(form, conn)` turns a POSTed form into `Choices`, or a list of problems, each a
sentence saying what to fix (shown above the form, which keeps what was typed). Places
are resolved as the CLI resolves `--place` (`law.places.resolve_specs`): a code, an OCD
id, a name or a code pattern (`US-*`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import available_timezones

from sqlalchemy.engine import Connection

from tracker.alerts.subscriptions import CADENCES, WEEKDAYS, normalize_email, zone
from tracker.errors import AmbiguousPlace, PlaceNotFound, UsageError
from tracker.law.places import resolve_specs
from tracker.vocab import EVENT_KINDS, IMPORTANCE, SUBSTANCES

# What a person may subscribe to; `source_failing` is for operators (the CLI).
PUBLIC_KINDS: tuple[str, ...] = tuple(k for k in EVENT_KINDS if k != "source_failing")
KIND_LABELS = {
    "status_changed": "a new status is recorded",
    "effective": "a recorded rule takes effect",
    "expiring": "a temporary rule is about to expire",
    "page_changed": "an official page changed",
    "pending_measure": "a bill or notice moved",
}
MAX_PLACES = 50


@dataclass
class Choices:
    email: str = ""
    places: str = ""  # as typed: "US-AL, Tupelo"
    substances: list[str] = field(default_factory=list)
    kinds: list[str] = field(default_factory=list)
    min_importance: str = "minor"
    cadence: str = "immediate"
    hour: int = 8
    weekday: str = "mon"
    tz: str = "UTC"
    specs: list[str] = field(default_factory=list)  # resolved: what the person typed
    codes: list[str] = field(default_factory=list)  # resolved: the place codes

    def filters(self) -> dict[str, Any]:
        """The subscription these choices make, as `alerts.subscriptions.subscribe` takes
        it (after `places` was resolved into `specs` and `codes`)."""
        return {
            "places": self.codes,
            "place_specs": self.specs,
            "substances": self.substances,
            "kinds": self.kinds,
            "min_importance": self.min_importance,
            "cadence": self.cadence,
            "hour": self.hour,
            "weekday": WEEKDAYS.index(self.weekday),
            "tz": self.tz,
        }

    @classmethod
    def of(cls, row: Any) -> Choices:
        """The choices a subscriber row holds (for the preferences form)."""
        return cls(
            email=row.email,
            places=", ".join(row.place_specs),
            substances=list(row.substances),
            kinds=[k for k in row.kinds if k in PUBLIC_KINDS],
            min_importance=row.min_importance,
            cadence=row.cadence,
            hour=row.hour,
            weekday=WEEKDAYS[row.weekday],
            tz=row.tz,
        )


def _pick(values: list[str], accepted: tuple[str, ...]) -> tuple[list[str], list[str]]:
    good = [v for v in accepted if v in values]
    return good, [v for v in values if v not in accepted]


def read(
    form: dict[str, list[str]], conn: Connection, *, with_email: bool
) -> tuple[Choices, list[str]]:
    """The choices in `form`, and what is wrong with them (empty when nothing)."""

    def one(name: str, default: str = "") -> str:
        return (form.get(name) or [default])[0].strip()

    c = Choices(places=one("places")[:2000], tz=one("tz", "UTC")[:64] or "UTC")
    problems: list[str] = []
    if with_email:
        c.email = one("email")[:254]
        try:
            c.email = normalize_email(c.email)
        except UsageError:
            problems.append("Give one email address, such as alice@example.org.")
    c.substances, bad = _pick(form.get("substance", []), SUBSTANCES)
    kinds, bad_kinds = _pick(form.get("kind", []), PUBLIC_KINDS)
    c.kinds = kinds
    if bad or bad_kinds:
        problems.append("Choose substances and events from the lists shown.")
    c.min_importance = one("min_importance", "minor")
    if c.min_importance not in IMPORTANCE:
        problems.append(f"Minimum importance is one of {', '.join(IMPORTANCE)}.")
        c.min_importance = "minor"
    c.cadence = one("cadence", "immediate")
    if c.cadence not in CADENCES:
        problems.append("Choose immediate, daily or weekly.")
        c.cadence = "immediate"
    hour = one("hour", "8")
    if not hour.isdigit() or not 0 <= int(hour) <= 23:
        problems.append("The hour is a whole number from 0 to 23.")
    else:
        c.hour = int(hour)
    c.weekday = one("weekday", "mon")
    if c.weekday not in WEEKDAYS:
        problems.append(f"The weekday is one of {', '.join(WEEKDAYS)}.")
        c.weekday = "mon"
    try:
        zone(c.tz)
    except UsageError:
        problems.append(f"Unknown time zone {c.tz!r}: use a name such as Europe/Paris or UTC.")
    specs = [s.strip() for s in re.split(r"[,;\n]", c.places) if s.strip()]
    if len(specs) > MAX_PLACES:
        problems.append(f"Give at most {MAX_PLACES} places.")
    else:
        try:
            c.specs, c.codes = resolve_specs(conn, specs)
        except PlaceNotFound as exc:
            hint = f" Did you mean: {', '.join(exc.suggestions)}?" if exc.suggestions else ""
            problems.append(f"No place is called {exc.text!r}.{hint}")
        except AmbiguousPlace as exc:
            problems.append(
                f"{exc.text!r} names several places: {'; '.join(exc.candidates)}. "
                "Give a code such as US-AL."
            )
        except UsageError as exc:
            problems.append(f"{exc} {exc.hint}".strip())
    return c, problems


def zones() -> list[str]:
    return sorted(available_timezones())
