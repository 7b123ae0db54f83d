"""The JSON API: the same documents as the CLI's `--json`, held to the OpenAPI document
it serves; conditional GET, CORS, and errors that say what to do. On both backends."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from tests.support.alerting import make_settings, record
from tests.support.web import PublicSite
from tracker.storage.engine import Database
from tracker.web.api import openapi_document


@pytest.fixture
def site(
    loaded_db: Database, loaded_url: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PublicSite]:
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)  # the CLI reads the same data
    with PublicSite(loaded_db, make_settings(database_url=loaded_url)) as s:
        yield s


def _schema_for(path: str, status: int) -> dict[str, Any]:
    doc = openapi_document()
    answer = doc["paths"][path]["get"]["responses"][str(status)]
    if "$ref" in answer:
        answer = doc["components"]["responses"][answer["$ref"].rsplit("/", 1)[1]]
    return answer["content"]["application/json"]["schema"]


def check(path: str, status: int, body: Any) -> None:
    """Validate `body` against the OpenAPI schema of `path` answered with `status`."""
    doc = openapi_document()
    root = {"components": doc["components"], **_schema_for(path, status)}
    errors = sorted(Draft202012Validator(root).iter_errors(body), key=lambda e: e.path)
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors[:5])


def test_the_openapi_document_is_valid(site: PublicSite) -> None:
    served = site.get("/api/v1/openapi.json")
    assert served.status_code == 200
    validate_spec(served.json())
    index = site.get("/api/v1/").json()
    assert "/api/v1/zip/{zip}" in index["paths"] and index["openapi"] == "/api/v1/openapi.json"


CASES = [
    ("/api/v1/places/US-AL", "/places/{place}", ["status", "US-AL"]),
    ("/api/v1/status?place=US-RI&place=TH", "/status", ["status", "US-RI", "TH"]),
    ("/api/v1/status?place=US-RI,San%20Diego", "/status", ["status", "US-RI", "San Diego"]),
    (
        "/api/v1/places/US-RI?as_of=2026-01-01&substance=7-OH",
        "/places/{place}",
        ["status", "US-RI", "--as-of", "2026-01-01", "--substance", "7-OH"],
    ),
    ("/api/v1/zip/38801", "/zip/{zip}", ["status", "38801"]),
    ("/api/v1/zip/92101-1234", "/zip/{zip}", ["status", "92101-1234"]),
    (
        "/api/v1/places/ocd-division/country:us/state:ca/place:san_diego",
        "/places/{place}",
        ["status", "ocd-division/country:us/state:ca/place:san_diego"],
    ),
    ("/api/v1/places?in=US&kind=state", "/places", ["list", "--in", "US", "--kind", "state"]),
    ("/api/v1/places?status=banned", "/places", ["list", "--status", "banned"]),
    ("/api/v1/places/US-RI/history", "/places/{place}/history", ["history", "US-RI"]),
    ("/api/v1/pending", "/pending", ["pending"]),
    ("/api/v1/pending?place=US-AL", "/pending", ["pending", "US-AL"]),
    ("/api/v1/changes?since=2026-01-01", "/changes", ["changes", "--since", "2026-01-01"]),
]


@pytest.mark.parametrize(("url", "path", "args"), CASES, ids=[c[0] for c in CASES])
def test_answers_are_the_cli_documents_and_match_openapi(
    site: PublicSite, cli: Any, url: str, path: str, args: list[str]
) -> None:
    answer = site.get(url)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    body = answer.json()
    check(path, 200, body)
    result = cli(*args, "--json")
    assert result.code == 0, result.err
    assert body == json.loads(result.out)


def test_zip_answer_names_its_places(site: PublicSite) -> None:
    (answer,) = site.get("/api/v1/zip/38801").json()["results"]
    assert answer["zip"]["city"] == "Tupelo" and answer["zip"]["county"] == "Lee County"
    assert answer["zip"]["state"] == "US-MS" and answer["place"]["name"] == "Tupelo"
    assert [lvl["level"] for lvl in answer["levels"]] == ["city", "state", "federal"]


ERRORS = [
    ("/api/v1/places/Atlantis", "/places/{place}", 404, "unknown place", "suggestions"),
    ("/api/v1/places/Alabam", "/places/{place}", 404, "unknown place", "Alabama"),
    ("/api/v1/places/AL", "/places/{place}", 400, "matches several places", "candidates"),
    ("/api/v1/places/US-AL?as_of=yesterday", "/places/{place}", 400, "as_of", "YYYY-MM-DD"),
    ("/api/v1/places/US-AL?known_at=soon", "/places/{place}", 400, "known_at", "YYYY-MM-DD"),
    ("/api/v1/places/US-AL?known_at=2999-01-01", "/places/{place}", 400, "future", "omit"),
    ("/api/v1/places/US-AL?substance=coffee", "/places/{place}", 400, "substance", "7-OH"),
    ("/api/v1/places?status=illegal", "/places", 400, "status", "banned"),
    ("/api/v1/places?kind=planet", "/places", 400, "kind", "county"),
    ("/api/v1/status", "/status", 400, "no place", "place="),
    ("/api/v1/zip/00000", "/zip/{zip}", 404, "unknown ZIP", "ZIP"),
    ("/api/v1/zip/3880", "/zip/{zip}", 404, "unknown place", "hint"),
    ("/api/v1/zip/09001", "/zip/{zip}", 400, "military", "country or US state"),
    ("/api/v1/changes?since=last%20week", "/changes", 400, "since", "YYYY-MM-DD"),
]


@pytest.mark.parametrize(
    ("url", "path", "status", "words", "more"), ERRORS, ids=[e[0] for e in ERRORS]
)
def test_errors_are_documented_json(
    site: PublicSite, url: str, path: str, status: int, words: str, more: str
) -> None:
    answer = site.get(url)
    assert answer.status_code == status, answer.text
    body = answer.json()
    check(path, status, body)
    assert words in body["error"]["message"]
    assert more in json.dumps(body)


def test_unknown_zip_suggests_codes_in_use(site: PublicSite) -> None:
    body = site.get("/api/v1/zip/38899").json()
    assert body["error"]["suggestions"] and all(len(z) == 5 for z in body["error"]["suggestions"])


def test_conditional_get_and_invalidation(site: PublicSite, loaded_db: Database) -> None:
    first = site.get("/api/v1/places/US-AL")
    etag, modified = first.headers["ETag"], first.headers["Last-Modified"]
    assert first.headers["Cache-Control"] == "no-cache"
    same = site.get("/api/v1/places/US-AL", headers={"If-None-Match": etag})
    assert same.status_code == 304 and same.content == b"" and same.headers["ETag"] == etag
    since = site.get("/api/v1/places/US-AL", headers={"If-Modified-Since": modified})
    assert since.status_code == 304
    other = site.get("/api/v1/places/US-AL?substance=7-OH", headers={"If-None-Match": etag})
    assert other.status_code == 200  # another representation, another ETag
    # A new record changes the answer: the old ETag no longer matches.
    record(loaded_db, "US-AL", "regulated", start="2026-01-01", min_age=21)
    fresh = site.get("/api/v1/places/US-AL", headers={"If-None-Match": etag})
    assert fresh.status_code == 200 and fresh.headers["ETag"] != etag
    assert fresh.json()["results"][0]["status"] == "regulated"


def test_a_change_shows_within_web_cache_ttl(loaded_db: Database, loaded_url: str) -> None:
    with PublicSite(loaded_db, make_settings(), cache_ttl=0.5) as s:
        etag = s.get("/api/v1/places/US-WY").headers["ETag"]
        record(loaded_db, "US-WY", "banned", start="2026-01-01")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            answer = s.get("/api/v1/places/US-WY")
            if answer.headers["ETag"] != etag:
                break
            time.sleep(0.1)
        assert answer.json()["results"][0]["status"] == "banned"


def test_cors_for_reading_only(site: PublicSite) -> None:
    answer = site.get("/api/v1/places/US-AL", headers={"Origin": "https://shop.example"})
    assert answer.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in answer.headers["Access-Control-Expose-Headers"]
    pre = site.session.options(
        site.url + "/api/v1/places/US-AL",
        headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "GET"},
        timeout=30,
    )
    assert pre.status_code == 204 and "GET" in pre.headers["Access-Control-Allow-Methods"]
    assert "POST" not in pre.headers["Access-Control-Allow-Methods"]
    assert site.post("/api/v1/places/US-AL").status_code == 405
    head = site.session.head(site.url + "/api/v1/places/US-AL", timeout=30)
    assert head.status_code == 200 and head.content == b""
    # Pages are not readable cross-origin.
    assert "Access-Control-Allow-Origin" not in site.get("/places/US-AL").headers
