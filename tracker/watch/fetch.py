"""Fetching one official page: guarded, conditional, bounded, retried politely.

`Fetcher.get(url, etag=..., last_modified=...)` returns a `Response` or raises
`SourceError` (stage `address` when the SSRF guard refused the address). Every request
goes through `netguard.session()` (SSRF guard on every redirect hop, DNS pinned,
loopback only with `allow_loopback`). One session per thread, reused for every request
of that thread (connection pooling; a new session per request made one peer seven times
slower).

- Conditional GET: `If-None-Match` / `If-Modified-Since` from the validators stored per
  source; a 304 comes back as `Response(status=304, body=b"")`.
- Timeouts: connect and read (`fetch_timeout`), plus a wall-clock deadline of twice that
  on the whole exchange (`netguard.deadline`: retries, headers and body), or less when
  the caller gives a shorter `limit` (the check's budget): a server that drips one byte
  at a time, in its headers or its body, is cut off when the time is up.
- Retries (urllib3) on connection errors, 429 and 5xx, with exponential backoff, honouring
  `Retry-After`; a `Retry-After` longer than `MAX_RETRY_WAIT` is not waited for here: the
  error carries it and the next check is scheduled after it.
- The body is streamed and the *decoded* size capped (`fetch_max_bytes`): a 51 kB gzip
  bomb that inflates to 50 MiB is cut at the cap. A larger Content-Length is refused
  before reading.
- 404 and 410 mean the page is gone or moved; any other 4xx or 5xx is an error too.
- A request that got no answer is described by `describe_failure` ("cannot reach the
  host H: connection refused", "... its name does not resolve", "no answer within
  N s from H"), never with a library's internals.
"""

from __future__ import annotations

import email.utils
import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from urllib3.exceptions import MaxRetryError, ResponseError
from urllib3.util import Retry

from tracker import netguard
from tracker.errors import SourceError

MAX_RETRY_WAIT = 30.0
_REASONS = {404: "Not Found", 410: "Gone"}
_TOO_SLOW = "the response took longer than {seconds:g} s (cut off)"


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delta seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    parsed = email.utils.parsedate_tz(value)
    if parsed is None:
        return None
    return max(0.0, email.utils.mktime_tz(parsed) - time.time())


class _Retry(Retry):
    """Retry that gives the response back, instead of sleeping, when the server asks
    for a wait longer than MAX_RETRY_WAIT."""

    def increment(self, method: Any = None, url: Any = None, *args: Any, **kw: Any) -> Any:
        response = kw.get("response")
        pool = kw.get("_pool")
        limit = netguard.current()
        if limit is not None and limit.left() <= 0:
            raise MaxRetryError(pool, url, ResponseError("deadline passed"))  # type: ignore[arg-type]
        if response is not None:
            wait = parse_retry_after(response.headers.get("Retry-After"))
            longest = MAX_RETRY_WAIT if limit is None else min(MAX_RETRY_WAIT, limit.left())
            if wait is not None and wait > longest:
                raise MaxRetryError(pool, url, ResponseError("Retry-After too long"))  # type: ignore[arg-type]
        return super().increment(method, url, *args, **kw)


@dataclass
class Response:
    status: int
    body: bytes
    media_type: str  # lowercased, no parameters
    charset: str | None
    etag: str | None
    last_modified: str | None
    url: str
    elapsed_ms: int


