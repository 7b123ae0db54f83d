"""The daemon as an operator runs it: a real `python -m tracker run` process on SQLite
against local pages. A clean stop on SIGTERM (in-flight check finished, every lease
released), the HTTP endpoint (/healthz, /metrics, /status.json, /snapshots/<sha>, the
mail links), and the bad starts: a port in use, a second daemon on one SQLite file."""

from __future__ import annotations

import signal
import socket
import urllib.error
import urllib.request
from datetime import timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import Templates
from tests.support.alerting import subscribe
from tests.support.daemons import DaemonGroup, daemon_env, sqlite_data_dir, write_sources
from tests.support.pages import PageServer, Reply
from tests.support.waiting import wait_for as _wait
from tracker.alerts import tokens
from tracker.storage.engine import Database, make_engine
from tracker.storage.tables_alerts import OUTBOX, SUBSCRIBER
from tracker.storage.tables_service import DAEMON_JOB, DAEMON_REPLICA
from tracker.storage.tables_watch import HOST, PAGE_CHECK, SOURCE
from tracker.timeutil import utcnow

PAGE = (
    "<html><body><main><h1>Kratom Act</h1><p>Sale to minors is banned &lt;b&gt;now&lt;/b&gt;."
    "</p><script>alert(1)</script></main></body></html>"
)


@pytest.fixture
def data_dir(tmp_path: Path, templates: Templates) -> Path:
    return sqlite_data_dir(tmp_path, templates.sqlite_loaded)


def _db(data_dir: Path) -> Database:
    return Database(make_engine(f"sqlite:///{data_dir / 'tracker.db'}"))


def _checked(db: Database, key: str) -> list[str]:
    with db.read() as conn:
        return list(
            conn.execute(
                sa.select(PAGE_CHECK.c.outcome)
                .join(SOURCE, SOURCE.c.id == PAGE_CHECK.c.source_id)
                .where(SOURCE.c.key == key)
            ).scalars()
        )


def test_sigterm_finishes_the_check_in_flight_and_releases_everything(
    data_dir: Path, tmp_path: Path
) -> None:
    with PageServer("127.0.0.1") as fast, PageServer("127.0.0.3") as slow:
        fast.page("/a", PAGE)
        slow.route("/slow", lambda req: Reply(200, PAGE.encode(), delay=2.0))
        write_sources(
            data_dir,
            [
                {"key": "fast-a", "place": "US-RI", "url": fast.url("/a"), "kind": "html"},
                {"key": "slow", "place": "US-RI", "url": slow.url("/slow"), "kind": "html"},
            ],
        )
        db = _db(data_dir)
        env = daemon_env(data_dir=data_dir, allow_loopback=1, host_delay=0)
        with DaemonGroup(tmp_path) as group:
            d = group.start("d", env).wait_ready()
            _wait("the fast page's check", lambda: _checked(db, "fast-a"))
            _wait("the slow page to be asked for", lambda: slow.hits("/slow"))
            assert _checked(db, "slow") == []  # in flight: nothing stored yet
            assert d.stop(signal.SIGTERM) == 0, d.errors()[-2000:]
        assert _checked(db, "slow") == ["baseline"]  # the check in flight finished
        assert _checked(db, "fast-a") == ["baseline"]
        with db.read() as conn:
            for table in (SOURCE, HOST, OUTBOX, SUBSCRIBER, DAEMON_JOB):
                held = conn.execute(sa.select(table.c.id).where(table.c.lease_owner.is_not(None)))
                assert held.all() == [], table.name
            assert conn.execute(sa.select(DAEMON_REPLICA)).all() == []
        stopped = [line for line in d.logs() if line["msg"] == "stopped"]
        assert stopped and stopped[0]["clean"] is True and stopped[0]["exit_status"] == 0
        db.dispose()


@pytest.mark.parametrize("how", ["grace runs out", "second signal"])
def test_cut_short_stop_releases_the_leases(data_dir: Path, tmp_path: Path, how: str) -> None:
    with PageServer("127.0.0.3") as slow:
        # Long enough that the check cannot finish before the stop, even on a loaded machine.
        slow.route("/slow", lambda req: Reply(200, PAGE.encode(), delay=20.0))
        write_sources(
            data_dir, [{"key": "slow", "place": "US-RI", "url": slow.url("/slow"), "kind": "html"}]
        )
        db = _db(data_dir)
        grace = 1 if how == "grace runs out" else 30
        env = daemon_env(data_dir=data_dir, allow_loopback=1, host_delay=0, shutdown_grace=grace)
        with DaemonGroup(tmp_path) as group:
            d = group.start("d", env).wait_ready()
            _wait("the slow page to be asked for", lambda: slow.hits("/slow"))
            d.send(signal.SIGTERM)
            if how == "second signal":
                _wait("the stop to begin", lambda: "stopping" in d.errors())
                d.send(signal.SIGTERM)
            assert d.wait(30) == 1
        assert _checked(db, "slow") == []  # cut short: its result is not stored...
        with db.read() as conn:
            held = conn.execute(sa.select(SOURCE.c.key).where(SOURCE.c.lease_owner.is_not(None)))
            # ...and its lease is free for the next replica
            assert held.all() == [], d.errors()[-3000:]
        db.dispose()


