"""Loading the shipped data into a fresh database, stage by stage, and the check that an
already loaded database costs on every command (target: a few seconds at most for the
whole first load; the check well under the 50 ms a command may spend before its work).

    .venv/bin/python bench/data_load.py [--runs 5] [--postgres URL]

Each run starts from an empty SQLite file (and, with --postgres, a new database on that
server): migrations, then places, then every record file, then `ensure_ready` again
(nothing changed: digests only, nothing parsed). Medians are printed side by side.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import date
from pathlib import Path

import sqlalchemy as sa

from tracker.law.bootstrap import PLACES_KEY, ensure_ready
from tracker.law.loader import load_records
from tracker.law.places import places_digest, sync_places
from tracker.paths import jurisdictions_dir
from tracker.storage.engine import Database, make_engine, migrate
from tracker.storage.tables_core import DATA_FILE, STATUS
from tracker.timeutil import utcnow


def _timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def one_run(url: str) -> dict[str, float]:
    root = jurisdictions_dir()
    db = Database(make_engine(url))
    try:
        out = {"migrate": _timed(lambda: migrate(db))}

        def places() -> None:
            with db.write() as conn:
                sync_places(conn, root)
                conn.execute(
                    DATA_FILE.insert().values(
                        path=PLACES_KEY, sha256=places_digest(root), loaded_at=utcnow()
                    )
                )

        out["places"] = _timed(places)
        out["records"] = _timed(lambda: load_records(db, root))
        out["check (loaded)"] = _timed(lambda: ensure_ready(db, root))
        with db.read() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(STATUS)).scalar_one()
        assert rows > 190, rows
        out["total"] = out["migrate"] + out["places"] + out["records"]
        return out
    finally:
        db.dispose()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--postgres", metavar="URL", help="an admin URL, e.g. ...@127.0.0.1/test")
    args = parser.parse_args()
    results: dict[str, list[dict[str, float]]] = {"sqlite": []}
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            results["sqlite"].append(one_run(f"sqlite:///{Path(tmp) / 'tracker.db'}"))
    if args.postgres:
        results["postgresql"] = []
        admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
        for _ in range(args.runs):
            name = f"bench_load_{uuid.uuid4().hex[:10]}"
            with admin.connect() as conn:
                conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
            try:
                url = sa.make_url(args.postgres).set(database=name)
                results["postgresql"].append(one_run(url.render_as_string(hide_password=False)))
            finally:
                with admin.connect() as conn:
                    conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()
    stages = ["migrate", "places", "records", "total", "check (loaded)"]
    print(f"# shipped data into a fresh database, {date.today()}, median of {args.runs} runs")
    print(f"{'stage':18}" + "".join(f"{backend:>14}" for backend in results))
    for stage in stages:
        cells = [statistics.median(r[stage] for r in runs) for runs in results.values()]
        print(f"{stage:18}" + "".join(f"{c * 1000:12.0f}ms" for c in cells))
    worst = max(statistics.median(r["total"] for r in runs) for runs in results.values())
    verdict = "met" if worst < 5 else "NOT met"
    print(f"first load: {worst:.2f} s (target: a few seconds at most: {verdict})")


if __name__ == "__main__":
    main()
