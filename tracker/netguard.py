"""Outbound HTTP that cannot be turned against the host's own network (SSRF).

Every request to an official page or a webhook receiver goes through `session()`: a
requests-hardened session that resolves the host, refuses private, loopback, link-local,
CGNAT, multicast and mapped addresses, connects to the checked IP (DNS pinned), and does
so again on every redirect hop. Loopback is allowed only when the `allow_loopback`
setting is on (tests, local development); the other ranges stay refused even then.

`check_url` validates a URL when it is configured (a source or a webhook endpoint), so a
bad one is refused with a clear message before anything is stored.

`deadline(seconds)` bounds a whole exchange in wall-clock time. Socket timeouts bound
each read, not the sum: a server that sends a byte every second (headers or body)
never trips them. Inside `with deadline(s) as d:`, every connection a guarded session
of this thread uses is registered with `d`; a watchdog thread shuts those sockets down
when the time is up, so the blocked read returns at once, and `d.expired` tells the
caller why it failed (a body cut short that way must not be taken for the whole one).
`abort_all()` expires every deadline at once (Ctrl-C, SIGTERM).

`describe_failure` says, in words an operator can act on, why a request got no HTTP
answer: the watcher's errors and the webhook notifier's both use it.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import ipaddress
import itertools
import re
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import requests
from requests_hardened import Config, Manager
from requests_hardened.ip_filter import InvalidIPAddress, filter_host
from urllib3 import exceptions as urllib3_exceptions
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.util import Retry

from tracker.errors import UsageError

__all__ = ["Deadline", "InvalidIPAddress", "abort_all", "check_url", "deadline", "session"]


def session(
    *,
    allow_loopback: bool,
    user_agent: str,
    never_redirect: bool = False,
    timeout: tuple[float, float] = (5.0, 30.0),
    retry: Retry | None = None,
) -> requests.Session:
    """A guarded session; reuse it for many requests (connection pooling).

    `retry` (urllib3) is installed on both adapters, e.g. backoff honouring Retry-After.
    """
    config = Config(
        ip_filter_enable=True,
        ip_filter_allow_loopback_ips=allow_loopback,
        never_redirect=never_redirect,
        default_timeout=timeout,
        user_agent_override=user_agent,
    )
    s = Manager(config).get_session()
    s.trust_env = False  # no proxies or netrc from the environment
    for adapter in s.adapters.values():
        if retry is not None:
            adapter.max_retries = retry
        # Connections that report to the deadline of the thread using them.
        adapter.poolmanager.pool_classes_by_scheme = {"http": _Pool, "https": _TLSPool}
    return s


class Deadline:
    """A wall-clock limit on the exchanges of one thread (see the module docstring)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.at = time.monotonic() + seconds
        self.expired = False
        self.done = False
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def left(self) -> float:
        return self.at - time.monotonic()

    def watch(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.append(sock)
            if not self.expired:
                return
        _cut(sock)

    def expire(self) -> None:
        with self._lock:
            if self.done:
                return
            self.expired = True
            sockets = list(self._sockets)
        for sock in sockets:
            _cut(sock)


def _cut(sock: socket.socket) -> None:
    # The plain socket's shutdown, also for TLS sockets: it wakes a thread blocked in
    # recv on that socket, and leaves the TLS state to that thread.
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_local = threading.local()
_watch_lock = threading.Condition()
_heap: list[tuple[float, int, Deadline]] = []
_live: set[Deadline] = set()
_seq = itertools.count()
_watchdog: threading.Thread | None = None


def _watch_loop() -> None:
    while True:
        with _watch_lock:
            while not _heap:
                _watch_lock.wait()
            at, _, d = _heap[0]
            wait = at - time.monotonic()
            if wait > 0:
                _watch_lock.wait(wait)
                continue
            heapq.heappop(_heap)
        if not d.done:
            d.expire()


def current() -> Deadline | None:
    """The deadline this thread is working under, if any."""
    stack: list[Deadline] = getattr(_local, "stack", [])
    return stack[-1] if stack else None


@contextmanager
def deadline(seconds: float) -> Iterator[Deadline]:
    """Bound every exchange of this thread inside the block to `seconds` (nested
    deadlines: the earliest wins, since an outer one cuts the same sockets)."""
    global _watchdog
    d = Deadline(seconds)
    outer = current()
    if outer is not None and outer.at < d.at:
        d.at, d.seconds = outer.at, max(outer.left(), 0.0)
    stack = _local.__dict__.setdefault("stack", [])
    stack.append(d)
    with _watch_lock:
        if _watchdog is None:
            _watchdog = threading.Thread(target=_watch_loop, name="deadlines", daemon=True)
            _watchdog.start()
        heapq.heappush(_heap, (d.at, next(_seq), d))
        _live.add(d)
        _watch_lock.notify()
    try:
        yield d
    finally:
        stack.pop()
        with d._lock:
            d.done = True
        with _watch_lock:
            _live.discard(d)


def abort_all() -> None:
    """Expire every deadline now: exchanges in progress under one fail at once."""
    with _watch_lock:
        live = list(_live)
    for d in live:
        d.expire()


class _Watched:
    """Mixin for urllib3 connections: register the socket with this thread's deadline
    when it connects and when a response is awaited (a pooled connection is reused
    without connecting again)."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        d = current()
        if d is not None:
            d.watch(self.sock)

    def getresponse(self, *args: Any, **kwargs: Any) -> Any:
        d = current()
        if d is not None:
            d.watch(self.sock)
        return super().getresponse(*args, **kwargs)  # type: ignore[misc]


class _Connection(_Watched, HTTPConnection):
    pass


class _TLSConnection(_Watched, HTTPSConnection):
    pass


class _Pool(HTTPConnectionPool):
    ConnectionCls = _Connection


class _TLSPool(HTTPSConnectionPool):
    ConnectionCls = _TLSConnection


def check_url(url: str, *, allow_loopback: bool, what: str = "URL") -> str:
    """The URL if it is http(s) and its host resolves to an allowed address.

    Raises UsageError otherwise. A host that does not resolve right now is accepted (it
    is checked again on every request)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid {what}: {url!r}", "Give an absolute http:// or https:// URL.")
    if "%" in parts.hostname:
        # An IPv6 zone id (`[fe80::1%25eth0]`) names an interface of this host: no public
        # page needs one, and the name does not resolve, so the guard below would pass it.
        raise UsageError(
            f"{what} {url!r} names a network interface (IPv6 zone id)",
            "Give the public address or name of the server.",
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        filter_host(parts.hostname, port, allow_loopback=allow_loopback)
    except InvalidIPAddress as exc:
        hint = (
            "Loopback is allowed only with TRACKER_ALLOW_LOOPBACK=1 (tests, local development)."
            if _is_loopback(str(exc))
            else "Private, link-local and CGNAT addresses are never fetched."
        )
        raise UsageError(f"{what} {url!r} points to a refused address ({exc})", hint) from None
    except (requests.ConnectionError, socket.gaierror):
        pass
    return url.strip()


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.strip("[]")).is_loopback
    except ValueError:
        return False


def describe_failure(exc: BaseException, url: str, timeout: float) -> str:
    """What went wrong with a request that got no HTTP answer, in words an operator can
    act on: `cannot reach the host H: connection refused`, `... its name does not
    resolve`, `no answer within N s from H`. Never a library's internals (no
    `HTTPConnectionPool(...)`, no object reprs): the innermost OS or TLS error decides."""
    host = urlsplit(url).netloc or url
    if isinstance(exc, requests.exceptions.InvalidSchema | requests.exceptions.InvalidURL):
        return "cannot fetch: not an http(s) URL (a redirect to another scheme?)"
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        inner = getattr(cause, "reason", None)  # urllib3 keeps the cause here
        cause = inner if isinstance(inner, BaseException) else cause.__cause__ or cause.__context__
    for err in reversed(chain):  # innermost first
        if isinstance(err, socket.gaierror) or "resolve" in str(err).lower():
            return (
                f"cannot reach the host {host}: its name does not resolve "
                "(no network, or a wrong address?)"
            )
        if isinstance(err, ConnectionRefusedError):
            return f"cannot reach the host {host}: connection refused (is the server down?)"
        if isinstance(err, ConnectionResetError | BrokenPipeError):
            return f"the connection to {host} was cut off"
        if isinstance(err, ssl.SSLError):
            reason = getattr(err, "reason", None) or type(err).__name__
            return f"cannot reach the host {host} securely: TLS failed ({reason})"
        if isinstance(err, OSError) and err.errno in _UNREACHABLE:
            return f"cannot reach the host {host}: network unreachable (offline?)"
        if isinstance(err, TimeoutError | socket.timeout | requests.Timeout):
            return f"no answer within {timeout:g} s from {host}"
    if any(isinstance(e, urllib3_exceptions.TimeoutError) for e in chain):
        return f"no answer within {timeout:g} s from {host}"
    return f"cannot reach the host {host}: {_reason(exc)}"


_UNREACHABLE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EHOSTDOWN}
# A library's internals in a message: pool reprs, object addresses, "Max retries" noise.
_INTERNALS = re.compile(
    r"\w*ConnectionPool\([^)]*\)|<[^<>]* at 0x[0-9a-f]+>|\w+Connection\([^)]*\)|"
    r"Max retries exceeded with url: \S+|\(Caused by \w+\(|[\"')]+$"
)


def _reason(exc: BaseException) -> str:
    """A short message for an error `describe_failure` does not classify."""
    text = _INTERNALS.sub(" ", str(exc))
    text = " ".join(text.replace('("', " ").split()).strip(" :;,('\"")
    return text[:200] or type(exc).__name__
