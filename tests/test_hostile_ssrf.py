"""SSRF attempts: source URLs given to `tracker sources add` or written in a source file,
redirects, names that resolve to private addresses, and webhook URLs. Each is refused
before any request reaches the address, with a clear error; loopback passes only with
`allow_loopback`, and private, link-local and metadata addresses never do.

`localhost` and the numeric spellings of 127.0.0.1 are real names here. A name that
resolves to 10.x or 169.254.x cannot be produced for real (no DNS server of ours), so
those tests replace `socket.getaddrinfo`, the one call both the guard and the connection
go through, with an answer for the test's names only (`fake_dns`).
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from tests.conftest import Templates, use_loaded_copy
from tests.support.alerting import Clock, dispatcher, make_settings, record, sqlite_copy
from tests.support.daemons import write_sources
from tests.support.pages import PageServer, Reply
from tests.support.receivers import WebhookReceiver
from tracker.alerts import webhooks
from tracker.errors import SourceError, UsageError
from tracker.netguard import check_url
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import OUTBOX
from tracker.watch.fetch import Fetcher

PAGE = "<html><body><main><p>Kratom rule.</p></main></body></html>"


def fake_dns(monkeypatch: pytest.MonkeyPatch, answers: dict[str, list[str]]) -> list[str]:
    """Answer `getaddrinfo` for the given names with the given addresses, in turn (the
    last one repeats); other names resolve as usual. Returns the names looked up."""
    real = socket.getaddrinfo
    asked: list[str] = []

    def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name in answers:
            asked.append(name)
            queue = answers[name]
            ip = queue.pop(0) if len(queue) > 1 else queue[0]
            family = socket.AF_INET6 if ":" in ip else socket.AF_INET
            return [(family, socket.SOCK_STREAM, 6, "", (ip, int(port or 80)))]
        return real(host, port, *args, **kw)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)
    return asked


@pytest.fixture
def site(
    templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[PageServer]:
    """A loaded SQLite database, loopback NOT allowed, and a local site that counts hits."""
    use_loaded_copy(
        templates, tmp_path, monkeypatch, host_delay="0", fetch_timeout="2", fetch_retries="0"
    )
    with PageServer() as s:
        s.page("/law", PAGE)
        yield s


def _hits(site: PageServer) -> int:
    with site.httpd.lock:
        return len(site.httpd.log)


LOOPBACK_FORMS = [
    "http://127.0.0.1:{port}/law",
    "http://localhost:{port}/law",
    "http://2130706433:{port}/law",  # 127.0.0.1 as one number
    "http://0x7f000001:{port}/law",
    "http://017700000001:{port}/law",  # octal
    "http://127.1:{port}/law",
    "http://[::ffff:127.0.0.1]:{port}/law",
    "http://0.0.0.0:{port}/law",
]
ALWAYS_REFUSED = [
    "http://169.254.169.254/latest/meta-data/",
    "http://10.0.0.1/",
    "http://192.168.1.1/",
    "http://172.16.0.1/",
    "http://100.64.0.1/",  # CGNAT
    "http://[fd00::1]/",
    "http://[fe80::1]/",
    "http://[fe80::1%25lo]:{port}/law",  # an interface's zone id
    "http://224.0.0.1/",
]


@pytest.mark.parametrize("url", LOOPBACK_FORMS + ALWAYS_REFUSED)
def test_sources_add_refuses_internal_addresses(
    cli: Any, site: PageServer, tmp_path: Path, url: str
) -> None:
    result = cli("sources", "add", "US-RI", url.format(port=site.httpd.server_address[1]))
    assert result.code == 2, result
    assert "refused address" in result.err or "network interface" in result.err
    assert not (tmp_path / "data" / "sources.yaml").exists()
    assert _hits(site) == 0


@pytest.mark.parametrize("url", ALWAYS_REFUSED)
def test_private_addresses_stay_refused_with_loopback_allowed(
    cli: Any, site: PageServer, monkeypatch: pytest.MonkeyPatch, url: str
) -> None:
    monkeypatch.setenv("TRACKER_ALLOW_LOOPBACK", "1")
    result = cli("sources", "add", "US-RI", url.format(port=site.httpd.server_address[1]))
    assert result.code == 2 and ("refused address" in result.err or "interface" in result.err)


@pytest.mark.parametrize(
    ("name", "ip"),
    [
        ("intranet.example", "10.1.2.3"),
        ("metadata.example", "169.254.169.254"),
        ("v6.example", "fd12::1"),
    ],
)
def test_a_name_resolving_to_a_private_address_is_refused(
    cli: Any, site: PageServer, monkeypatch: pytest.MonkeyPatch, name: str, ip: str
) -> None:
    monkeypatch.setenv("TRACKER_ALLOW_LOOPBACK", "1")
    asked = fake_dns(monkeypatch, {name: [ip]})
    result = cli("sources", "add", "US-RI", f"http://{name}/law")
    assert result.code == 2 and f"refused address ({ip})" in result.err
    assert asked  # the name was resolved and its address checked


def test_source_files_with_internal_urls_fail_at_the_fetch(
    cli: Any, site: PageServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A source file is reviewed data, not checked against DNS when synced: its internal
    URLs fail on every check, as that source's error, and no request is made."""
    port = site.httpd.server_address[1]
    fake_dns(monkeypatch, {"intranet.example": ["10.1.2.3"]})
    bad = {
        "loop": f"http://localhost:{port}/law",
        "meta": "http://169.254.169.254/latest/meta-data/",
        "intra": "http://intranet.example/law",
        "num": f"http://2130706433:{port}/law",
    }
    write_sources(
        tmp_path / "data",
        [{"key": k, "place": "US-RI", "url": u, "kind": "html"} for k, u in bad.items()],
    )
    result = cli("check", *bad, "--json")
    assert result.code == 1
    assert result.out.count("refused address") == len(bad)
    assert _hits(site) == 0


