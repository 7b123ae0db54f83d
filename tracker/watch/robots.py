"""robots.txt per RFC 9309, parsed by protego (longest match, wildcards, `$`).

Fetched through the same guarded `Fetcher` as pages (so it cannot be used for SSRF) and
cached in the `host` row for `CACHE_FOR`, shared by every replica.

- 2xx: the rules apply (the first 500 KiB are parsed, the minimum RFC 9309 asks for).
- 4xx ("unavailable"): everything is allowed.
- an address the SSRF guard refuses: that `SourceError` is raised (the page's error).
- 5xx or unreachable: everything is disallowed for now (RFC 9309 section 2.3.1.4); such a
  result is not cached, so the next check asks again. A host that cannot be reached at
  all is reported as such ("cannot reach the host ..."), not as a robots.txt problem.
- `Crawl-delay` for our user agent (or `*`) raises the host's minimum delay, up to
  `MAX_CRAWL_DELAY` seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from tracker.errors import SourceError
from tracker.watch.fetch import Fetcher

CACHE_FOR = timedelta(hours=24)
MAX_CRAWL_DELAY = 120.0
MAX_BYTES = 500 * 1024


@dataclass
class Robots:
    status: int  # HTTP status of robots.txt; 0 when unreachable
    text: str | None = None
    fetched_at: datetime | None = None
    error: str | None = None  # why the host could not be reached (status 0), in words
    _parsed: Any = field(default=None, repr=False)

    def fresh(self, now: datetime) -> bool:
        return (
            self.fetched_at is not None
            and self.status != 0
            and self.status < 500
            and now - self.fetched_at < CACHE_FOR
        )

    def _rules(self) -> Any:
        if self._parsed is None and self.text is not None:
            from protego import Protego

            self._parsed = Protego.parse(self.text)
        return self._parsed

    def allows(self, url: str, user_agent: str) -> bool:
        if 200 <= self.status < 300:
            rules = self._rules()
            return rules is None or bool(rules.can_fetch(url, user_agent))
        return 400 <= self.status < 500

    def crawl_delay(self, user_agent: str) -> float | None:
        if not (200 <= self.status < 300) or self._rules() is None:
            return None
        delay = self._rules().crawl_delay(user_agent)
        return None if delay is None else min(float(delay), MAX_CRAWL_DELAY)

    def why_not(self) -> str:
        if self.status == 0 and self.error:
            return self.error  # "cannot reach the host ...": the host, not robots.txt
        if self.status == 0 or self.status >= 500:
            return (
                f"robots.txt is unreachable ({'no answer' if self.status == 0 else self.status})"
                "; RFC 9309 says not to fetch until it answers"
            )
        return "robots.txt disallows this page for our user agent"


def fetch_robots(fetcher: Fetcher, host: str, now: datetime) -> Robots:
    """Fetch `host`/robots.txt (`host` is scheme://name[:port])."""
    try:
        r = fetcher.get(host + "/robots.txt", accept="text/plain, */*;q=0.1")
    except SourceError as exc:
        if exc.stage == "address":
            raise  # the guard refused the host: say so, not "robots.txt unreachable"
        return Robots(
            status=exc.status or 0, fetched_at=now, error=None if exc.status else str(exc)
        )
    text = r.body[:MAX_BYTES].decode("utf-8", "replace")
    return Robots(status=r.status, text=text, fetched_at=now)
