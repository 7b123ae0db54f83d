"""A daily digest fanned out to 10,000 subscribers through a local aiosmtpd server
(target: all 10,000 delivered in under 60 s on this machine).

    .venv/bin/python bench/digest_fanout.py [--subscribers 10000] [--events 3]
        [--dispatchers 1] [--batch 20] [--starttls] [--pg postgresql+psycopg://...]

In a scratch database (SQLite by default): 10,000 confirmed daily subscribers to every
US state, three recorded status changes (each written with its 10,000 digest items in
its own transaction), then `digest.enqueue_due` at the digest hour (10,000 outbox rows),
then `Dispatcher.run` (leases, message building from the Jinja2 templates, one SMTP
connection per dispatcher, fenced completion). The SMTP server runs in its own process
and counts what it accepts by Message-ID, so "delivered" means accepted by the server,
each exactly once. Peak memory is the tracker process's maximum resident set size.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import re
import resource
import socket
import ssl
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tracker.alerts import digest
from tracker.alerts.dispatch import Dispatcher
from tracker.alerts.filters import DEFAULT_KINDS
from tracker.alerts.subscriptions import place_rows
from tracker.law.places import sync_places
from tracker.paths import jurisdictions_dir
from tracker.settings import load_settings
from tracker.storage.engine import Database, make_engine
from tracker.storage.schema import upgrade as migrate
from tracker.storage.tables_alerts import SUBSCRIBER, SUBSCRIBER_PLACE
from tracker.storage.tables_core import PLACE

TARGET_SECONDS = 60.0
_MSGID = re.compile(rb"^Message-ID: (<[^>]+>)", re.M | re.I)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def smtp_server(port: int, certs: tuple[str, str] | None, ready: Any, stop: Any, out: Any) -> None:
    """Child process: aiosmtpd counting accepted messages by Message-ID."""
    from aiosmtpd.controller import Controller

    seen: list[bytes] = []

    class Counter:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            m = _MSGID.search(envelope.content)
            seen.append(m.group(1) if m else b"?")
            return "250 OK"

    kwargs: dict[str, Any] = {}
    if certs:
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(*certs)
        kwargs.update(tls_context=ctx, require_starttls=True)
    controller = Controller(Counter(), hostname="127.0.0.1", port=port, **kwargs)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    out.put((len(seen), len(set(seen))))


def make_certs(folder: Path) -> tuple[str, str, str]:
    import trustme

    ca = trustme.CA()
    cert = ca.issue_cert("127.0.0.1")
    paths = [str(folder / n) for n in ("ca.pem", "cert.pem", "key.pem")]
    ca.cert_pem.write_to_path(paths[0])
    cert.cert_chain_pems[0].write_to_path(paths[1])
    cert.private_key_pem.write_to_path(paths[2])
    return paths[0], paths[1], paths[2]


def prepare(db: Database, subscribers: int, events: int, slot: datetime) -> dict[str, float]:
    from tests.support.alerting import record

    migrate(db)
    with db.write() as conn:
        sync_places(conn, jurisdictions_dir())
        states = sorted(
            conn.execute(sa.select(PLACE.c.code).where(PLACE.c.code.like("US-%"))).scalars()
        )
        now = datetime.now(UTC)
        conn.execute(
            SUBSCRIBER.insert(),
            [
                {
                    "email": f"reader{n}@example.org",
                    "name": None,
                    "place_specs": ["US-*"],
                    "place_codes": states,
                    "substances": [],
                    "kinds": list(DEFAULT_KINDS),
                    "min_importance": "minor",
                    "cadence": "daily",
                    "hour": 8,
                    "weekday": 0,
                    "tz": "UTC",
                    "status": "active",
                    "created_at": now,
                    "confirmed_at": now,
                    "digest_since": now,
                    "next_digest_at": slot,
                }
                for n in range(subscribers)
            ],
        )
        # The rows `subscriptions.subscribe` would write beside each subscriber: the
        # outbox fan-out finds subscribers through them.
        ids = conn.execute(sa.select(SUBSCRIBER.c.id)).scalars().all()
        conn.execute(SUBSCRIBER_PLACE.insert(), [r for i in ids for r in place_rows(i, states)])
    figures: dict[str, float] = {}
    t = time.perf_counter()
    for code, status in [("US-RI", "regulated"), ("US-LA", "banned"), ("US-FL", "restricted")][
        :events
    ]:
        record(db, code, status, start="2026-04-01", min_age=21 if status == "regulated" else None)
    figures["emit"] = time.perf_counter() - t
    t = time.perf_counter()
    figures["enqueued"] = digest.enqueue_due(db, now=slot)
    figures["enqueue"] = time.perf_counter() - t
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--events", type=int, default=3, choices=(1, 2, 3))
    parser.add_argument("--dispatchers", type=int, default=1)
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--starttls", action="store_true", help="STARTTLS instead of a relay")
    parser.add_argument("--pg", help="PostgreSQL admin URL (a scratch database is created)")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="digest-fanout-"))
    pg_name = None
    if args.pg:
        pg_name = f"bench_{uuid.uuid4().hex[:10]}"
        admin = sa.create_engine(args.pg, isolation_level="AUTOCOMMIT")
        with admin.connect() as c:
            c.exec_driver_sql(f'CREATE DATABASE "{pg_name}"')
        url = sa.make_url(args.pg).set(database=pg_name).render_as_string(hide_password=False)
    else:
        url = f"sqlite:///{work / 'bench.db'}"
    db = Database(make_engine(url))
    slot = (datetime.now(UTC) - timedelta(minutes=1)).replace(second=0, microsecond=0)
    figures = prepare(db, args.subscribers, args.events, slot)
    print(
        f"setup: {args.events} events fanned out to {args.subscribers} digest subscribers in "
        f"{figures['emit']:.2f} s; {int(figures['enqueued'])} digests enqueued in "
        f"{figures['enqueue']:.2f} s"
    )

    port = free_port()
    certs = make_certs(work) if args.starttls else None
    ready, stop, out = mp.Event(), mp.Event(), mp.Queue()
    server = mp.Process(
        target=smtp_server, args=(port, certs[1:] if certs else None, ready, stop, out)
    )
    server.start()
    ready.wait(30)
    settings = load_settings().replace(
        data_dir=str(work),
        smtp_host="127.0.0.1",
        smtp_port=port,
        smtp_tls="starttls" if certs else "none",
        smtp_ca_file=certs[0] if certs else "",
        mail_from="digest@tracker.test",
    )
    workers = [Dispatcher(db, settings, batch=args.batch) for _ in range(args.dispatchers)]
    results: list[Any] = [None] * len(workers)

    def run(n: int) -> None:
        results[n] = workers[n].run()

    t = time.perf_counter()
    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(workers))]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    elapsed = time.perf_counter() - t
    stop.set()
    received, unique = out.get(timeout=30)
    server.join(10)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    sent = sum(r.sent for r in results)
    backend = "PostgreSQL" if args.pg else "SQLite"
    mode = "STARTTLS" if certs else "local relay (no TLS)"
    print(
        f"{backend}, {mode}, {args.dispatchers} dispatcher(s), batch {args.batch}: "
        f"{sent} sent, server accepted {received} ({unique} distinct Message-IDs)"
    )
    verdict = "met" if unique == args.subscribers and elapsed < TARGET_SECONDS else "NOT met"
    print(
        f"delivery: {elapsed:.1f} s, {sent / elapsed:.0f} messages/s; peak memory "
        f"{peak_mb:.0f} MB; target all {args.subscribers} in < {TARGET_SECONDS:.0f} s: {verdict}"
    )
    db.dispose()
    if pg_name:
        with admin.connect() as c:
            c.exec_driver_sql(f'DROP DATABASE IF EXISTS "{pg_name}" WITH (FORCE)')


if __name__ == "__main__":
    main()
