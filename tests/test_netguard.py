"""SSRF guard: real connections to a local server, refused unless loopback is allowed;
metadata and private addresses always refused, before any connection is made."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest
import requests

from tracker.errors import UsageError
from tracker.netguard import InvalidIPAddress, check_url, session


class _Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path == "/to-metadata":
            self.send_response(302)
            self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
            self.end_headers()
            return
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[str]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_loopback_refused_unless_allowed(server: str) -> None:
    with pytest.raises(InvalidIPAddress):
        session(allow_loopback=False, user_agent="t").get(server + "/")
    assert session(allow_loopback=True, user_agent="t").get(server + "/").text == "hello"


def test_redirect_to_metadata_refused_even_with_loopback(server: str) -> None:
    with pytest.raises(InvalidIPAddress):
        session(allow_loopback=True, user_agent="t").get(server + "/to-metadata")


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/",
        "http://10.0.0.1/",
        "http://100.64.0.1/",
        "http://[::ffff:10.0.0.1]/",
    ],
)
def test_check_url_refuses_private_addresses(url: str) -> None:
    with pytest.raises(UsageError):
        check_url(url, allow_loopback=True)


def test_check_url(server: str) -> None:
    assert check_url(server, allow_loopback=True) == server
    with pytest.raises(UsageError, match="refused address"):
        check_url(server, allow_loopback=False)
    with pytest.raises(UsageError, match="invalid URL"):
        check_url("ftp://example.org/x", allow_loopback=True)
    with pytest.raises(requests.ConnectionError):
        session(allow_loopback=False, user_agent="t").get("http://no-such-host.invalid/")
