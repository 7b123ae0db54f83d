"""A small HTTP app: a route table, WSGI, and a threaded standard-library server.

The links in mail are served here (`links.mount`); the daemon mounts its own routes
(`/healthz`, `/metrics`, `/status.json`, `/snapshots/<sha>`) on the same `App` and
serves it. A handler takes a `Request` and returns a `Response`; an unknown path is 404,
a known path with another method is 405, a handler that raises is logged and answered
with 500, and a request whose Content-Length is not a number is answered 400.
`add_prefix` routes every path under a prefix (an exact route wins).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from socketserver import ThreadingMixIn
from typing import Any
from urllib.parse import parse_qs
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""

    @property
    def form(self) -> dict[str, str]:
        if self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return {k: v[0] for k, v in parse_qs(self.body.decode("latin-1")).items()}
        return {}


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), "text/html; charset=utf-8")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode())


Handler = Callable[[Request], Response]
_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    500: "Internal Server Error",
    503: "Service Unavailable",
}


class App:
    """A route table: `app.add("/path", handler, methods=("GET",))` or `@app.route`."""

    def __init__(self) -> None:
        self.routes: dict[str, dict[str, Handler]] = {}
        self.prefixes: dict[str, dict[str, Handler]] = {}

    def add(self, path: str, handler: Handler, methods: Iterable[str] = ("GET",)) -> None:
        table = self.routes.setdefault(path, {})
        for method in methods:
            if method.upper() in table:
                raise ValueError(f"route {method} {path} is already taken")
            table[method.upper()] = handler

    def add_prefix(self, prefix: str, handler: Handler, methods: Iterable[str] = ("GET",)) -> None:
        """Route every path that starts with `prefix` (e.g. "/snapshots/") to `handler`."""
        table = self.prefixes.setdefault(prefix, {})
        for method in methods:
            if method.upper() in table:
                raise ValueError(f"route {method} {prefix}* is already taken")
            table[method.upper()] = handler

    def route(self, path: str, methods: Iterable[str] = ("GET",)) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self.add(path, handler, methods)
            return handler

        return register

    def handle(self, request: Request) -> Response:
        table = self.routes.get(request.path)
        if table is None:
            table = next((t for p, t in self.prefixes.items() if request.path.startswith(p)), None)
        if table is None:
            return Response.text("not found\n", 404)
        handler = table.get(request.method) or (
            table.get("GET") if request.method == "HEAD" else None
        )
        if handler is None:
            response = Response.text("method not allowed\n", 405)
            response.headers["Allow"] = ", ".join(sorted(table))
            return response
        try:
            return handler(request)
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return Response.text("internal error\n", 500)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        length_text = (environ.get("CONTENT_LENGTH") or "0").strip()
        if not length_text.isdigit():  # "abc", "-1", "1e3": not a length (RFC 9110 8.6)
            start_response("400 Bad Request", [("Content-Type", "text/plain; charset=utf-8")])
            return [b"bad request: Content-Length is not a number\n"]
        length = int(length_text)
        body = environ["wsgi.input"].read(min(length, MAX_BODY)) if length > 0 else b""
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        request = Request(
            environ["REQUEST_METHOD"].upper(), environ["PATH_INFO"], query, headers, body
        )
        response = self.handle(request)
        reason = _REASONS.get(response.status, "")
        head = [("Content-Type", response.content_type), *response.headers.items()]
        head.append(("Content-Length", str(len(response.body))))
        start_response(f"{response.status} {reason}".strip(), head)
        return [b"" if request.method == "HEAD" else response.body]


class _Server(ThreadingMixIn, WSGIServer):
    daemon_threads = True


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


def make(app: App, host: str, port: int) -> WSGIServer:
    """A threaded server bound to host:port (port 0 picks a free one)."""
    return make_server(host, port, app, server_class=_Server, handler_class=_Quiet)


def serve_in_thread(app: App, host: str = "127.0.0.1", port: int = 0) -> WSGIServer:
    """Start serving in a daemon thread (tests, the daemon); `server.shutdown()` stops."""
    server = make(app, host, port)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server
