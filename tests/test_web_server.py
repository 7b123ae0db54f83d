"""The HTTP server (waitress, `tracker.web.server`): slow clients hold no worker,
requests that arrive too slowly or too big are cut off, and a stop lets the request in
progress finish. Real sockets on 127.0.0.1; every wait is for a condition, with a
generous deadline."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.conftest import Templates
from tests.support.daemons import sqlite_data_dir
from tracker.web.app import App, Request, Response
from tracker.web.server import Limits, Server


def _app(gate: threading.Event | None = None, started: threading.Event | None = None) -> App:
    app = App()
    app.add("/ok", lambda r: Response.text("ok\n"))

    def slow(_: Request) -> Response:
        assert gate is not None
        if started is not None:
            started.set()
        gate.wait(60)
        return Response.text("finished\n")

    app.add("/slow", slow)
    app.add("/echo", lambda r: Response.text(f"{len(r.body)}\n"), methods=("POST",))
    app.add("/client", lambda r: Response.text(f"{r.client} {r.scheme}\n"))
    return app


@pytest.fixture
def server() -> Iterator[Server]:
    s = Server(_app(), "127.0.0.1", 0, Limits(threads=2, request_timeout=2, channel_timeout=30))
    s.start()
    yield s
    s.stop(0)


def _get(url: str, timeout: float = 20) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _trickler(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=30)
    sock.sendall(b"GET /ok HTTP/1.1\r\nHost: x\r\n")  # the headers never end
    return sock


def test_twenty_slow_clients_do_not_stop_a_fresh_one(server: Server) -> None:
    port = server.server_address[1]
    slow = [_trickler(port) for _ in range(20)]  # ten times the worker threads
    try:
        for sock in slow:
            sock.sendall(b"X-Slow: 1\r\n")
        assert _get(server.url + "/ok") == (200, b"ok\n")
    finally:
        for sock in slow:
            sock.close()


def test_a_request_that_arrives_too_slowly_is_cut_off(server: Server) -> None:
    sock = _trickler(server.server_address[1])
    try:
        deadline = time.monotonic() + 60
        closed = False
        while time.monotonic() < deadline and not closed:
            try:
                sock.sendall(b"X-Trickle: 1\r\n")  # never idle, never complete
                sock.settimeout(0.5)
                closed = sock.recv(1024) == b""
            except TimeoutError:
                continue
            except OSError:  # reset by the server
                closed = True
        assert closed, "the server kept a request that took longer than request_timeout"
    finally:
        sock.close()


def test_oversized_headers_and_bodies_are_refused() -> None:
    s = Server(_app(), "127.0.0.1", 0, Limits(max_header=2048, max_body=1024))
    s.start()
    try:
        big = urllib.request.Request(s.url + "/ok", headers={"X-Big": "a" * 4000})
        with pytest.raises(urllib.error.HTTPError) as header:
            urllib.request.urlopen(big, timeout=20)
        assert header.value.code == 431
        body = urllib.request.Request(s.url + "/echo", data=b"b" * 5000, method="POST")
        with pytest.raises(urllib.error.HTTPError) as too_big:
            urllib.request.urlopen(body, timeout=20)
        assert too_big.value.code == 413
        fits = urllib.request.Request(s.url + "/echo", data=b"b" * 1000, method="POST")
        with urllib.request.urlopen(fits, timeout=20) as ok:
            assert ok.read() == b"1000\n"
    finally:
        s.stop(0)


def test_stop_lets_the_request_in_progress_finish() -> None:
    gate, started = threading.Event(), threading.Event()
    s = Server(_app(gate, started), "127.0.0.1", 0, Limits(threads=2))
    s.start()
    url = s.url
    answer: list[tuple[int, bytes]] = []
    client = threading.Thread(target=lambda: answer.append(_get(url + "/slow", 60)))
    client.start()
    # Until the application is handling the request. (Not waitress's `active_count`: it
    # counts a new worker thread as active until it first waits for work, so on a busy
    # machine it said "handling" before the request had even arrived, and the stop then
    # refused it: 22 of 40 runs failed beside four busy processes.)
    assert started.wait(60)
    outcome: list[bool] = []
    stopper = threading.Thread(target=lambda: outcome.append(s.stop(grace=30)))
    stopper.start()
    # Once stopping, nothing new is accepted ...
    deadline = time.monotonic() + 30
    refused = False
    while time.monotonic() < deadline and not refused:
        try:
            socket.create_connection(("127.0.0.1", s.server_address[1]), timeout=1).close()
            time.sleep(0.05)
        except OSError:
            refused = True
    assert refused
    # ... and the request in progress still gets its whole answer.
    gate.set()
    client.join(60)
    stopper.join(60)
    assert answer == [(200, b"finished\n")]
    assert outcome == [True]


def test_client_addresses_come_from_a_trusted_proxy_only() -> None:
    forwarded = {"X-Forwarded-For": "203.0.113.9", "X-Forwarded-Proto": "https"}
    for trusted, expected in (("", b"127.0.0.1 http\n"), ("127.0.0.1", b"203.0.113.9 https\n")):
        s = Server(_app(), "127.0.0.1", 0, Limits(trusted_proxy=trusted))
        s.start()
        try:
            request = urllib.request.Request(s.url + "/client", headers=forwarded)
            with urllib.request.urlopen(request, timeout=20) as r:
                assert r.read() == expected, trusted
        finally:
            s.stop(0)


def test_tracker_serve_serves_the_public_app_and_stops_on_sigterm(
    tmp_path: Path, templates: Templates
) -> None:
    data = sqlite_data_dir(tmp_path, templates.sqlite_loaded)
    env = {**os.environ, "TRACKER_DATA_DIR": str(data), "TRACKER_OPS_PORT": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracker", "serve", "--port", "0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        found = re.search(r"serving on (http://\S+)", line)
        assert found, line + (proc.stderr.read() if proc.stderr else "")
        status, body = _get(found.group(1) + "/places/US-AL")
        assert status == 200 and b"Alabama" in body
        assert _get(found.group(1) + "/metrics")[0] == 404  # operations stay off this port
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(60) == 0
        assert "stopped" in proc.stdout.read()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(30)
