"""A small HTTP toolkit: a route table, requests and responses, over WSGI.

The public service (`public.make_public_app`) and the daemon's operations endpoints
(`tracker.service.opsweb`) are each an `App`; `server` serves them with waitress. A
handler takes a `Request` and returns a `Response`:

- an unknown path is 404, a known path with another method 405 (with `Allow`); HEAD is
  answered by the GET handler without a body;
- `add_prefix` routes every path under a prefix (the longest prefix wins; an exact route
  wins over any prefix);
- a handler that raises is logged and answered 500, with no detail for the client;
- a request whose Content-Length is not a number is answered 400 (RFC 9110 8.6);
- `App.headers` are added to every response that does not set them itself (the security
  headers of `security.py`), so no route can forget them.

The request body is read up to `App.max_body` bytes (the server refuses larger bodies
before the app sees them; this is a second fence). Query strings and forms are decoded
as UTF-8 (bad bytes become U+FFFD, never an exception).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.cookies import CookieError, SimpleCookie
from typing import Any
from urllib.parse import parse_qs

logger = logging.getLogger(__name__)

MAX_BODY = 64 * 1024


def _pairs(text: str) -> dict[str, list[str]]:
    return parse_qs(text, keep_blank_values=True, encoding="utf-8", errors="replace")


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes = b""
    query_all: dict[str, list[str]] = field(default_factory=dict)
    client: str = ""  # the peer address (the trusted proxy's client when one is set)
    scheme: str = "http"

    @property
    def form_all(self) -> dict[str, list[str]]:
        if self.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
            return _pairs(self.body.decode("utf-8", errors="replace"))
        return {}

    @property
    def form(self) -> dict[str, str]:
        return {k: v[0] for k, v in self.form_all.items()}

    @property
    def cookies(self) -> dict[str, str]:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(self.headers.get("cookie", ""))
        except CookieError:
            return {}
        return {k: m.value for k, m in jar.items()}


@dataclass
class Response:
    status: int = 200
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    cookies: list[str] = field(default_factory=list)  # whole Set-Cookie values

    @classmethod
    def html(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode(), "text/html; charset=utf-8")

    @classmethod
    def text(cls, text: str, status: int = 200) -> Response:
        return cls(status, text.encode())

    @classmethod
    def json(cls, data: Any, status: int = 200) -> Response:
        body = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
        return cls(status, body.encode(), "application/json; charset=utf-8")

    @classmethod
    def redirect(cls, location: str, status: int = 303) -> Response:
        return cls(status, b"", headers={"Location": location})


Handler = Callable[[Request], Response]


def reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return ""


class App:
    """A route table: `app.add("/path", handler, methods=("GET",))` or `@app.route`."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self.routes: dict[str, dict[str, Handler]] = {}
        self.prefixes: dict[str, dict[str, Handler]] = {}
        self.headers: dict[str, str] = dict(headers or {})
        self.max_body = MAX_BODY
        # Decorates every response (after its handler): e.g. per-route security headers.
        self.finishers: list[Callable[[Request, Response], None]] = []
        # Answers OPTIONS on every known path (CORS preflight), when set.
        self.preflight: Handler | None = None

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

    def _table(self, path: str) -> dict[str, Handler] | None:
        table = self.routes.get(path)
        if table is not None:
            return table
        matches = [p for p in self.prefixes if path.startswith(p)]
        return self.prefixes[max(matches, key=len)] if matches else None

    def handle(self, request: Request) -> Response:
        table = self._table(request.path)
        if table is None:
            return Response.text("not found\n", 404)
        if request.method == "OPTIONS" and self.preflight is not None:
            return self.preflight(request)
        handler = table.get(request.method) or (
            table.get("GET") if request.method == "HEAD" else None
        )
        if handler is None:
            response = Response.text("method not allowed\n", 405)
            allowed = set(table) | ({"HEAD"} if "GET" in table else set())
            response.headers["Allow"] = ", ".join(sorted(allowed))
            return response
        try:
            return handler(request)
        except Exception:
            logger.exception("%s %s failed", request.method, request.path)
            return Response.text("internal error\n", 500)

    def request_from(self, environ: dict[str, Any], length: int) -> Request:
        """The request of `environ`, whose Content-Length `__call__` has checked."""
        body = environ["wsgi.input"].read(min(length, self.max_body)) if length > 0 else b""
        headers = {
            k[5:].replace("_", "-").lower(): v for k, v in environ.items() if k.startswith("HTTP_")
        }
        if environ.get("CONTENT_TYPE"):
            headers["content-type"] = environ["CONTENT_TYPE"]
        # PATH_INFO is latin-1 decoded bytes (PEP 3333): give handlers the UTF-8 text.
        raw_path = environ.get("PATH_INFO", "/") or "/"
        path = raw_path.encode("latin-1", errors="replace").decode("utf-8", errors="replace")
        query_all = _pairs(environ.get("QUERY_STRING", ""))
        return Request(
            environ["REQUEST_METHOD"].upper(),
            path,
            {k: v[0] for k, v in query_all.items()},
            headers,
            body,
            query_all,
            client=str(environ.get("REMOTE_ADDR") or ""),
            scheme=str(environ.get("wsgi.url_scheme") or "http"),
        )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        try:
            length = _content_length(environ)
        except ValueError:  # "abc", "-1", "1e3": not a length
            head = [("Content-Type", "text/plain; charset=utf-8"), *self.headers.items()]
            start_response("400 Bad Request", head)
            return [b"bad request: Content-Length is not a number\n"]
        request = self.request_from(environ, length)
        if length > self.max_body:
            response = Response.text(f"request body over {self.max_body} bytes\n", 413)
        else:
            response = self.handle(request)
        for finish in self.finishers:
            finish(request, response)
        head = [("Content-Type", response.content_type)]
        head += [(k, v) for k, v in self.headers.items() if k not in response.headers]
        head += list(response.headers.items())
        head += [("Set-Cookie", c) for c in response.cookies]
        no_body = request.method == "HEAD" or response.status in (204, 304)
        if response.status != 304:
            head.append(("Content-Length", str(len(response.body))))
        start_response(f"{response.status} {reason(response.status)}".strip(), head)
        return [b"" if no_body else response.body]


def make(app: App, host: str, port: int) -> Any:
    """A server bound to host:port (port 0 picks a free one), not yet serving; see
    `server.Server` (waitress, default limits)."""
    from tracker.web.server import Server

    return Server(app, host, port)


def serve_in_thread(app: App, host: str = "127.0.0.1", port: int = 0) -> Any:
    """Start serving in a daemon thread (tests, the daemon); `server.shutdown()` stops."""
    server = make(app, host, port)
    server.start()
    return server


class Pending:
    """A WSGI app that answers 503 until `app` is set (a server bound before the
    database is open, so a port in use fails fast)."""

    def __init__(self) -> None:
        self.app: Callable[..., list[bytes]] | None = None

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if self.app is not None:
            return self.app(environ, start_response)
        body = b"starting\n"
        start_response(
            "503 Service Unavailable",
            [
                ("Content-Type", "text/plain; charset=utf-8"),
                ("Content-Length", str(len(body))),
                ("Retry-After", "5"),
            ],
        )
        return [body]


def _content_length(environ: dict[str, Any]) -> int:
    """The request's Content-Length (0 when absent); ValueError when it is not a number."""
    text = str(environ.get("CONTENT_LENGTH") or "0").strip()
    if not text.isdigit():
        raise ValueError(text)
    return int(text)