def test_http_endpoint(data_dir: Path, tmp_path: Path) -> None:
    with PageServer() as site:
        site.page("/act", PAGE)
        write_sources(
            data_dir, [{"key": "act", "place": "US-RI", "url": site.url("/act"), "kind": "html"}]
        )
        db = _db(data_dir)
        sid = subscribe(db, "reader@example.org")
        env = daemon_env(data_dir=data_dir, allow_loopback=1, host_delay=0)
        with DaemonGroup(tmp_path) as group:
            d = group.start("d", env).wait_ready()
            _wait("the first check", lambda: _checked(db, "act"))
            with db.read() as conn:
                sha = conn.execute(
                    sa.select(SOURCE.c.current_sha).where(SOURCE.c.key == "act")
                ).scalar_one()

            health = d.json("/healthz")
            assert health["status"] == "ok" and health["owner"] == d.owner
            assert d.json("/readyz")["status"] == "ok" and d.json("/livez")["status"] == "alive"
            # Operations endpoints are on their own port, and only there.
            assert d.ops != d.base
            for path in ("/metrics", "/status.json", "/livez", "/readyz"):
                public = urllib.request.Request(d.base + path)
                with pytest.raises(urllib.error.HTTPError) as missing:
                    urllib.request.urlopen(public, timeout=10)
                assert missing.value.code == 404, path
            # The public service answers on the public port.
            with urllib.request.urlopen(d.base + "/places/US-AL", timeout=10) as page:
                assert page.status == 200 and b"Alabama" in page.read()

            def metrics() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
                status, body, headers = d.get("/metrics")
                assert status == 200 and headers["Content-Type"].startswith("text/plain")
                return {
                    (s.name, tuple(sorted(s.labels.items()))): s.value
                    for family in text_string_to_metric_families(body.decode())
                    for s in family.samples
                }

            # The check is counted just after its row is committed: wait for the count.
            baseline = ("tracker_checks_total", (("outcome", "baseline"),))
            _wait("the check counted", lambda: metrics().get(baseline, 0) >= 1)
            samples = metrics()
            assert samples[baseline] >= 1
            assert samples[("tracker_database_up", ())] == 1
            assert ("tracker_queue_depth", (("queue", "outbox_pending"),)) in samples
            assert ("tracker_lag_seconds", (("queue", "checks"),)) in samples
            assert samples[("tracker_check_lag_seconds_count", ())] >= 1

            doc = d.json("/status.json")
            assert doc["schema"] == "tracker.status/1"
            assert doc["sources"]["active"] >= 1 and doc["checks_last_hour"]["baseline"] >= 1
            assert [r["owner"] for r in doc["replicas"]] == [d.owner]
            assert {j["name"] for j in doc["jobs"]} == {"retention", "reminders"}
            assert d.get("/status.json", method="POST")[0] == 405

            status, body, headers = d.get(f"/snapshots/{sha}")
            assert status == 200 and headers["Content-Type"].startswith("text/plain")
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert "default-src 'none'" in headers["Content-Security-Policy"]
            text = body.decode()
            assert "Sale to minors is banned <b>now</b>." in text and "alert(1)" not in text
            assert d.get("/snapshots/" + "0" * 64)[0] == 404
            assert d.get("/snapshots/..%2f..%2fetc%2fpasswd")[0] == 404

            # The mail links are served by the daemon too.
            assert d.get("/confirm?token=forged")[0] == 400
            key = tokens.signing_key(db)
            expires = utcnow() + timedelta(days=1)
            token = tokens.make(key, "unsubscribe", sid, "reader@example.org", expires)
            assert d.get(f"/unsubscribe?token={quote(token)}", method="POST")[0] == 200
            with db.read() as conn:
                state = conn.execute(sa.select(SUBSCRIBER.c.status).where(SUBSCRIBER.c.id == sid))
                assert state.scalar_one() == "unsubscribed"

            assert d.stop(signal.SIGINT) == 0, d.errors()[-2000:]
        db.dispose()


def test_port_in_use_is_a_clear_error_and_nothing_starts(data_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = daemon_env(data_dir=data_dir, http_port=port)
        with DaemonGroup(tmp_path) as group:
            d = group.start("d", env)
            assert d.wait(180) == 2
            assert f"cannot listen on 127.0.0.1:{port}" in d.errors()
            assert "already in use" in d.errors() and "TRACKER_HTTP_PORT" in d.errors()
    # The cause gone, the same settings start the daemon.
    with DaemonGroup(tmp_path) as group:
        d = group.start("again", env).wait_ready()
        assert d.base.endswith(f":{port}") and d.json("/healthz")["status"] == "ok"
        assert d.stop() == 0


def test_ops_port_in_use_is_a_clear_error(data_dir: Path, tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = daemon_env(data_dir=data_dir, ops_port=port)
        with DaemonGroup(tmp_path) as group:
            d = group.start("d", env)
            assert d.wait(60) == 2
            assert f"cannot listen on 127.0.0.1:{port}" in d.errors()
            assert "TRACKER_OPS_PORT" in d.errors()


def test_one_daemon_per_sqlite_database(data_dir: Path, tmp_path: Path) -> None:
    env = daemon_env(data_dir=data_dir)
    with DaemonGroup(tmp_path) as group:
        first = group.start("first", env).wait_ready()
        second = group.start("second", env)
        assert second.wait(180) == 2
        assert "another daemon already runs on the SQLite database" in second.errors()
        assert "PostgreSQL" in second.errors()
        assert first.json("/healthz")["status"] == "ok"
        assert first.stop() == 0
