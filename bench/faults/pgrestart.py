"""PostgreSQL restarted in the middle of a cycle with changes, under two daemon replicas.

The machine's own server is restarted (`pg_ctlcluster --skip-systemctl-redirect VERSION
main restart`) as soon as the first of 40 changed pages has been recorded, while the
replicas are checking the others and sending the first alerts. Every connection is cut;
the replicas retry with backoff (`/healthz` says degraded) and carry on when the server
is back. Work whose completion could not be committed is taken over when its lease runs
out: checks are simply done again (their results were never stored), and an outbox batch
already sent may be sent again, the crash window of each replica.

Whatever happens, the server is started again at the end if it is not running.
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import sqlalchemy as sa

from bench.faults.common import PG_ADMIN, DrillFailed, Result, wait_for
from bench.faults.drill import Drill

LEASES = {"check_lease": 5, "host_lease": 5, "dispatch_lease": 5, "db_retry_for": 120}
BATCH = 20  # dispatch_batch: the most one replica's crash window can repeat
REPLICAS = 2


def _cluster() -> list[str]:
    version = sorted(p.name for p in Path("/etc/postgresql").iterdir())[-1]
    return [version, "main"]


def pg_ctl(action: str) -> None:
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", *_cluster(), action],
        check=True,
        capture_output=True,
        timeout=120,
    )


def pg_answers() -> bool:
    engine = sa.create_engine(PG_ADMIN, connect_args={"connect_timeout": 2})
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.OperationalError:
        return False
    finally:
        engine.dispose()


def ensure_running() -> None:
    """Start the server if it is down; wait until it answers."""
    if pg_answers():
        return
    try:
        pg_ctl("start")
    except subprocess.CalledProcessError as exc:
        print(f"  pg_ctlcluster start: {exc.stderr.decode(errors='replace').strip()}")
    wait_for("PostgreSQL to answer again", pg_answers, 120)


def other_sessions(own: str) -> int:
    """Client sessions of other databases: other people's tests the restart would cut."""
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            return int(
                conn.execute(
                    sa.text(
                        "SELECT count(*) FROM pg_stat_activity WHERE backend_type = "
                        "'client backend' AND pid <> pg_backend_pid() AND datname <> :own"
                    ),
                    {"own": own},
                ).scalar_one()
            )
    finally:
        engine.dispose()


def pg_restart() -> Result:
    try:
        return _drill()
    finally:
        ensure_running()


def _drill() -> Result:
    with Drill(
        "PostgreSQL restarted mid-cycle", hosts=4, per_host=10, subscribers=5, webhook=True
    ) as d:
        try:
            own = sa.make_url(d.url).database or ""
            replicas = [
                d.start(n, host_delay=0.3, dispatch_batch=BATCH, **LEASES) for n in ("a", "b")
            ]
            d.baseline()
            d.bump(d.site.keys)
            wait_for("the first change", lambda: d.changes(), 60)
            before = len(d.changes())
            deadline = time.monotonic() + 60  # let other people's tests finish first
            while other_sessions(own) and time.monotonic() < deadline:
                time.sleep(0.5)
            others = other_sessions(own)
            t0 = time.monotonic()
            pg_ctl("restart")
            restart = time.monotonic() - t0
            d.record_status()  # right after the restart, as `tracker record` would
            d.settle(180)
            for r in replicas:
                if r.proc.poll() is not None:
                    raise DrillFailed(f"replica {r.name} exited with {r.proc.returncode}")
            degraded = sum(
                any("database unreachable" in (line.get("msg") or "") for line in r.logs())
                for r in replicas
            )
            for r in replicas:
                if r.stop() != 0:
                    raise DrillFailed(f"replica {r.name} did not stop cleanly")
        except DrillFailed as exc:
            return d.fail(exc)
        notes = (
            f"restarted ({restart:.1f} s) after {before} of {len(d.bumped)} changes were "
            f"recorded; {degraded} of {REPLICAS} replicas saw the outage and recovered"
        )
        if others:
            notes += f"; {others} other client session(s) were connected"
        return d.result(window=REPLICAS * BATCH, notes=notes)
