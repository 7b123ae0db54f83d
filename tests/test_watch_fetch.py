"""Fetching against a real local server: conditional GET, Retry-After, redirects and the
SSRF guard, timeouts, size caps, gzip bombs, HTTP errors, robots.txt."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import timedelta

import pytest

from tests.support.pages import PageServer, Reply, Request, chunks
from tracker.errors import SourceError
from tracker.timeutil import utcnow
from tracker.watch.fetch import Fetcher
from tracker.watch.robots import Robots, fetch_robots

UA = "kratom-tracker/0.1"


@pytest.fixture
def site() -> Iterator[PageServer]:
    with PageServer() as s:
        yield s


def fetcher(**kw: object) -> Fetcher:
    options: dict[str, object] = {
        "allow_loopback": True,
        "user_agent": UA,
        "timeout": 1.0,
        "retries": 2,
        "backoff": 0.0,
        "max_bytes": 1_000_000,
    }
    options.update(kw)
    return Fetcher(**options)  # type: ignore[arg-type]


def test_conditional_get_uses_the_validators(site: PageServer) -> None:
    site.page("/law", "<p>Kratom Act</p>")
    f = fetcher()
    first = f.get(site.url("/law"))
    assert first.status == 200 and first.etag and first.last_modified
    again = f.get(site.url("/law"), etag=first.etag, last_modified=first.last_modified)
    assert again.status == 304 and again.body == b""
    sent = site.hits("/law")[-1].headers
    assert sent["if-none-match"] == first.etag
    assert sent["if-modified-since"] == first.last_modified
    assert sent["user-agent"] == UA


def test_retry_after_is_honoured(site: PageServer) -> None:
    answers = iter([Reply(429, b"slow down", headers={"Retry-After": "1"})])

    def route(req: Request) -> Reply:
        return next(answers, Reply(200, b"<p>ok</p>"))

    site.route("/busy", route)
    r = fetcher().get(site.url("/busy"))
    assert r.status == 200 and len(site.hits("/busy")) == 2


def test_long_retry_after_is_not_waited_for_but_reported(site: PageServer) -> None:
    site.route("/later", lambda req: Reply(503, b"", headers={"Retry-After": "3600"}))
    with pytest.raises(SourceError) as info:
        fetcher().get(site.url("/later"))
    assert info.value.status == 503 and info.value.retry_after == 3600
    assert len(site.hits("/later")) == 1


def test_server_errors_are_retried_then_reported(site: PageServer) -> None:
    site.route("/down", lambda req: Reply(502, b"bad gateway", "text/plain"))
    with pytest.raises(SourceError, match="HTTP 502"):
        fetcher(retries=2).get(site.url("/down"))
    assert len(site.hits("/down")) == 3


@pytest.mark.parametrize("status", [404, 410])
def test_gone_pages(site: PageServer, status: int) -> None:
    site.route("/old", lambda req: Reply(status, b"gone", "text/plain"))
    with pytest.raises(SourceError) as info:
        fetcher().get(site.url("/old"))
    assert info.value.status == status and "gone or moved" in info.value.hint


def test_redirect_to_metadata_address_is_refused_on_the_hop(site: PageServer) -> None:
    meta = "http://169.254.169.254/latest/meta-data/"
    site.route("/r", lambda req: Reply(302, b"", headers={"Location": meta}))
    with pytest.raises(SourceError, match="refused address"):
        fetcher(allow_loopback=True).get(site.url("/r"))


def test_loopback_is_refused_unless_allowed(site: PageServer) -> None:
    """With loopback not allowed, a page on 127.0.0.1, or one that redirects there, is
    refused before any request reaches the server."""
    site.page("/here", "<p>x</p>")
    site.route("/r", lambda req: Reply(302, b"", headers={"Location": site.url("/here")}))
    for path in ("/here", "/r"):
        with pytest.raises(SourceError, match="refused address"):
            fetcher(allow_loopback=False).get(site.url(path))
    assert site.hits("/here") == [] and site.hits("/r") == []


def test_redirect_loop(site: PageServer) -> None:
    site.route("/a", lambda req: Reply(302, b"", headers={"Location": "/b"}))
    site.route("/b", lambda req: Reply(302, b"", headers={"Location": "/a"}))
    with pytest.raises(SourceError, match="redirect loop"):
        fetcher().get(site.url("/a"))


def test_server_that_never_answers(site: PageServer) -> None:
    site.route("/hang", lambda req: Reply(200, b"late", delay=3.0))
    with pytest.raises(SourceError, match="no answer within"):
        fetcher(timeout=0.5, retries=0).get(site.url("/hang"))


def test_large_response_with_content_length_is_refused_before_reading(site: PageServer) -> None:
    size = 50 * 1024 * 1024
    site.route(
        "/big",
        lambda req: Reply(200, b"", headers={"Content-Length": str(size)}, stream=chunks(0)),
    )
    with pytest.raises(SourceError, match="over the 1,000,000-byte cap"):
        fetcher().get(site.url("/big"))


def test_large_response_without_length_is_cut_at_the_cap(site: PageServer) -> None:
    site.route("/stream", lambda req: Reply(200, stream=chunks(50 * 1024 * 1024)))
    with pytest.raises(SourceError, match="decodes to more than 1,000,000 bytes"):
        fetcher().get(site.url("/stream"))


def test_gzip_bomb_is_cut_at_the_decoded_cap(site: PageServer) -> None:
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024), 9)
    assert len(bomb) < 100_000
    site.route("/bomb", lambda req: Reply(200, bomb, headers={"Content-Encoding": "gzip"}))
    with pytest.raises(SourceError, match="compression bomb"):
        fetcher().get(site.url("/bomb"))


def test_robots_rules_and_crawl_delay(site: PageServer) -> None:
    rules = "User-agent: *\nDisallow: /private\nAllow: /private/public$\nCrawl-delay: 7\n"
    site.page("/robots.txt", rules, "text/plain")
    robots = fetch_robots(fetcher(), site.base, utcnow())
    assert robots.allows(site.url("/law"), UA)
    assert not robots.allows(site.url("/private/x"), UA)
    assert robots.allows(site.url("/private/public"), UA)
    assert robots.crawl_delay(UA) == 7.0


def test_robots_unavailable_allows_unreachable_disallows(site: PageServer) -> None:
    site.route("/robots.txt", lambda req: Reply(404, b"", "text/plain"))
    missing = fetch_robots(fetcher(), site.base, utcnow())
    assert missing.status == 404 and missing.allows(site.url("/x"), UA)
    site.route("/robots.txt", lambda req: Reply(500, b"", "text/plain"))
    broken = fetch_robots(fetcher(retries=0), site.base, utcnow())
    assert broken.status == 500 and not broken.allows(site.url("/x"), UA)
    assert "unreachable" in broken.why_not()
    now = utcnow()
    assert not Robots(500, None, now).fresh(now)  # asked again next time
    assert Robots(404, None, now).fresh(now + timedelta(hours=1))
