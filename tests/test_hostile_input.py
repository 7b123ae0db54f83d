"""Bad settings, links, records, page text and command lines get a clear answer, never a
500 or "This is a bug" (issue 14, items 6-10): through the real entry point, a real HTTP
server, a real check against a local site, and a real read-only mount and full disk."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from datetime import timedelta
from email import message_from_bytes
from email.policy import default
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml

from tests.support.alerting import Clock, dispatcher, make_settings, subscribe
from tests.support.pages import PageServer
from tracker.alerts import tokens
from tracker.storage.engine import Database, make_engine
from tracker.timeutil import utcnow

BUG = "This is a bug"

# ---------------------------------------------------------------- item 6: settings


@pytest.mark.parametrize(
    ("name", "value", "message"),
    [
        ("FETCH_MAX_BYTES", "-1", "fetch_max_bytes = '-1' must be between 1024 and"),
        ("FETCH_TIMEOUT", "0", "fetch_timeout = '0' must be between 0.1 and 3600"),
        ("FETCH_TIMEOUT", "-1", "fetch_timeout = '-1' must be between"),
        ("FETCH_TIMEOUT", "nan", "fetch_timeout = 'nan' must be between"),
        ("WEBHOOK_TIMEOUT", "-3", "webhook_timeout = '-3' must be between"),
        ("SMTP_PORT", "0", "smtp_port = '0' must be between 1 and 65535"),
        ("HTTP_PORT", "99999999999999999999999", "http_port = '99999999999999999999999' must be"),
        ("RETRY_DELAYS", "5x,abc", "retry_delays = '5x,abc' is not valid: invalid interval '5x'"),
        ("DEFAULT_EVERY", "-5h", "default_every = '-5h' is not valid"),
        ("MAIL_FROM", "a@b.org\r\nBcc: x@y.org", "mail_from = 'a@b.org\\r\\nBcc: x@y.org' must"),
        ("PUBLIC_URL", "ftp://x.org", "public_url = 'ftp://x.org' must be an absolute http"),
        ("CHECK_BUDGET", "0", "check_budget = '0' must be between 1 and 3600"),
    ],
)
@pytest.mark.parametrize("command", ["config", "doctor", "run"])
def test_bad_settings_are_refused_by_name(
    cli: Any, monkeypatch: pytest.MonkeyPatch, command: str, name: str, value: str, message: str
) -> None:
    monkeypatch.setenv(f"TRACKER_{name}", value)
    if command == "doctor":  # doctor reports it among its checks
        result = cli("doctor", "--no-sources", "--json")
        shown = "".join(c["detail"] for c in json.loads(result.out)["checks"])
    else:
        result = cli(command)
        shown = result.err
    assert result.code == 2, result
    assert f"TRACKER_{name}: {message}" in shown and BUG not in result.err


def test_a_bad_setting_in_the_file_names_the_file(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "tracker.toml").write_text("smtp_port = 70000\n")
    monkeypatch.setenv("TRACKER_CONFIG", str(tmp_path / "tracker.toml"))
    result = cli("config")
    assert result.code == 2 and "tracker.toml: smtp_port = 70000 must be between" in result.err


# ---------------------------------------------------------------- item 7: links


def _forged(action: str, sid: int | str, expiry: int | str) -> str:
    body = base64.urlsafe_b64encode(f"{action}.{sid}.{expiry}".encode()).rstrip(b"=").decode()
    return f"{body}.AAAAAAAAAAAAAAAAAAAAAAAAAAA"


def test_hostile_tokens_get_400_and_the_same_answer(empty_db: Database, served: str) -> None:
    sid = subscribe(empty_db, "vic@example.org")
    key = tokens.signing_key(empty_db)
    soon = utcnow() + timedelta(days=1)
    answers = {}
    cases = {
        "huge expiry": _forged("unsubscribe", sid, 10**30),
        "negative expiry": _forged("unsubscribe", sid, -(10**30)),
        "huge subscriber id": _forged("unsubscribe", 10**30, 2_000_000_000),
        "id past 32 bits": tokens.make(key, "unsubscribe", 2**31, "vic@example.org", soon),
        "no such subscriber": tokens.make(key, "unsubscribe", sid + 1, "vic@example.org", soon),
        "forged for a subscriber": _forged("unsubscribe", sid, 2_000_000_000),
    }
    for name, token in cases.items():
        for method in ("GET", "POST"):
            answer = requests.request(method, f"{served}/unsubscribe?token={token}", timeout=10)
            assert answer.status_code == 400, (name, method, answer.text)
            answers[name, method] = answer.text
    # Whether the subscriber exists or not, the page says the same.
    assert answers["no such subscriber", "GET"] == answers["forged for a subscriber", "GET"]
    assert "not valid" in answers["huge expiry", "POST"]


def test_a_content_length_that_is_not_a_number_is_400(served: str) -> None:
    port = int(served.rsplit(":", 1)[1])
    for length in ("abc", "-5", "1e3"):
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(
                b"POST /unsubscribe?token=x HTTP/1.0\r\nHost: x\r\n"
                + f"Content-Length: {length}\r\n\r\n".encode()
            )
            reply = b""
            while chunk := s.recv(65536):
                reply += chunk
        assert reply.startswith(b"HTTP/1.0 400"), reply[:200]
        assert b"Traceback" not in reply


# ---------------------------------------------------------------- item 8: record


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--expires", "2025-12-31"], "--expires 2025-12-31 is before --from 2026-01-01"),
        (["--expires", "2025"], "--expires 2025 is before --from"),
        (["--citation", "   "], "invalid --citation '   '"),
        (["--source", "ftp://x.org/a"], "invalid --source"),
        (["--source", "http://[::1"], "invalid --source"),
        (["--source", "https://exa mple.org/"], "invalid --source"),
        (["--source", "https://x.org:99999/"], "invalid --source"),
        (["--source", "https:///path"], "invalid --source"),
    ],
)
def test_record_refuses_bad_input(
    cli: Any,
    loaded_sqlite_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    options: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("TRACKER_DATA_DIR", str(loaded_sqlite_dir))
    base = {"--from": "2026-01-01", "--citation": "Act 1", "--source": "https://x.org/act"}
    args = [*options]
    for flag, value in base.items():
        if flag not in options:
            args += [flag, value]
    before = cli("history", "US-RI", "--json").out
    result = cli("record", "US-RI", "banned", *args)
    assert result.code == 2 and message in result.err and BUG not in result.err, result
    assert cli("history", "US-RI", "--json").out == before  # nothing written
    ok = cli(
        "record", "US-RI", "banned", "--expires", "2026", *[x for kv in base.items() for x in kv]
    )
    assert ok.code == 0, ok


# ---------------------------------------------------------------- item 9: terminal, mail

HOSTILE = "Ban \x1b[2J\x1b]0;pwned\x07 on \u202ekratom\u202c sales"


def test_page_text_cannot_drive_the_terminal_or_the_mail_reader(
    cli: Any, loaded_sqlite_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRACKER_DATA_DIR", str(loaded_sqlite_dir))
    monkeypatch.setenv("TRACKER_ALLOW_LOOPBACK", "1")
    monkeypatch.setenv("TRACKER_HOST_DELAY", "0")
    db = Database(make_engine(f"sqlite:///{loaded_sqlite_dir / 'tracker.db'}"))
    try:
        subscribe(db, "ana@example.org", places=["US-RI"], cadence="immediate")
        with PageServer() as site:
            source = {"key": "ri", "place": "US-RI", "url": site.url("/law"), "kind": "html"}
            (loaded_sqlite_dir / "sources.yaml").write_text(yaml.safe_dump({"sources": [source]}))
            site.page("/law", "<html><body><p>Kratom Act</p><p>Sales allowed</p></body></html>")
            assert cli("check", "ri").code == 0
            site.page("/law", f"<html><body><p>Kratom Act</p><p>{HOSTILE}</p></body></html>")
            assert "1 changed" in cli("check", "ri").out
        for args in (["diff", "1"], ["diff", "1", "--new"], ["diff", "1", "--html"]):
            shown = cli(*args).out
            assert not any(c in shown for c in "\x1b\x07\u202e\u202c"), (args, shown)
            assert "\\x1b[2J" in shown and "<U+202E>kratom<U+202C>" in shown
        settings = make_settings(data_dir=str(loaded_sqlite_dir))
        assert dispatcher(db, settings, Clock()).run().sent >= 1
    finally:
        db.dispose()
    alerts = [p.read_bytes() for p in (loaded_sqlite_dir / "mail").glob("*.eml")]
    (alert,) = [m for m in alerts if b"changed" in m.split(b"\n\n", 1)[0]]
    texts = [
        part.get_content()
        for part in message_from_bytes(alert, policy=default).walk()
        if part.get_content_maintype() == "text"
    ]
    assert len(texts) == 2
    for text in texts:
        assert not any(c in text for c in "\x1b\x07\u202e\u202c"), text
        assert "<U+202E>kratom" in text or "&lt;U+202E&gt;kratom" in text


# ---------------------------------------------------------------- item 10: exit codes


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["status", "US-RI", "--known-at", "0001-01-01T00:00+05:00"], "is out of range"),
        (["status", "US-RI", "--known-at", "9999-12-31"], "is out of range"),
        (["diff", "999999999999999999999999"], "invalid change"),
        (["outbox", "retry", "999999999999999999999999"], "is not in the range"),
        (["webhooks", "remove", "999999999999999999999999"], "is not in the range"),
        (["webhooks", "rotate", "3000000000"], "is not in the range"),
        (["serve", "--port", "99999"], "is not in the range"),
        (["serve", "--port", "-1"], "is not in the range"),
        (["serve", "--host", "999.1.1.1", "--port", "0"], "cannot listen on 999.1.1.1:0"),
        (["serve", "--host", "http://x"], "invalid --host"),
        (
            ["subscribe", "a@example.org", "--cadence", "immediate", "--hour", "7"],
            "--hour cannot be used with --cadence immediate",
        ),
        (
            ["subscribe", "a@example.org", "--cadence", "daily", "--weekday", "tue"],
            "--weekday cannot be used with --cadence daily",
        ),
        (["doctor", "--source", "x", "--no-sources"], "--source and --no-sources contradict"),
        (["doctor", "--timeout", "-5"], "-5.0 is not in the range"),
    ],
)
def test_bad_command_lines_exit_2_with_a_message(
    cli: Any,
    loaded_sqlite_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
    args: list[str],
    message: str,
) -> None:
    monkeypatch.setenv("TRACKER_DATA_DIR", str(loaded_sqlite_dir))
    result = cli(*args)
    assert result.code == 2, result
    assert message in result.err and BUG not in result.err, result.err


def test_a_damaged_database_file_says_so(
    cli: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "damaged"
    folder.mkdir()
    (folder / "tracker.db").write_bytes(os.urandom(64 * 1024))
    monkeypatch.setenv("TRACKER_DATA_DIR", str(folder))
    result = cli("status", "US-RI")
    assert result.code == 3, result
    assert f"the database file {folder / 'tracker.db'} is damaged" in result.err
    assert "Restore it from your latest backup" in result.err and BUG not in result.err


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip()}); the fault drills need root")


@pytest.fixture
def mounted(tmp_path: Path) -> Iterator[Path]:
    point = tmp_path / "mnt"
    point.mkdir()
    yield point
    subprocess.run(["umount", "-l", str(point)], capture_output=True)


def test_a_read_only_data_folder_says_so(
    cli: Any, loaded_sqlite_dir: Path, mounted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _mount("--bind", str(loaded_sqlite_dir), str(mounted))
    _mount("-o", "remount,bind,ro", str(mounted))
    monkeypatch.setenv("TRACKER_DATA_DIR", str(mounted))
    result = cli("status", "US-RI")
    assert result.code == 3, result
    assert "its file or its folder is read-only" in result.err and BUG not in result.err
    assert "Make the data folder writable" in result.err


def test_a_full_disk_says_so(
    cli: Any, loaded_sqlite_dir: Path, mounted: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    size = sum(p.stat().st_size for p in loaded_sqlite_dir.iterdir()) + (8 << 20)
    _mount("-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mounted))
    for path in loaded_sqlite_dir.iterdir():
        shutil.copy(path, mounted / path.name)
    monkeypatch.setenv("TRACKER_DATA_DIR", str(mounted))
    before = cli("history", "US-RI", "--json").out  # migrated, WAL in place: then it fills
    assert '"records"' in before
    with open(mounted / "filler", "wb") as fh:
        try:
            while True:
                fh.write(b"\0" * (1 << 20))
                fh.flush()
        except OSError:
            pass
    result = cli(
        "record", "US-RI", "banned", "--from", "2026-01-01", "--citation", "Act 1",
        "--source", "https://x.org/act",
    )  # fmt: skip
    assert result.code == 3, result
    assert "is full" in result.err and "Free space on it" in result.err and BUG not in result.err
    (mounted / "filler").unlink()
    assert cli("history", "US-RI", "--json").out == before  # nothing half-written
