"""What the daemon does besides checking pages: alerts and digests at the subscriber's
hour, `effective` events on the right day, exports regenerated after each change (a real
daemon process, mail to the local folder); and the parts under it: singleton jobs that
one replica runs per slot, clock-jump detection and repair, database backoff."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from collections import Counter
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path

import sqlalchemy as sa

from tests.conftest import Templates
from tests.support.alerting import make_settings, record, subscribe
from tests.support.daemons import DaemonGroup, daemon_env, sqlite_data_dir
from tests.support.waiting import wait_for as _wait
from tracker.errors import StorageError
from tracker.paths import jurisdictions_dir
from tracker.service import jobs
from tracker.service.clockwatch import ClockWatch, clamp_schedule, extend_own_leases
from tracker.service.daemon_config import DaemonConfig
from tracker.storage import lease
from tracker.storage.engine import Database, make_engine
from tracker.storage.health import DbHealth
from tracker.storage.tables_alerts import SUBSCRIBER
from tracker.storage.tables_core import EVENT
from tracker.storage.tables_service import DAEMON_JOB
from tracker.storage.tables_watch import HOST, SOURCE
from tracker.timeutil import utcnow
from tracker.watch.sources import sync


def _mails(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.glob("*.eml")):
        msg = message_from_bytes(path.read_bytes(), policy=default)
        out[path.stem] = f"{msg['To']}|{msg['Subject']}"
    return out


def test_alerts_digest_reminders_and_exports(tmp_path: Path, templates: Templates) -> None:
    data = sqlite_data_dir(tmp_path, templates.sqlite_loaded)
    db = Database(make_engine(f"sqlite:///{data / 'tracker.db'}"))
    today = utcnow().date().isoformat()
    now_sid = subscribe(db, "now@example.org", places=["US-RI"])
    daily_sid = subscribe(db, "daily@example.org", places=["US-RI"], cadence="daily", hour=8)
    record(db, "US-RI", "banned", start=today)  # a rule that takes effect today
    with db.write() as conn:  # the daily subscriber's local hour has come
        conn.execute(
            SUBSCRIBER.update()
            .where(SUBSCRIBER.c.id == daily_sid)
            .values(next_digest_at=utcnow() - timedelta(minutes=1))
        )
    env = daemon_env(data_dir=data, dispatch_poll=0.3, digest_poll=0.5, export_poll=0.5)
    exports = data / "exports"
    with DaemonGroup(tmp_path) as group:
        d = group.start("d", env).wait_ready()

        def delivered() -> bool:
            mails = _mails(data / "mail")
            return sum(f"email.{now_sid}" in k for k in mails) == 2 and any(
                k.startswith(f"digest.{daily_sid}.") for k in mails
            )

        _wait("two alerts and a digest", delivered)
        _wait("the exports", lambda: (exports / "status.json").exists())
        status = _status(exports, "US-RI")
        assert status["status"] == "banned"

        record(db, "US-RI", "regulated", start=today, min_age=21)  # while it runs
        _wait("the exports regenerated", lambda: _status(exports, "US-RI")["status"] == "regulated")
        assert _status(exports, "US-RI")["min_age"] == 21
        assert d.stop() == 0
    mails = _mails(data / "mail")
    subjects = [v for k, v in mails.items() if f"email.{now_sid}" in k]
    assert any("takes effect today" in s for s in subjects), subjects
    with db.read() as conn:
        kinds = Counter(conn.execute(sa.select(EVENT.c.kind)).scalars())
    assert kinds["effective"] == 1  # once, whatever the number of runs or replicas
    db.dispose()


def _status(folder: Path, code: str) -> dict[str, object]:
    doc = json.loads((folder / "status.json").read_text())
    return next(p for p in doc["places"] if p["place"]["code"] == code)


def _config(**changes: object) -> DaemonConfig:
    return dataclasses.replace(DaemonConfig.from_settings(make_settings()), **changes)


def test_each_singleton_slot_runs_once(empty_db: Database) -> None:
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def count(ctx: jobs.Context) -> str:
        with lock:
            runs["tick"] += 1
        time.sleep(0.05)  # long enough for the other replicas to try the same slot
        return "counted"

    table = {
        "tick": jobs.Job(
            "tick", count, lambda c: timedelta(hours=1), lambda at, c: at + timedelta(hours=1)
        )
    }
    ctx = jobs.Context(empty_db, make_settings(), _config())
    jobs.ensure(empty_db, table)
    jobs.ensure(empty_db, table)  # idempotent

    def replica(n: int) -> None:
        for _ in range(5):
            jobs.run_due(ctx, f"replica-{n}", table)

    threads = [threading.Thread(target=replica, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert runs["tick"] == 1
    with empty_db.read() as conn:
        row = conn.execute(sa.select(DAEMON_JOB).where(DAEMON_JOB.c.name == "tick")).one()
    assert row.runs == 1 and row.lease_owner is None
    assert row.next_run_at > utcnow() + timedelta(minutes=59)


def test_a_crashed_jobs_slot_is_run_by_another_replica(empty_db: Database) -> None:
    table = {
        "tick": jobs.Job(
            "tick",
            lambda ctx: "ok",
            lambda c: timedelta(hours=1),
            lambda at, c: at + timedelta(hours=1),
        )
    }
    ctx = jobs.Context(empty_db, make_settings(), _config(job_lease=timedelta(seconds=1)))
    jobs.ensure(empty_db, table)
    assert lease.claim(
        empty_db, DAEMON_JOB, "dead", lease_for=timedelta(seconds=1), due_column="next_run_at"
    )  # then it dies without completing
    assert jobs.run_due(ctx, "alive", table) == []  # still leased
    time.sleep(1.1)
    assert [name for name, _ in jobs.run_due(ctx, "alive", table)] == ["tick"]


def test_clock_watch_tells_jumps_from_drift() -> None:
    wall, mono = [1000.0], [50.0]
    jumps: list[float] = []
    watch = ClockWatch(5.0, jumps.append, wall=lambda: wall[0], mono=lambda: mono[0])
    wall[0] += 1.2
    mono[0] += 1.0  # 0.2 s of drift: not a jump
    assert watch.check() is None
    wall[0] -= 3600 - 1
    mono[0] += 1
    assert watch.check() == -3600
    wall[0] += 3601
    mono[0] += 1
    assert watch.check() == 3600
    assert jumps == [-3600, 3600]


def test_clamp_schedule_after_a_backward_jump(empty_db: Database, tmp_path: Path) -> None:
    (tmp_path / "sources.yaml").write_text(
        "sources:\n  - key: hourly\n    place: US-RI\n    url: https://a.test/x\n"
        "    kind: html\n    every: 1h\n"
    )
    sync(empty_db, jurisdictions_dir(), tmp_path)
    now = utcnow()
    later = now + timedelta(hours=5)  # written by a clock that ran 4 h ahead
    with empty_db.write() as conn:
        conn.execute(
            SOURCE.update().values(next_check_at=later, lease_owner="x", lease_until=later)
        )
        conn.execute(HOST.insert().values(name="https://a.test", next_allowed_at=later))
    subscribe(empty_db, "d@example.org", cadence="daily", hour=3)
    with empty_db.write() as conn:
        conn.execute(SUBSCRIBER.update().values(next_digest_at=now + timedelta(days=3)))
    jobs.ensure(empty_db, now=now + timedelta(hours=10))
    leases = {SOURCE: timedelta(minutes=10), HOST: timedelta(minutes=5)}
    changed = clamp_schedule(
        empty_db,
        now,
        leases=leases,
        periods={"retention": timedelta(hours=6)},
        default_every="24h",
        host_delay=2.0,
    )
    assert changed >= 5
    with empty_db.read() as conn:
        src = conn.execute(sa.select(SOURCE).where(SOURCE.c.key == "hourly")).one()
        assert src.next_check_at <= now + timedelta(hours=1.2)
        assert src.lease_until == now + timedelta(minutes=10)
        host = conn.execute(sa.select(HOST).where(HOST.c.name == "https://a.test")).one()
        assert host.next_allowed_at == now + timedelta(seconds=2)
        job = conn.execute(sa.select(DAEMON_JOB).where(DAEMON_JOB.c.name == "retention")).one()
        assert job.next_run_at == now + timedelta(hours=6)
        sub = conn.execute(sa.select(SUBSCRIBER.c.next_digest_at)).scalar_one()
        assert sub <= now + timedelta(days=1)
    assert (
        clamp_schedule(
            empty_db, now, leases=leases, periods={}, default_every="24h", host_delay=2.0
        )
        == 0
    )  # idempotent
    assert extend_own_leases(empty_db, "x", leases, now + timedelta(minutes=1)) >= 1


def test_database_backoff_then_give_up() -> None:
    clock = [0.0]
    health = DbHealth(retry_for=10, clock=lambda: clock[0])
    assert health.should_try() and health.up
    health.failed(StorageError("database error: connection refused"))
    tries = []
    for step in range(60):
        clock[0] = step * 0.5
        if health.should_try():
            tries.append(clock[0])
    assert tries[:4] == [1.0, 2.0, 4.0, 8.0]  # backoff doubles
    assert health.given_up() and "connection refused" in health.last_error
    health.ok()
    assert health.up and not health.given_up()
