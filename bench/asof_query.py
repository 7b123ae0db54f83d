"""As-of queries over a history of one million status records, on SQLite and PostgreSQL
(target: median under 2 ms each).

    .venv/bin/python bench/asof_query.py [--records 1000000] [--queries 2000]
        [--pg postgresql+psycopg://postgres@127.0.0.1:5432/test]

Builds the history in a scratch SQLite file and a scratch PostgreSQL database: every
place and substance gets a long chain of versions, each superseding the one before (the
worst case for knowledge-time queries). Then it times, per backend:
- `as-of`: the rows valid on a random day, as known now (what `tracker status --as-of`
  reads), for a random place;
- `as-of + known-at`: the same at a random past knowledge time;
- `effective()`: the whole `tracker status` answer (chain, rows, pending measures).
"""

from __future__ import annotations

import argparse
import random
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

from tracker.law import places
from tracker.law.asof import rows_at
from tracker.law.effective import effective
from tracker.paths import jurisdictions_dir
from tracker.storage.engine import Database, make_engine
from tracker.storage.schema import upgrade as migrate
from tracker.storage.tables_core import STATUS

BASE = datetime(2020, 1, 1, tzinfo=UTC)
STATUSES = ["banned", "restricted", "regulated", "legal"]
COLUMNS = [
    "place_code",
    "substance",
    "status",
    "conditions",
    "valid_from",
    "valid_from_precision",
    "source_tier",
    "verify",
    "origin",
    "assertion_id",
    "recorded_at",
    "superseded_at",
    "source_url",
]


def rows(codes: list[str], total: int, rng: random.Random):  # type: ignore[no-untyped-def]
    timelines = [(c, s) for c in codes for s in ("kratom", "7-OH")]
    per = max(1, total // len(timelines))
    for code, substance in timelines:
        for i in range(per):
            recorded = BASE + timedelta(seconds=i)
            superseded = BASE + timedelta(seconds=i + 1) if i < per - 1 else None
            start = date(2000, 1, 1) + timedelta(days=rng.randrange(9000)) if i % 3 else None
            yield (
                code,
                substance,
                rng.choice(STATUSES),
                "[]",
                start,
                "day" if start else None,
                "official",
                False,
                "bench",
                None,
                recorded.replace(tzinfo=None),
                superseded.replace(tzinfo=None) if superseded else None,
                "https://example.org",
            )


def build(db: Database, total: int) -> tuple[list[str], datetime]:
    migrate(db)
    with db.write() as conn:
        places.sync_places(conn, jurisdictions_dir())
        codes = [c for c in conn.execute(sa.select(sa.text("code FROM place"))).scalars()]
    rng = random.Random(7)
    raw = db.engine.raw_connection()
    try:
        cur = raw.cursor()
        if db.is_postgres:
            with cur.copy(f"COPY status_record ({', '.join(COLUMNS)}) FROM STDIN") as copy:  # type: ignore[attr-defined]
                for row in rows(codes, total, rng):
                    copy.write_row(row)
            cur.execute("ANALYZE status_record")
        else:
            cur.execute("BEGIN")
            marks = ", ".join("?" for _ in COLUMNS)
            cur.executemany(
                f"INSERT INTO status_record ({', '.join(COLUMNS)}) VALUES ({marks})",
                (
                    (*r[:10], r[10].isoformat(" "), r[11].isoformat(" ") if r[11] else None, r[12])
                    for r in rows(codes, total, rng)
                ),
            )
            cur.execute("COMMIT")
            cur.execute("ANALYZE")
        raw.commit()
    finally:
        raw.close()
    per = max(1, total // (len(codes) * 2))
    return codes, BASE + timedelta(seconds=per)


def timeit(fn: Callable[[], object], n: int) -> tuple[float, float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - start)
    samples.sort()
    return statistics.median(samples) * 1000, samples[int(len(samples) * 0.95)] * 1000


def measure(name: str, db: Database, total: int, queries: int) -> None:
    start = time.perf_counter()
    codes, last = build(db, total)
    with db.read() as conn:
        count = conn.execute(sa.select(sa.func.count()).select_from(STATUS)).scalar_one()
    print(f"{name}: {count:,} records built in {time.perf_counter() - start:.0f}s")
    rng = random.Random(11)
    with db.engine.connect() as conn:

        def as_of() -> object:
            day = date(2000, 1, 1) + timedelta(days=rng.randrange(9500))
            return rows_at(conn, [rng.choice(codes)], ["kratom", "7-OH"], day, None)

        def known_at() -> object:
            day = date(2000, 1, 1) + timedelta(days=rng.randrange(9500))
            when = BASE + (last - BASE) * rng.random()
            return rows_at(conn, [rng.choice(codes)], ["kratom", "7-OH"], day, when)

        by_code = {p.code: p for p in places.all_places(conn)}

        def full() -> object:
            day = date(2000, 1, 1) + timedelta(days=rng.randrange(9500))
            return effective(conn, by_code[rng.choice(codes)], "kratom", day)

        for label, fn in (
            ("as-of (known now)", as_of),
            ("as-of + known-at", known_at),
            ("effective() whole answer", full),
        ):
            timeit(fn, 50)
            med, p95 = timeit(fn, queries)
            verdict = "met" if med < 2 else "NOT met"
            print(
                f"  {label:28} median {med:6.3f} ms  p95 {p95:6.3f} ms"
                f"  (target median < 2 ms: {verdict})"
            )
        conn.rollback()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--queries", type=int, default=2000)
    parser.add_argument("--pg", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    args = parser.parse_args()
    print(f"# as-of queries over {args.records:,} records, {date.today()}")
    with tempfile.TemporaryDirectory() as tmp:
        db = Database(make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}"))
        measure("SQLite", db, args.records, args.queries)
        db.dispose()
    admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
    name = f"tracker_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        db = Database(
            make_engine(
                sa.make_url(args.pg).set(database=name).render_as_string(hide_password=False)
            )
        )
        measure("PostgreSQL", db, args.records, args.queries)
        db.dispose()
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


if __name__ == "__main__":
    main()
