"""`tracker doctor` against local servers: an SMTP server with STARTTLS and AUTH, page
servers on loopback, a closed port, a server that never answers, and the real databases.
No internet exists here, so every host it probes is local."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import Templates
from tests.support.daemons import sqlite_data_dir, write_sources
from tests.support.mail import MailServer, free_port, silent_port
from tests.support.pages import PageServer


@pytest.fixture
def setup(tmp_path: Path, templates: Templates, monkeypatch: pytest.MonkeyPatch) -> Path:
    data = sqlite_data_dir(tmp_path, templates.sqlite_loaded)
    monkeypatch.setenv("TRACKER_DATA_DIR", str(data))
    monkeypatch.setenv("TRACKER_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("TRACKER_HTTP_PORT", "0")
    monkeypatch.setenv("TRACKER_OPS_PORT", "0")
    return data


def _checks(result) -> dict[str, list[dict[str, str]]]:  # type: ignore[no-untyped-def]
    doc = json.loads(result.out)
    out: dict[str, list[dict[str, str]]] = {}
    for c in doc["checks"]:
        out.setdefault(c["check"], []).append(c)
    return out


def test_everything_reachable(cli, setup: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    with PageServer() as site, MailServer(tmp_path, auth=("alert", "s3cret")) as mail:
        site.page("/rule", "<html><body><main>kratom</main></body></html>")
        write_sources(
            setup, [{"key": "local", "place": "US-RI", "url": site.url("/rule"), "kind": "html"}]
        )
        for name, value in mail.settings().items():
            monkeypatch.setenv(f"TRACKER_{name.upper()}", str(value))
        result = cli("doctor", "--source", "local", "--timeout", "5", "--json")
        assert result.code == 0, result.out
        checks = _checks(result)
        assert {c["status"] for group in checks.values() for c in group} == {"ok"}
        assert "AUTH accepted" in checks["mail"][0]["detail"]
        assert "HTTP 200" in checks["source host"][0]["detail"]
        assert "sources" in checks["database"][0]["detail"]
        assert checks["schema"][0]["detail"] == "up to date"
        text = cli("doctor", "--source", "local", "--timeout", "5")
        assert text.code == 0 and "0 failed" in text.out


def test_failures_are_named(cli, setup: Path, tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    closed = free_port()
    with MailServer(tmp_path, auth=("alert", "s3cret")) as mail, silent_port() as hang:
        write_sources(
            setup,
            [
                {
                    "key": "closed",
                    "place": "US-RI",
                    "url": f"http://127.0.0.1:{closed}/x",
                    "kind": "html",
                },
                {
                    "key": "hangs",
                    "place": "US-RI",
                    "url": f"http://127.0.0.1:{hang}/x",
                    "kind": "html",
                },
            ],
        )
        for name, value in mail.settings(password="wrong").items():
            monkeypatch.setenv(f"TRACKER_{name.upper()}", str(value))
        result = cli(
            "doctor", "--source", "closed", "--source", "hangs", "--timeout", "1", "--json"
        )
    assert result.code == 1
    checks = _checks(result)
    assert checks["mail"][0]["status"] == "fail" and "535" in checks["mail"][0]["detail"]
    hosts = {c["detail"].split(" ")[0]: c for c in checks["source host"]}
    assert hosts[f"http://127.0.0.1:{closed}"]["status"] == "fail"
    assert "no answer within 1 s" in hosts[f"http://127.0.0.1:{hang}"]["detail"]
    assert checks["database"][0]["status"] == "ok"


def test_unreachable_database_and_bad_settings(cli, setup: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv(
        "TRACKER_DATABASE_URL", f"postgresql+psycopg://tracker@127.0.0.1:{free_port()}/x"
    )
    result = cli("doctor", "--no-sources", "--timeout", "2", "--json")
    assert result.code == 1
    database = _checks(result)["database"][0]
    assert database["status"] == "fail" and "***" not in database["detail"]
    assert "Connection refused" in database["detail"] or "connect" in database["detail"]

    monkeypatch.setenv("TRACKER_CHECK_LEASE", "0")
    result = cli("doctor", "--json")
    assert result.code == 2  # invalid settings are bad input
    (settings,) = _checks(result)["settings"]
    assert (
        settings["status"] == "fail"
        and "check_lease = '0' must be between 1 and 604800" in settings["detail"]
    )
