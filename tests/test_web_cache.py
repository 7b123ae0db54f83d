"""The answer cache (`tracker.web.cache`): built once per data version, bounded in
entries and bytes, gzip only for clients that accept it, 304 for a matching ETag."""

from __future__ import annotations

import pytest

from tracker.storage.engine import Database
from tracker.web.app import Request, Response
from tracker.web.cache import Cache

pytestmark = pytest.mark.parametrize("empty_url", ["sqlite"], indirect=True)


def _request(path: str, **headers: str) -> Request:
    return Request("GET", path, {}, {k.replace("_", "-"): v for k, v in headers.items()})


def test_built_once_bounded_and_validated(empty_db: Database) -> None:
    cache = Cache(empty_db, size=10, max_bytes=1500)
    builds: list[str] = []

    def build(name: str) -> Response:
        builds.append(name)
        return Response.text(name * 600)

    first = cache.answer(_request("/a"), lambda: build("a"))
    cache.answer(_request("/a"), lambda: build("a"))
    assert builds == ["a"] and first.headers["ETag"]
    for name in "bcd":
        cache.answer(_request("/" + name), lambda n=name: build(n))  # type: ignore[misc]
    assert cache._bytes <= 1500 and len(cache._entries) == 2  # the oldest went first
    same = cache.answer(_request("/a", if_none_match=first.headers["ETag"]), lambda: build("x"))
    assert same.status == 304 and same.body == b"" and "x" not in builds
    errors = cache.answer(_request("/e"), lambda: Response.text("no", 404))
    assert errors.status == 404 and len(cache._entries) == 2  # errors are not kept


@pytest.mark.parametrize(
    ("accept", "compressed"),
    [("gzip, deflate", True), ("br;q=1, gzip;q=0.5", True), ("gzip;q=0", False), ("", False)],
)
def test_gzip_only_when_accepted(empty_db: Database, accept: str, compressed: bool) -> None:
    cache = Cache(empty_db)
    answer = cache.answer(_request("/p", accept_encoding=accept), lambda: Response.text("x" * 5000))
    assert (answer.headers.get("Content-Encoding") == "gzip") is compressed
    assert (len(answer.body) < 5000) is compressed
