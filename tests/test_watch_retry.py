"""A failing source is tried again within minutes (backoff up to its interval), each
failure is logged at INFO, and the messages say what happened in words an operator can
act on: "cannot reach the host", never a library's internals."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import yaml

from tests.support.pages import PageServer, Reply
from tracker.errors import SourceError
from tracker.netguard import describe_failure
from tracker.storage.engine import Database
from tracker.storage.tables_watch import SOURCE
from tracker.watch.cycle import run_cycle
from tracker.watch.fetch import Fetcher
from tracker.watch.sources import FAILURE_RETRY, Spec, retry_due
from tracker.watch.watcher import WatchConfig, Watcher

STATUTE = (Path(__file__).resolve().parent / "data" / "pages" / "statute.html").read_text()


@pytest.fixture
def watch(empty_db: Database, tmp_path: Path) -> Iterator[tuple[Watcher, PageServer, Path]]:
    root, data = tmp_path / "shipped", tmp_path / "data"
    (root / "sources").mkdir(parents=True)
    data.mkdir()
    fetcher = Fetcher(allow_loopback=True, user_agent="t", timeout=1, retries=0)
    w = Watcher(empty_db, fetcher, WatchConfig(host_delay=0, failure_alert_after=3))
    with PageServer() as site:
        yield w, site, root


def _write(folder: Path, url: str, every: str = "7d") -> None:
    entry = {"key": "weekly", "place": "US-RI", "kind": "html", "url": url, "every": every}
    (folder / "sources.yaml").write_text(yaml.safe_dump({"sources": [entry]}))


def _source(db: Database) -> Any:
    with db.read() as conn:
        return conn.execute(sa.select(SOURCE)).one()


def test_a_weekly_source_that_fails_is_retried_within_minutes(
    watch: tuple[Watcher, PageServer, Path], caplog: pytest.LogCaptureFixture
) -> None:
    w, site, root = watch
    data = root.parent / "data"
    _write(data, site.url("/law"))
    site.route("/law", lambda req: Reply(503, b"down", "text/plain"))
    waits = []
    with caplog.at_level(logging.INFO, logger="tracker.watch.store"):
        for _ in range(4):
            report = run_cycle(w, root, data, ["weekly"])
            (result,) = report.results
            src = _source(w.db)
            waits.append(src.next_check_at - src.last_checked_at)
            with w.db.write() as conn:  # due again now, as the daemon would find it later
                conn.execute(SOURCE.update().values(next_check_at=src.last_checked_at))
    assert result.outcome == "error" and src.failures == 4 and src.failing
    assert waits == [FAILURE_RETRY * n for n in (1, 2, 4, 8)]  # 5, 10, 20, 40 minutes
    logged = [r for r in caplog.records if "check of weekly failed" in r.getMessage()]
    assert len(logged) == 4 and all(r.levelno == logging.INFO for r in logged)
    assert "next try at" in logged[0].getMessage()


def test_the_backoff_never_goes_past_the_interval() -> None:
    from tracker.timeutil import utcnow

    spec = Spec(
        key="k", place="US", title="t", url="http://x/", kind="html", origin="o", every="1h"
    )
    now = utcnow()
    assert retry_due(spec, now, 1, "24h") == now + timedelta(minutes=5)
    assert retry_due(spec, now, 10, "24h") == now + timedelta(hours=1)  # capped


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_host_is_named_as_such(watch: tuple[Watcher, PageServer, Path]) -> None:
    w, _, root = watch
    data = root.parent / "data"
    port = _closed_port()
    _write(data, f"http://127.0.0.1:{port}/law")
    (result,) = run_cycle(w, root, data, ["weekly"]).results
    assert (
        result.error
        == f"cannot reach the host 127.0.0.1:{port}: connection refused (is the server down?)"
    )
    assert "robots.txt" not in result.error and "Pool" not in result.error


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:{closed}/x", "connection refused"),
        ("http://name-that-does-not-exist.invalid/x", "its name does not resolve"),
    ],
)
def test_no_library_internals_in_fetch_errors(url: str, expected: str) -> None:
    fetcher = Fetcher(allow_loopback=True, user_agent="t", timeout=1, retries=1, backoff=0.01)
    with pytest.raises(SourceError) as err:
        fetcher.get(url.format(closed=_closed_port()))
    text = str(err.value)
    assert expected in text and text.startswith("cannot reach the host ")
    for internal in ("HTTPConnectionPool", "Max retries", "object at 0x", "NewConnectionError"):
        assert internal not in text


def test_describe_failure_never_shows_pool_internals() -> None:
    import requests
    from urllib3.exceptions import MaxRetryError, ProtocolError

    inner = ProtocolError("Connection aborted.", OSError(0, "weird"))
    exc = requests.ConnectionError(MaxRetryError(None, "/x", inner))  # type: ignore[arg-type]
    text = describe_failure(exc, "http://host.example:8080/x", 5)
    assert text.startswith("cannot reach the host host.example:8080") and "Pool" not in text
