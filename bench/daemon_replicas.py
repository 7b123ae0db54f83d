"""Daemon benchmark: one replica versus three on PostgreSQL, 2,000 local sources.

    .venv/bin/python bench/daemon_replicas.py [--sources 2000] [--hosts 50] [--every 60]
        [--cycles 2] [--replicas 1,3] [--host-delay 0.1] [--size 8000]

For each replica count, in a fresh PostgreSQL database, real `tracker run` processes
watch `--sources` pages served by one asyncio process on `--hosts` loopback addresses
(`bench/watch_cycle.py --serve`), each page every `--every` seconds, politely
(`--host-delay` between two requests to one host, across replicas):

1. **Steady state**: the first due times are spread evenly over one interval, so the
   configured rate is sources / every checks per second. For `--cycles` intervals, every
   check's **scheduling lag** is its start minus its due time (the source's
   `next_check_at`: the previous check's start plus the interval, jitter off), read
   from the `page_check` table; the achieved checks per second is the number of checks
   due in the window over its length. The same data proves no source was checked twice
   in one interval and none was missed.
2. **Burst**: every source is made due at once; the time until each has been checked
   gives the most checks per second the replicas manage (with politeness).

Target: scheduling lag under one second (99th percentile) at the configured rate.
Figures go to bench/RESULTS.md by hand, with the date.
"""

from __future__ import annotations

import argparse
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))

from tracker.law.bootstrap import ensure_ready  # noqa: E402
from tracker.paths import jurisdictions_dir  # noqa: E402
from tracker.storage.engine import Database, make_engine  # noqa: E402
from tracker.storage.tables_watch import PAGE_CHECK, SOURCE  # noqa: E402
from tracker.timeutil import utcnow  # noqa: E402
from tracker.watch import policy  # noqa: E402
from tracker.watch.sources import sync  # noqa: E402

