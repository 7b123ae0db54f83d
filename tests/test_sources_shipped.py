"""The watch pages of the December 2026 research as shipped sources, and what happens when
a page cannot be reached: many of those URLs were never opened, so a source whose server
refuses the connection, or hangs up without answering, is reported as that source's
error and breaks nothing else (the other sources are checked, the status answers stand).

Everything here talks to 127.0.0.1 only: the shipped sources are loaded and listed, never
fetched.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Templates
from tests.support.pages import PageServer, cli_site
from tracker.paths import jurisdictions_dir
from tracker.watch.sources import load_specs, source_files

STATUTE = (Path(__file__).resolve().parent / "data" / "pages" / "statute.html").read_text()
INTERVALS = {"6h", "12h", "24h", "7d"}


def test_every_research_watch_page_is_a_shipped_source() -> None:
    specs, problems, _ = load_specs(source_files(jurisdictions_dir(), Path("/nonexistent")))
    assert problems == []
    assert len(specs) == len({s.key for s in specs}) >= 80
    origins = {s.origin for s in specs}
    assert origins == {f"shipped:sources/{n}.yaml" for n in ("us", "world", "us-local")}
    assert {s.every for s in specs} <= INTERVALS  # sensible intervals, nothing faster
    assert all(not s.verified for s in specs)  # none was opened: no page-specific guesses
    places = {s.place for s in specs}
    assert {"US", "US-NY", "US-OH", "GB"} <= places
    assert any(p.startswith("ocd-division/country:us/state:") for p in places)


class HangUp:
    """A TCP server on 127.0.0.1 that accepts every connection and closes it at once,
    without a byte of answer."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.accepted = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self.accepted += 1
            conn.close()

    def __enter__(self) -> HangUp:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(10)
        self.sock.close()


def _closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on: connecting is refused."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def site(templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    with cli_site(templates.sqlite_loaded, tmp_path, monkeypatch, fetch_timeout=5) as s:
        yield s


def _add(cli: Any, place: str, url: str) -> str:
    r = cli("sources", "add", place, url)
    assert r.code == 0, r.err
    return str(r.out.split()[1])


@pytest.mark.usefixtures("shipped_on")
def test_unreachable_sources_are_reported_and_break_nothing(cli: Any, site: PageServer) -> None:
    with HangUp() as hangup:
        good = _add(cli, "US-TX", site.url("/law"))
        refused = _add(cli, "US-NY", f"http://127.0.0.1:{_closed_port()}/statute")
        silent = _add(cli, "US-OH", f"http://127.0.0.1:{hangup.port}/rule")
        first = cli("check", good, refused, silent)
        assert first.code == 1
        assert "1 baseline, 2 error" in first.out
        lines = {line.split()[0]: line for line in first.out.splitlines() if line.strip()}
        assert " baseline " in lines[good]
        for key in (refused, silent):
            assert " error " in lines[key] and "cannot reach the host" in lines[key], lines[key]
        second = cli("check", good, refused, silent)
        assert second.code == 1 and "1 not modified, 2 error" in second.out
        assert hangup.accepted >= 2  # it was really asked, and hung up
    listed = json.loads(cli("sources", "--json").out)
    assert listed["problems"] == []
    by_key = {s["key"]: s for s in listed["sources"]}
    assert by_key[good]["failures"] == 0 and by_key[good]["last_error"] is None
    for key in (refused, silent):
        assert by_key[key]["failures"] == 2 and "cannot reach the host" in by_key[key]["last_error"]
    # The shipped sources are all still there, untouched by the failures.
    shipped = [s for s in listed["sources"] if s["origin"].startswith("shipped:")]
    assert len(shipped) >= 80 and all(s["failures"] == 0 for s in shipped)
    # Status answers stand.
    status = cli("status", "US-NY", "US-OH")
    assert status.code == 0 and "REGULATED 21+" in status.out
