"""Faults a running daemon meets, with real processes: the database unreachable at start
and mid-run (retried with backoff, recovered, or a clear exit with status 3), a damaged
snapshot row (moved aside, the change still reported), and jumps of the wall clock
(libfaketime moves the daemon's clock an hour back and forth; checks go on)."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Templates
from tests.support.daemons import DaemonGroup, daemon_env, sqlite_data_dir, write_sources
from tests.support.pages import PageServer, Reply
from tests.support.tcpproxy import TcpProxy
from tests.support.waiting import wait_for as _wait
from tracker.storage.engine import Database, make_engine
from tracker.storage.tables_service import SNAPSHOT_QUARANTINE
from tracker.storage.tables_watch import PAGE_CHANGE, PAGE_CHECK, SNAPSHOT, SOURCE

FAKETIME = "/usr/lib/x86_64-linux-gnu/faketime/libfaketimeMT.so.1"


def _page(version: int) -> str:
    return f"<html><body><main><p>Kratom rule, version {version}.</p></main></body></html>"


def _logged(d: object, text: str) -> bool:
    return any(text in line.get("msg", "") for line in d.logs())  # type: ignore[attr-defined]


def _one_page_daemon(
    tmp_path: Path, page: str, database_url: str, **settings: Any
) -> dict[str, str]:
    """The environment of a daemon watching one page every 2 s, on `database_url`."""
    write_sources(
        tmp_path / "data",
        [{"key": "page", "place": "US-RI", "url": page, "kind": "html", "every": "2s"}],
    )
    return daemon_env(
        data_dir=tmp_path / "data",
        database_url=database_url,
        allow_loopback=1,
        min_every="1s",
        check_poll=0.3,
        host_delay=0,
        **settings,
    )


@pytest.mark.postgres
def test_database_unreachable_at_start_and_mid_run(pg_url: str, tmp_path: Path) -> None:
    url = sa.make_url(pg_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    db = Database(make_engine(pg_url))
    with PageServer() as site, proxy, DaemonGroup(tmp_path) as group:
        site.page("/rule", _page(1))
        env = _one_page_daemon(tmp_path, site.url("/rule"), through_proxy, db_retry_for=8)
        # At start the database is not there: the daemon waits, retrying with backoff.
        d = group.start("d", env)
        _wait("a retry at start", lambda: _logged(d, "database unreachable at start"))
        assert d.proc.poll() is None
        proxy.start()
        d.wait_ready()
        _wait("a first check", lambda: site.hits("/rule"))

        # Mid-run it goes away: /healthz says so; it comes back: work goes on.
        proxy.stop()
        _wait("the outage noticed", lambda: _logged(d, "database unreachable:"))
        status, body, _ = d.get("/healthz")
        assert status == 503 and b"degraded" in body
        assert d.get("/readyz")[0] == 503
        # Liveness stays 200: restarting the process would not bring the database back.
        status, body, _ = d.get("/livez")
        assert status == 200 and b"alive" in body
        # The public pages say the database does not answer, and nothing crashes.
        status, body, _ = d.get("/api/v1/places/US-AL")
        assert status == 503 and b"does not answer" in body
        proxy.start()
        _wait("recovery", lambda: _logged(d, "database reachable again"))
        _wait("/healthz ok", lambda: d.get("/healthz")[0] == 200)
        with db.read() as conn:
            before = conn.execute(sa.select(sa.func.count()).select_from(PAGE_CHECK)).scalar()
        _wait("checks after recovery", lambda: _count_checks(db) > before)

        # Away for longer than db_retry_for: a clear exit, status 3.
        proxy.stop()
        assert d.wait(180) == 3
        err = d.errors()
        assert "error: database unreachable for" in err and "TRACKER_DATABASE_URL" in err
    # Nothing stored was lost: every check recorded before the end is still there.
    assert _count_checks(db) >= before + 1
    db.dispose()


@pytest.mark.postgres
def test_a_check_cut_by_an_outage_gives_its_leases_back(pg_url: str, tmp_path: Path) -> None:
    """The database goes away while a check is fetching: the check cannot be stored and
    its leases (the source's, the host's) cannot be given back then. Once the database
    answers again they are, at once: checks resume long before `check_lease` (600 s)."""
    url = sa.make_url(pg_url)
    proxy = TcpProxy((url.host or "127.0.0.1", url.port or 5432))
    through_proxy = url.set(host="127.0.0.1", port=proxy.port).render_as_string(False)
    db = Database(make_engine(pg_url))
    with PageServer() as site, proxy, DaemonGroup(tmp_path) as group:
        site.route("/slow", lambda _: Reply(200, _page(1).encode(), delay=4))
        env = _one_page_daemon(
            tmp_path, site.url("/slow"), through_proxy, fetch_retries=0, db_retry_for=300
        )
        proxy.start()
        d = group.start("d", env).wait_ready()
        # The page answers after 4 s: cut the database while the daemon waits for it.
        _wait("the daemon fetching", lambda: site.hits("/slow"))
        proxy.stop()
        # The page arrives; storing the check fails: the work on the host ends there.
        _wait("the check cut", lambda: _logged(d, "cut by a database error"))
        with db.read() as conn:  # it still holds its source: no one could give it back
            held = conn.execute(sa.select(SOURCE.c.lease_owner)).scalar()
        assert held == d.owner
        before = _count_checks(db)
        proxy.start()
        _wait("recovery", lambda: _logged(d, "database reachable again"))
        _wait("the leases given back", lambda: _logged(d, "left by a database outage"))
        _wait("a check after recovery", lambda: _count_checks(db) > before)
        assert d.stop() == 0
    db.dispose()


def _count_checks(db: Database) -> int:
    with db.read() as conn:
        return int(conn.execute(sa.select(sa.func.count()).select_from(PAGE_CHECK)).scalar_one())


def test_unreachable_database_at_start_gives_up_clearly(tmp_path: Path) -> None:
    with TcpProxy(("127.0.0.1", 9)) as never:  # never started: nothing listens there
        env = daemon_env(
            data_dir=tmp_path / "data",
            database_url=f"postgresql+psycopg://tracker@127.0.0.1:{never.port}/tracker",
            db_retry_for=2,
        )
        with DaemonGroup(tmp_path) as group:
            d = group.start("d", env)
            assert d.wait(180) == 3
    err = d.errors()
    assert "error: database unreachable for" in err and "Check TRACKER_DATABASE_URL" in err
    assert "retrying in" in err  # it did retry before giving up


def test_damaged_snapshot_is_moved_aside_and_the_change_still_reported(
    tmp_path: Path, templates: Templates
) -> None:
    data = sqlite_data_dir(tmp_path, templates.sqlite_loaded)
    db = Database(make_engine(f"sqlite:///{data / 'tracker.db'}"))
    with PageServer() as site, DaemonGroup(tmp_path) as group:
        site.page("/rule", _page(1))
        site.page("/other", _page(7))
        write_sources(
            data,
            [
                {
                    "key": "rule",
                    "place": "US-RI",
                    "url": site.url("/rule"),
                    "kind": "html",
                    "every": "1s",
                },
                {
                    "key": "other",
                    "place": "US-RI",
                    "url": site.url("/other"),
                    "kind": "html",
                    "every": "1s",
                },
            ],
        )
        env = daemon_env(
            data_dir=data, allow_loopback=1, min_every="1s", check_poll=0.2, host_delay=0
        )
        d = group.start("d", env).wait_ready()
        _wait("a baseline", lambda: _current(db, "rule") is not None)
        old = _current(db, "rule")
        with db.write() as conn:  # a bad disk, a bad restore: the row no longer inflates
            conn.execute(SNAPSHOT.update().where(SNAPSHOT.c.sha == old).values(data=b"\x00junk"))
        status, body, _ = d.get(f"/snapshots/{old}")
        assert status == 500 and b"damaged" in body

        site.page("/rule", _page(2))  # the page changes: the diff needs the damaged text
        _wait("the change recorded", lambda: _changes(db, "rule"))
        with db.read() as conn:
            quarantined = conn.execute(sa.select(SNAPSHOT_QUARANTINE)).all()
        assert [q.sha for q in quarantined] == [old] and quarantined[0].data == b"\x00junk"
        change = _changes(db, "rule")[0]
        assert change.old_sha == old and "version 2" in change.unified_diff
        assert _logged(d, "is damaged")
        assert d.get(f"/snapshots/{old}")[0] == 404
        assert d.get(f"/snapshots/{_current(db, 'rule')}")[0] == 200
        # The other source (same host) is not held up by the damaged one: checked again.
        before = len(_checks(db, "other"))
        _wait("the other source checked again", lambda: len(_checks(db, "other")) > before)
        assert d.stop() == 0
    db.dispose()


def _current(db: Database, key: str) -> str | None:
    with db.read() as conn:
        return conn.execute(sa.select(SOURCE.c.current_sha).where(SOURCE.c.key == key)).scalar()


def _changes(db: Database, key: str) -> list[sa.Row[object]]:
    with db.read() as conn:
        return list(
            conn.execute(
                sa.select(PAGE_CHANGE)
                .join(SOURCE, SOURCE.c.id == PAGE_CHANGE.c.source_id)
                .where(SOURCE.c.key == key)
            ).all()
        )


def _checks(db: Database, key: str) -> list[sa.Row[object]]:
    with db.read() as conn:
        return list(
            conn.execute(
                sa.select(PAGE_CHECK)
                .join(SOURCE, SOURCE.c.id == PAGE_CHECK.c.source_id)
                .where(SOURCE.c.key == key)
                .order_by(PAGE_CHECK.c.id)
            ).all()
        )


def _real_sleep(folder: Path) -> Path:
    """A preload library that keeps time.sleep working under libfaketime (see its source)."""
    gcc = shutil.which("gcc")
    assert gcc, "gcc is missing: it builds tests/support/faketime_sleep.c"
    lib = folder / "faketime_sleep.so"
    source = Path(__file__).parent / "support" / "faketime_sleep.c"
    subprocess.run([gcc, "-shared", "-fPIC", "-O2", "-o", str(lib), str(source)], check=True)
    return lib


def test_clock_jumps_back_and_forth(tmp_path: Path, templates: Templates) -> None:
    assert os.path.exists(FAKETIME), "libfaketime is missing: tests/run installs faketime"
    preload = f"{_real_sleep(tmp_path)} {FAKETIME}"
    data = sqlite_data_dir(tmp_path, templates.sqlite_loaded)
    offset = tmp_path / "faketime"
    offset.write_text("+0\n")
    db = Database(make_engine(f"sqlite:///{data / 'tracker.db'}"))
    with PageServer() as site, DaemonGroup(tmp_path) as group:
        site.page("/rule", _page(1))
        write_sources(
            data,
            [
                {
                    "key": "rule",
                    "place": "US-RI",
                    "url": site.url("/rule"),
                    "kind": "html",
                    "every": "1s",
                }
            ],
        )
        env = daemon_env(
            data_dir=data,
            allow_loopback=1,
            min_every="1s",
            check_jitter=0,
            check_poll=0.2,
            host_delay=0,
            clock_jump=5,
        )
        # The daemon's wall clock comes from the file; its monotonic clock stays true.
        env.update(
            LD_PRELOAD=preload,
            FAKETIME_TIMESTAMP_FILE=str(offset),
            FAKETIME_NO_CACHE="1",
            DONT_FAKE_MONOTONIC="1",
        )
        d = group.start("d", env).wait_ready()
        _wait("two checks", lambda: len(_checks(db, "rule")) >= 2)

        for shift, direction in (("-3600", "backward"), ("+0", "forward")):
            offset.write_text(shift + "\n")
            noticed = f"jumped {direction}"
            _wait(f"the {direction} jump noticed", lambda n=noticed: _logged(d, n))
            seen = len(site.hits("/rule"))
            # Without repair a backward jump would hold every check for an hour: the
            # deadline (two minutes, for a busy machine) is far below that.
            _wait(
                f"checks after the {direction} jump",
                lambda seen=seen: len(site.hits("/rule")) >= seen + 2,
            )
        body = d.get("/metrics")[1]
        assert b'tracker_clock_jumps_total{direction="backward"} 1.0' in body
        assert b'tracker_clock_jumps_total{direction="forward"} 1.0' in body
        assert d.stop(signal.SIGTERM) == 0, d.errors()[-2000:]
    outcomes = [c.outcome for c in _checks(db, "rule")]
    assert outcomes[0] == "baseline" and set(outcomes[1:]) == {"not_modified"}
    db.dispose()
