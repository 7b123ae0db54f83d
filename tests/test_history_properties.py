"""Property tests of the bitemporal history, on SQLite and PostgreSQL:
- current knowledge never holds two overlapping rows for one place and substance;
- the answer for a past knowledge time never changes after later records.
"""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tracker.law.asof import rows_at
from tracker.law.belief import Belief
from tracker.law.dates import PartialDate
from tracker.law.history import current_rows, record_belief
from tracker.storage.engine import Database
from tracker.storage.tables_core import PLACE

BASE = date(2020, 1, 1)
PROBES = [BASE + timedelta(days=d) for d in range(-5, 70, 3)]
_counter = itertools.count()
_clock = itertools.count()  # seconds; knowledge time only moves forward, as the wall clock does

op = st.tuples(
    st.sampled_from(["banned", "restricted", "regulated", "legal"]),
    st.one_of(st.none(), st.integers(0, 60)),
    st.one_of(st.none(), st.integers(1, 30)),
    st.booleans(),
)


def _fresh_place(db: Database) -> str:
    code = f"ZZ-{next(_counter)}"
    with db.write() as conn:
        conn.execute(PLACE.insert().values(code=code, kind="country", name=code, ancestors=[]))
    return code


def _answers(db: Database, code: str, known_at: datetime | None) -> list[tuple[str, ...]]:
    with db.read() as conn:
        out = []
        for day in PROBES:
            rows = rows_at(conn, [code], ["kratom"], day, known_at)
            out.append(tuple(sorted(r.status for r in rows)))
        return out


def _check(db: Database, ops: list[tuple[str, int | None, int | None, bool]]) -> None:
    code = _fresh_place(db)
    t = datetime(2030, 1, 1, tzinfo=UTC)
    seen: list[tuple[datetime, list[tuple[str, ...]]]] = []
    for n, (status, start, length, fill) in enumerate(ops):
        lo = PartialDate(BASE + timedelta(days=start)) if start is not None else None
        hi = None
        if length is not None:
            hi = PartialDate((lo.value if lo else BASE) + timedelta(days=length))
        belief = Belief(
            place_code=code,
            substance="kratom",
            status=status,
            source_tier="seed" if fill else "official",
            origin=f"prop{n}",
            source_url="https://example.org",
            valid_from=lo,
            valid_to=hi,
        )
        with db.write() as conn:
            now = t + timedelta(seconds=next(_clock))
            done = record_belief(conn, belief, now=now, fill_gaps=fill)
            current = current_rows(conn, code, "kratom")
        spans = sorted(((r.valid_from or date.min), (r.valid_to or date.max)) for r in current)
        for (_, end), (begin, _) in itertools.pairwise(spans):
            assert end <= begin, f"overlap in current knowledge after op {n}"
        answers = _answers(db, code, done.knowledge_time)
        assert all(len(a) <= 1 for a in answers)
        seen.append((done.knowledge_time, answers))
    for known_at, answers in seen:
        assert _answers(db, code, known_at) == answers, "a past answer changed"
    assert _answers(db, code, None) == seen[-1][1] if seen else True


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(st.lists(op, min_size=1, max_size=8))
def test_history_invariants(
    empty_db: Database, ops: list[tuple[str, int | None, int | None, bool]]
) -> None:
    _check(empty_db, ops)