@pytest.mark.parametrize(
    "target",
    [
        "http://169.254.169.254/latest/meta-data/iam/",
        "http://intranet.example/admin",
        "http://[::ffff:10.0.0.1]/",
        "file:///etc/passwd",
        "gopher://127.0.0.1:6379/_INFO",
    ],
)
def test_redirects_to_internal_addresses_are_refused_on_the_hop(
    monkeypatch: pytest.MonkeyPatch, target: str
) -> None:
    fake_dns(monkeypatch, {"intranet.example": ["10.1.2.3"]})
    with PageServer() as site:
        site.route("/go", lambda req: Reply(302, headers={"Location": target}))
        fetcher = Fetcher(allow_loopback=True, user_agent="t", timeout=2, retries=0)
        with pytest.raises(SourceError) as err:
            fetcher.get(site.url("/go"))
    assert "refused address" in str(err.value) or "cannot fetch" in str(err.value)
    assert "root:" not in str(err.value)  # nothing of a local file


def test_the_checked_address_is_the_one_connected_to(monkeypatch: pytest.MonkeyPatch) -> None:
    """DNS rebinding: the name resolves to loopback when the guard checks it, to a private
    address on any later look-up. The request connects to the address that was checked
    (one look-up per request, no second one at connect time); the next request resolves
    again, gets the private address, and is refused."""
    with PageServer() as site:
        site.page("/law", PAGE)
        asked = fake_dns(monkeypatch, {"pages.example": ["127.0.0.1", "10.255.255.1"]})
        fetcher = Fetcher(allow_loopback=True, user_agent="t", timeout=2, retries=0)
        url = f"http://pages.example:{site.httpd.server_address[1]}/law"
        assert b"Kratom rule" in fetcher.get(url).body
        assert len(asked) == 1
        with pytest.raises(SourceError, match=r"refused address 10\.255\.255\.1") as err:
            fetcher.get(url)
        assert err.value.stage == "address"
        assert len(site.hits("/law")) == 1


def test_check_url_refuses_zone_ids() -> None:
    with pytest.raises(UsageError, match="network interface"):
        check_url("http://[fe80::1%25eth0]/", allow_loopback=True)


# ---------------------------------------------------------------- webhooks


@pytest.fixture
def alerts_db(tmp_path: Path, templates: Templates) -> Iterator[Database]:
    yield from sqlite_copy(tmp_path, templates.sqlite_empty)


@pytest.mark.parametrize("url", ["http://localhost:{port}/hook", "http://2130706433:{port}/hook"])
def test_webhook_to_loopback_is_refused_unless_allowed(alerts_db: Database, url: str) -> None:
    with WebhookReceiver() as rx, alerts_db.write() as conn:
        target = url.format(port=rx.server.server_address[1])
        with pytest.raises(UsageError, match="refused address"):
            webhooks.add(conn, target, allow_loopback=False)
        assert webhooks.add(conn, target, allow_loopback=True).url == target


def test_webhook_name_resolving_to_private_is_refused(
    alerts_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_dns(monkeypatch, {"hooks.example": ["169.254.169.254"]})
    with alerts_db.write() as conn, pytest.raises(UsageError, match="refused address"):
        webhooks.add(conn, "http://hooks.example/hook", allow_loopback=True)


def test_webhook_whose_name_later_resolves_to_private_is_not_sent(
    alerts_db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Accepted when the name pointed at the receiver; by delivery time it points at a
    private address: the POST is refused (and retried later), nothing is sent."""
    with WebhookReceiver() as rx:
        url = f"http://hooks.example:{rx.server.server_address[1]}/hook"
        fake_dns(monkeypatch, {"hooks.example": ["127.0.0.1"]})
        with alerts_db.write() as conn:
            webhooks.add(conn, url, allow_loopback=True)
        record(alerts_db, "US-AL", "banned")
        fake_dns(monkeypatch, {"hooks.example": ["10.0.0.7"]})
        stats = dispatcher(alerts_db, make_settings(), Clock()).run()
    assert stats.retry == 1 and stats.sent == 0 and rx.requests == []
    with alerts_db.read() as conn:
        row = conn.execute(sa.select(OUTBOX).where(OUTBOX.c.channel == "webhook")).one()
    assert row.status == "pending" and "refused address" in (row.last_error or "")
