"""A real threaded HTTP/1.1 server standing in for official sites (tests and bench).

    with PageServer() as site:                 # 127.0.0.1, a free port
        site.page("/law", b"<html>...</html>")  # ETag and Last-Modified by default
        site.url("/law")                        # http://127.0.0.1:PORT/law
        site.hits("/law")                       # requests seen for that path

Behaviours for bad input: `site.route(path, fn)` with `fn(request) -> Reply`, where a
Reply may set `delay` (seconds before answering), `stream` (an iterator of chunks, sent
without Content-Length and closed), `retry_after`, any status and headers. Conditional
GET is honoured for plain pages (`If-None-Match`, `If-Modified-Since` -> 304).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.server
import shutil
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from email.utils import formatdate
from pathlib import Path
from typing import Any

STATUTE = (Path(__file__).resolve().parent.parent / "data" / "pages" / "statute.html").read_text()


@dataclass
class Request:
    path: str
    headers: dict[str, str]
    at: float = field(default_factory=time.monotonic)  # when it arrived


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    content_type: str | None = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    etag: str | None = None
    last_modified: str | None = None
    delay: float = 0.0
    stream: Iterable[bytes] | None = None


Route = Callable[[Request], Reply]


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def do_GET(self) -> None:
        path = self.path
        req = Request(path, {k.lower(): v for k, v in self.headers.items()})
        with self.server.lock:
            self.server.log.append(req)
            route = self.server.routes.get(path) or self.server.routes.get(path.split("?")[0])
        reply = route(req) if route else Reply(404, b"not found", "text/plain")
        if reply.delay:
            time.sleep(reply.delay)
        if reply.status == 200 and reply.stream is None and _fresh(req, reply):
            self.send_response(304)
            self._validators(reply)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(reply.status)
        if reply.content_type:
            self.send_header("Content-Type", reply.content_type)
        self._validators(reply)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if reply.stream is not None:
            self.send_header("Connection", "close")
            self.end_headers()
            try:
                for chunk in reply.stream:
                    self.wfile.write(chunk)
            except (BrokenPipeError, ConnectionResetError):
                pass
            self.close_connection = True
            return
        if "Content-Length" not in reply.headers:
            self.send_header("Content-Length", str(len(reply.body)))
        self.end_headers()
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(reply.body)

    def _validators(self, reply: Reply) -> None:
        if reply.etag:
            self.send_header("ETag", reply.etag)
        if reply.last_modified:
            self.send_header("Last-Modified", reply.last_modified)

    def log_message(self, *args: object) -> None:
        pass


def _fresh(req: Request, reply: Reply) -> bool:
    inm = req.headers.get("if-none-match")
    if inm is not None and reply.etag:
        return inm == reply.etag
    ims = req.headers.get("if-modified-since")
    return ims is not None and reply.last_modified is not None and ims == reply.last_modified


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128
    routes: dict[str, Route]
    log: list[Request]
    lock: threading.Lock

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that gives up (a timeout test, a size cap) resets the connection:
        # expected here, not worth a traceback on stderr.
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)  # type: ignore[arg-type]


class PageServer:
    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.httpd = _Server((host, port), _Handler)
        self.httpd.routes, self.httpd.log, self.httpd.lock = {}, [], threading.Lock()
        self.base = f"http://{host}:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    def __enter__(self) -> PageServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()

    def url(self, path: str) -> str:
        return self.base + path

    def route(self, path: str, fn: Route) -> None:
        with self.httpd.lock:
            self.httpd.routes[path] = fn

    def page(
        self,
        path: str,
        body: bytes | str,
        content_type: str | None = "text/html; charset=utf-8",
        *,
        validators: bool = True,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Serve `body` at `path`, with an ETag and Last-Modified unless `validators` is False."""
        data = body.encode("utf-8") if isinstance(body, str) else body
        etag = f'"{hashlib.sha1(data).hexdigest()[:16]}"' if validators else None
        modified = formatdate(time.time(), usegmt=True) if validators else None
        reply = Reply(200, data, content_type, dict(headers or {}), etag, modified)
        self.route(path, lambda req: reply)

    def hits(self, path: str) -> list[Request]:
        with self.httpd.lock:
            return [r for r in self.httpd.log if r.path == path]


def chunks(total: int, size: int = 65536) -> Iterator[bytes]:
    """`total` bytes of filler, in chunks: a response too large to keep."""
    block = b"x" * size
    while total > 0:
        yield block[: min(size, total)]
        total -= size


@contextlib.contextmanager
def cli_site(
    loaded_template: Path, tmp_path: Path, monkeypatch: Any, *, fetch_timeout: float
) -> Iterator[PageServer]:
    """For CLI tests of watching: a copy of the loaded SQLite database, loopback allowed,
    no politeness delay, no retries, and a local site serving the statute at /law."""
    db = tmp_path / "tracker.db"
    shutil.copy(loaded_template, db)
    monkeypatch.setenv("TRACKER_DATABASE_URL", f"sqlite:///{db}")
    monkeypatch.setenv("TRACKER_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("TRACKER_HOST_DELAY", "0")
    monkeypatch.setenv("TRACKER_FETCH_TIMEOUT", str(fetch_timeout))
    monkeypatch.setenv("TRACKER_FETCH_RETRIES", "0")
    with PageServer() as s:
        s.page("/law", STATUTE)
        yield s