ADMIN = os.environ.get("TRACKER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def url_of(name: str) -> str:
    return sa.make_url(ADMIN).set(database=name).render_as_string(hide_password=False)


def admin(sql: str) -> None:
    engine = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.exec_driver_sql(sql)
    engine.dispose()


def start_pages(args: argparse.Namespace) -> subprocess.Popen[str]:
    cmd = [
        sys.executable,
        str(HERE / "watch_cycle.py"),
        "--serve",
        f"--pages={args.sources}",
        f"--hosts={args.hosts}",
        f"--size={args.size}",
        f"--port={args.port}",
    ]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        raise SystemExit("the page server did not start")
    return proc


def prepare(args: argparse.Namespace, data: Path, name: str, t0_lead: float) -> Database:
    """A loaded database, the sources synced, first due times spread over one interval."""
    admin(f'CREATE DATABASE "{name}"')
    db = Database(make_engine(url_of(name)))
    ensure_ready(db)
    lines = ["sources:"]
    for i in range(args.sources):
        lines += [
            f"  - key: b-{i:05d}",
            "    place: US-TX",
            f"    url: http://127.0.0.{2 + i % args.hosts}:{args.port}/p/{i}",
            "    kind: html",
            "    select: [main]",
            f"    every: {args.every}s",
        ]
    data.mkdir(parents=True, exist_ok=True)
    (data / "sources.yaml").write_text("\n".join(lines) + "\n")
    policy.configure(min_every=timedelta(seconds=1), jitter=0.0)
    sync(db, jurisdictions_dir(), data)
    start = utcnow() + timedelta(seconds=t0_lead)
    order = list(range(args.sources))
    random.Random(5).shuffle(order)
    with db.write() as conn:
        ids = dict(conn.execute(sa.select(SOURCE.c.key, SOURCE.c.id)).all())
        step = args.every / args.sources
        conn.execute(
            SOURCE.update()
            .where(SOURCE.c.id == sa.bindparam("b_id"))
            .values(next_check_at=sa.bindparam("b_due")),
            [
                {"b_id": ids[f"b-{i:05d}"], "b_due": start + timedelta(seconds=k * step)}
                for k, i in enumerate(order)
            ],
        )
    return db


def start_replicas(
    n: int, db_url: str, data: Path, args: argparse.Namespace
) -> list[subprocess.Popen[bytes]]:
    env = {
        **os.environ,
        "TRACKER_DATABASE_URL": db_url,
        "TRACKER_DATA_DIR": str(data),
        "TRACKER_ALLOW_LOOPBACK": "1",
        "TRACKER_SHIPPED_SOURCES": "false",  # real sites: never contacted here
        "TRACKER_MIN_EVERY": "1s",
        "TRACKER_CHECK_JITTER": "0",
        "TRACKER_HOST_DELAY": str(args.host_delay),
        "TRACKER_EXPORT_POLL": "0",
        "TRACKER_HTTP_PORT": "0",
        "TRACKER_LOG_LEVEL": "WARNING",
        "TRACKER_LOG_FORMAT": "json",
    }
    procs = []
    for k in range(n):
        log = open(data / f"replica-{k}.log", "wb")  # noqa: SIM115 (closed with the process)
        procs.append(
            subprocess.Popen(
                [sys.executable, "-m", "tracker", "run"],
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=log,
            )
        )
    return procs


def checks_by_source(db: Database) -> dict[str, list[float]]:
    with db.read() as conn:
        rows = conn.execute(
            sa.select(SOURCE.c.key, PAGE_CHECK.c.started_at)
            .join(SOURCE, SOURCE.c.id == PAGE_CHECK.c.source_id)
            .where(SOURCE.c.key.like("b-%"))
            .order_by(PAGE_CHECK.c.started_at)
        ).all()
    out: dict[str, list[float]] = {}
    for key, at in rows:
        out.setdefault(key, []).append(at.timestamp())
    return out


def steady(
    checks: dict[str, list[float]],
    first_due: dict[str, float],
    window: tuple[float, float],
    every: float,
) -> dict[str, float]:
    """Lags of every check due inside `window`, and the integrity counts."""
    lags, missed, doubled = [], 0, 0
    for key, due in first_due.items():
        for started in checks.get(key, []):
            if started < due - 0.001:
                doubled += 1  # checked before it was due again: twice in one interval
                continue
            if due >= window[1]:
                break
            lags.append(started - due)
            due = started + every
        else:
            if due < window[1]:
                missed += 1
    lags.sort()
    q = statistics.quantiles(lags, n=100)
    return {
        "checks": len(lags),
        "rate": len(lags) / (window[1] - window[0]),
        "p50": statistics.median(lags),
        "p95": q[94],
        "p99": q[98],
        "max": lags[-1],
        "missed": missed,
        "doubled": doubled,
    }


def burst(db: Database, n_sources: int, timeout: float) -> float:
    """Make every source due now; seconds until each has been checked again."""
    now = utcnow()
    with db.write() as conn:
        conn.execute(SOURCE.update().where(SOURCE.c.key.like("b-%")).values(next_check_at=now))
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        with db.read() as conn:
            done = conn.execute(
                sa.select(sa.func.count(sa.distinct(PAGE_CHECK.c.source_id)))
                .join(SOURCE, SOURCE.c.id == PAGE_CHECK.c.source_id)
                .where(SOURCE.c.key.like("b-%"), PAGE_CHECK.c.started_at >= now)
            ).scalar_one()
        if done >= n_sources:
            with db.read() as conn:
                last = conn.execute(
                    sa.select(sa.func.max(PAGE_CHECK.c.started_at)).where(
                        PAGE_CHECK.c.started_at >= now
                    )
                ).scalar_one()
            return (last - now).total_seconds()
        time.sleep(0.2)
    raise SystemExit(f"burst: not every source checked within {timeout} s")


def run(n: int, args: argparse.Namespace) -> dict[str, float]:
    name = f"bench_daemon_{n}_{uuid.uuid4().hex[:8]}"
    with tempfile.TemporaryDirectory(prefix="tracker-bench-") as tmp:
        data = Path(tmp) / "data"
        lead = 8.0  # time for the replicas to start before the first source is due
        db = prepare(args, data, name, lead)
        with db.read() as conn:
            first_due = {
                k: d.timestamp()
                for k, d in conn.execute(
                    sa.select(SOURCE.c.key, SOURCE.c.next_check_at).where(SOURCE.c.key.like("b-%"))
                ).all()
            }
        start = min(first_due.values())
        window = (start, start + args.cycles * args.every)
        procs = start_replicas(n, url_of(name), data, args)
        try:
            while time.time() < window[1] + 5:
                time.sleep(0.5)
                for p in procs:
                    if p.poll() is not None:
                        raise SystemExit(f"a replica exited with {p.returncode}; see {data}")
            figures = steady(checks_by_source(db), first_due, window, args.every)
            figures["burst_s"] = burst(db, args.sources, timeout=300)
            figures["burst_rate"] = args.sources / figures["burst_s"]
        finally:
            for p in procs:
                p.send_signal(signal.SIGTERM)
            for p in procs:
                try:
                    p.wait(60)
                except subprocess.TimeoutExpired:
                    p.kill()
            db.dispose()
            admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return figures


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sources", type=int, default=2000)
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--every", type=int, default=60, help="seconds between two checks of a page")
    p.add_argument("--cycles", type=int, default=2)
    p.add_argument("--replicas", default="1,3")
    p.add_argument("--host-delay", type=float, default=0.1)
    p.add_argument("--size", type=int, default=8000)
    p.add_argument("--port", type=int, default=8747)
    args = p.parse_args()
    # Stopped by a signal, clean up anyway (replicas, page server, scratch databases); a
    # background shell starts us with SIGINT ignored, so set both handlers here.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    pages = start_pages(args)
    configured = args.sources / args.every
    rows = []
    try:
        for n in [int(x) for x in args.replicas.split(",")]:
            print(f"{n} replica(s): {args.cycles} intervals of {args.every} s ...", flush=True)
            rows.append((n, run(n, args)))
    finally:
        pages.terminate()
        pages.wait(30)
    print(
        f"\n{args.sources} sources on {args.hosts} hosts, every {args.every} s "
        f"(configured rate {configured:.1f} checks/s), host_delay {args.host_delay} s, "
        f"pages of {args.size} B; PostgreSQL"
    )
    print(
        "replicas | checks | checks/s | lag p50 | p95 | p99 | max | missed | twice | "
        "target p99 < 1 s | burst: all due at once"
    )
    for n, f in rows:
        verdict = "met" if f["p99"] < 1.0 else "NOT met"
        print(
            f"{n:8} | {f['checks']:6.0f} | {f['rate']:8.1f} | {f['p50']:6.3f} s | "
            f"{f['p95']:.3f} s | {f['p99']:.3f} s | {f['max']:.3f} s | {f['missed']:6.0f} | "
            f"{f['doubled']:5.0f} | {verdict:16} | {args.sources} in {f['burst_s']:.1f} s = "
            f"{f['burst_rate']:.0f} checks/s"
        )


if __name__ == "__main__":
    main()