class Fetcher:
    """Fetches pages; safe to share between threads (each thread has its own session)."""

    def __init__(
        self,
        *,
        allow_loopback: bool,
        user_agent: str,
        timeout: float = 30.0,
        max_bytes: int = 10 * 1024 * 1024,
        retries: int = 2,
        backoff: float = 0.5,
    ) -> None:
        self.allow_loopback = allow_loopback
        self.user_agent = user_agent
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.retries = retries
        self.backoff = backoff
        self._local = threading.local()

    def session(self) -> requests.Session:
        s: requests.Session | None = getattr(self._local, "session", None)
        if s is None:
            retry = _Retry(
                total=self.retries,
                backoff_factor=self.backoff,
                status_forcelist=(429, 500, 502, 503, 504),
                allowed_methods=frozenset({"GET"}),
                respect_retry_after_header=True,
                retry_after_max=int(MAX_RETRY_WAIT),
                raise_on_status=False,
            )
            s = netguard.session(
                allow_loopback=self.allow_loopback,
                user_agent=self.user_agent,
                timeout=(min(10.0, self.timeout), self.timeout),
                retry=retry,
            )
            s.max_redirects = 10
            self._local.session = s
        return s

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        last_modified: str | None = None,
        accept: str = "*/*",
        limit: float | None = None,
    ) -> Response:
        """GET `url` within `limit` seconds in all (default twice `timeout`).
        Raises SourceError(stage="fetch" or "http")."""
        seconds = 2 * self.timeout if limit is None else min(limit, 2 * self.timeout)
        if seconds <= 0:
            raise SourceError(_TOO_SLOW.format(seconds=0), stage="fetch")
        with netguard.deadline(seconds) as deadline:
            try:
                response = self._get(url, accept, etag, last_modified)
            except SourceError:
                if deadline.expired:
                    raise SourceError(_TOO_SLOW.format(seconds=seconds), stage="fetch") from None
                raise
            if deadline.expired:  # cut: headers or body may have ended early, looking whole
                raise SourceError(_TOO_SLOW.format(seconds=seconds), stage="fetch")
            return response

    def _get(self, url: str, accept: str, etag: str | None, last_modified: str | None) -> Response:
        headers = {"Accept": accept}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        started = time.monotonic()
        try:
            r = self.session().get(url, headers=headers, stream=True)
        except netguard.InvalidIPAddress as exc:
            raise SourceError(
                f"refused address {exc} (private, loopback, link-local or metadata)",
                "Official pages are public; loopback is allowed only with "
                "TRACKER_ALLOW_LOOPBACK=1.",
                stage="address",
            ) from None
        except requests.TooManyRedirects:
            raise SourceError("redirect loop (more than 10 redirects)", stage="fetch") from None
        except requests.RequestException as exc:
            raise SourceError(
                netguard.describe_failure(exc, url, self.timeout), stage="fetch"
            ) from None
        try:
            return self._read(r, started)
        finally:
            r.close()

    def _read(self, r: requests.Response, started: float) -> Response:
        media, _, params = r.headers.get("Content-Type", "").partition(";")
        charset = None
        for param in params.split(";"):
            name, _, value = param.strip().partition("=")
            if name.lower() == "charset":
                charset = value.strip("\"' ") or None
        if r.status_code >= 400:
            retry_after = parse_retry_after(r.headers.get("Retry-After"))
            reason = _REASONS.get(r.status_code, r.reason or "")
            hint = (
                "The page is gone or moved: find its new address and update the source."
                if r.status_code in (404, 410)
                else ""
            )
            raise SourceError(
                f"HTTP {r.status_code} {reason}".strip(),
                hint,
                stage="http",
                status=r.status_code,
                retry_after=retry_after,
            )
        # A 304's empty body is read too: that is what returns the connection to the pool.
        body = r.content if r.status_code == 304 else self._body(r)
        return Response(
            status=r.status_code,
            body=body,
            media_type=media.strip().lower(),
            charset=charset,
            etag=r.headers.get("ETag"),
            last_modified=r.headers.get("Last-Modified"),
            url=r.url,
            elapsed_ms=int((time.monotonic() - started) * 1000),
        )

    def _body(self, r: requests.Response) -> bytes:
        length = r.headers.get("Content-Length", "")
        if length.isdigit() and int(length) > self.max_bytes:
            raise SourceError(
                f"the page is {int(length):,} bytes, over the {self.max_bytes:,}-byte cap",
                "Raise fetch_max_bytes if this page really is that large.",
                stage="fetch",
                status=r.status_code,
            )
        chunks: list[bytes] = []
        total = 0
        try:
            for chunk in r.iter_content(64 * 1024):
                total += len(chunk)
                if total > self.max_bytes:
                    raise SourceError(
                        f"the page decodes to more than {self.max_bytes:,} bytes "
                        "(cut off; a compression bomb or an unexpected file)",
                        "Raise fetch_max_bytes if this page really is that large.",
                        stage="fetch",
                        status=r.status_code,
                    )
                chunks.append(chunk)
        except requests.RequestException as exc:
            reason = netguard.describe_failure(exc, r.url, self.timeout)
            raise SourceError(f"broken response body: {reason}", stage="fetch") from None
        # A body the deadline's watchdog cut may look complete: `get` checks the deadline
        # once this returns.
        return b"".join(chunks)
