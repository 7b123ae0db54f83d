"""The HTTP server: waitress, with bounded threads, timeouts, size limits and a graceful stop.

waitress reads requests asynchronously on one loop thread and hands a request to one of
`threads` worker threads only once it has fully arrived, so slow clients hold a socket,
never a worker: twenty clients trickling their headers cannot stop a fresh client from
being answered (`bench/web_load.py` measures it). On top of waitress's own limits:

- `connection_limit`: open connections beyond it wait in the listen backlog;
- `channel_timeout`: a connection idle this long is closed;
- `request_timeout`: a request whose headers and body have not all arrived this many
  seconds after its first byte is cut off (waitress only knows idleness, and a client
  sending one byte a second is never idle); checked every `cleanup_interval`;
- `max_header` and `max_body`: larger requests are answered 431/413 and closed by
  waitress before the app sees them.

`stop(grace)` stops accepting, lets the requests in progress finish and their answers
be flushed (up to `grace` seconds), then closes every connection and ends the loop.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from waitress.adjustments import Adjustments
from waitress.channel import HTTPChannel
from waitress.server import TcpWSGIServer

logger = logging.getLogger(__name__)
# waitress warns on every request queued while all workers are busy: thousands of lines
# a second under load, which slows the server further. Busy is not an error here.
logging.getLogger("waitress.queue").setLevel(logging.ERROR)


@dataclass(frozen=True)
class Limits:
    """What one server accepts; `config.WebConfig` fills it from the settings."""

    threads: int = 8
    connection_limit: int = 200
    channel_timeout: float = 30.0
    request_timeout: float = 20.0
    max_header: int = 16 * 1024
    max_body: int = 64 * 1024
    trusted_proxy: str = ""  # a proxy's address whose X-Forwarded-* headers are believed


class _Channel(HTTPChannel):
    """Remembers when the request being received started (for `request_timeout`)."""

    request_started = 0.0

    def received(self, data: bytes) -> bool:
        if self.request is None and data:
            self.request_started = time.monotonic()
        return bool(super().received(data))


class _Server(TcpWSGIServer):
    channel_class = _Channel
    request_timeout = 20.0

    def maintenance(self, now: float) -> None:
        super().maintenance(now)
        cutoff = time.monotonic() - self.request_timeout
        for channel in list(self.active_channels.values()):
            started = getattr(channel, "request_started", cutoff)
            if channel.request is not None and not channel.requests and started < cutoff:
                logger.info("request from %s took too long to arrive: closed", channel.addr)
                channel.will_close = True


class Server:
    """One listening socket served by waitress. `start()` serves in a thread;
    `serve_forever()` in the calling thread; `stop()` (or `shutdown()`) ends it."""

    def __init__(
        self, app: Callable[..., Any], host: str, port: int, limits: Limits | None = None
    ) -> None:
        lim = limits or Limits()
        options: dict[str, Any] = {
            "host": host,
            "port": port,
            "threads": lim.threads,
            "connection_limit": lim.connection_limit,
            "channel_timeout": max(1, math.ceil(lim.channel_timeout)),
            # How often idle and too-slow connections are looked for (whole seconds).
            "cleanup_interval": max(1, int(min(lim.channel_timeout, lim.request_timeout) / 4)),
            "max_request_header_size": lim.max_header,
            "max_request_body_size": lim.max_body,
            "ident": "tracker",
            "expose_tracebacks": False,
            "asyncore_loop_timeout": 1,
        }
        if lim.trusted_proxy:
            options.update(
                trusted_proxy=lim.trusted_proxy,
                trusted_proxy_headers={"x-forwarded-for", "x-forwarded-proto"},
                clear_untrusted_proxy_headers=True,
            )
        try:
            adj = Adjustments(**options)
        except ValueError:  # waitress: "Invalid host/port specified." (no such address)
            raise OSError(errno.EADDRNOTAVAIL, "no such address on this machine") from None
        self._server = _Server(app, map={}, adj=adj, sockinfo=adj.listen[0])
        self._server.request_timeout = lim.request_timeout
        self._thread: threading.Thread | None = None
        self._stopped = threading.Event()
        self._stop_lock = threading.Lock()
        self._stopping = False

    @property
    def server_address(self) -> tuple[str, int]:
        return str(self._server.effective_host), int(self._server.effective_port)

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"

    def serve_forever(self) -> None:
        try:
            self._server.run()
        finally:
            self._stopped.set()

    def start(self, name: str = "http") -> None:
        self._thread = threading.Thread(target=self.serve_forever, name=name, daemon=True)
        self._thread.start()

    def _in_loop(self, thunk: Callable[[], None]) -> None:
        """Run `thunk` on the loop thread (the socket map is not thread-safe); here when
        the loop is not running (never started, ended, or its trigger already closed)."""
        if self._thread is None or self._stopped.is_set():
            thunk()
            return
        try:
            self._server.trigger.pull_trigger(thunk)
        except OSError:
            logger.debug("the HTTP loop could not be woken; closing from here", exc_info=True)
            with self._server.trigger.lock:
                self._server.trigger.thunks.clear()
            thunk()

    def stop(self, grace: float = 10.0) -> bool:
        """Stop accepting, let requests in progress finish (up to `grace` seconds), then
        close everything. True if nothing had to be cut short."""
        with self._stop_lock:
            if self._stopping:
                return True  # a second stop: the first does the work
            self._stopping = True
        server = self._server
        deadline = time.monotonic() + grace
        self._in_loop(lambda: _stop_listening(server))
        dispatcher = server.task_dispatcher

        def busy() -> bool:
            pending = any(c.requests or c.total_outbufs_len for c in _channels(server))
            return bool(dispatcher.queue) or pending

        while busy() and time.monotonic() < deadline:
            time.sleep(0.02)
        clean = not busy()
        if not clean:
            logger.warning("HTTP requests still in progress after %.0f s: closed", grace)
        dispatcher.shutdown(cancel_pending=True, timeout=max(0.1, deadline - time.monotonic()))
        self._in_loop(lambda: _close_all(server))
        if self._thread is not None:
            self._thread.join(timeout=5)
        return clean

    def shutdown(self) -> None:
        """Stop at once (the standard library's server method name)."""
        self.stop(grace=0.0)

    def server_close(self) -> None:
        """Nothing left to close after `stop` (kept for the standard library's name)."""


def _channels(server: TcpWSGIServer) -> list[Any]:
    return [c for c in list(server._map.values()) if isinstance(c, HTTPChannel)]


def _stop_listening(server: TcpWSGIServer) -> None:
    server.accepting = False
    try:
        server.del_channel()
        server.socket.close()
    except OSError:
        pass


def _close_all(server: TcpWSGIServer) -> None:
    for channel in _channels(server):
        with contextlib.suppress(OSError):
            channel.close()
    with contextlib.suppress(OSError):
        server.trigger.close()
