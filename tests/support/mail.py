"""A real local SMTP server for tests and benchmarks: aiosmtpd on 127.0.0.1, with
STARTTLS or implicit TLS using a certificate made on the spot (trustme), and AUTH.

    with MailServer(tmp_path, tls="starttls", auth=("alert", "s3cret")) as server:
        settings = settings.replace(**server.settings())
        ...
        server.messages  # every accepted message, parsed

The server can be stopped and started again on the same port (a mail server that is
down for a while), told to refuse recipients (`refuse["x@y"] = "550 ..."`), or to
answer DATA slowly (`delay`). `silent_port()` gives a port that accepts connections and
never answers (an SMTP server that hangs).
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default
from pathlib import Path
from typing import Any

import trustme
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


def free_port() -> int:
    # aiosmtpd's Controller cannot take port=0: it needs the port to test the server.
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Sink:
    """aiosmtpd handler that keeps every accepted message."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self.refuse: dict[str, str] = {}
        self.delay = 0.0
        self.lock = threading.Lock()

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: Any
    ) -> str:
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.delay:
            await asyncio.sleep(self.delay)
        msg = message_from_bytes(envelope.content, policy=default)
        assert isinstance(msg, EmailMessage)
        with self.lock:
            self.messages.append(msg)
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        return "250 Message accepted for delivery"


class MailServer:
    def __init__(
        self,
        folder: Path,
        *,
        tls: str = "starttls",
        auth: tuple[str, str] | None = None,
        port: int | None = None,
    ) -> None:
        self.tls = tls
        self.auth = auth
        self.port = port or free_port()
        self.sink = Sink()
        self.ca_file = folder / "smtp-ca.pem"
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        ca.cert_pem.write_to_path(str(self.ca_file))
        self.context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        cert.configure_cert(self.context)
        self.controller: Controller | None = None

    @property
    def messages(self) -> list[EmailMessage]:
        return self.sink.messages

    def _authenticate(
        self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any
    ) -> AuthResult:
        if (
            self.auth is not None
            and isinstance(data, LoginPassword)
            and data.login == self.auth[0].encode()
            and data.password == self.auth[1].encode()
        ):
            return AuthResult(success=True)
        # handled=False lets aiosmtpd answer 535 itself.
        return AuthResult(success=False, handled=False)

    def start(self) -> MailServer:
        kwargs: dict[str, Any] = {}
        if self.tls == "starttls":
            kwargs.update(tls_context=self.context, require_starttls=True)
        elif self.tls == "tls":
            kwargs.update(ssl_context=self.context)
        if self.auth is not None:
            kwargs.update(
                authenticator=self._authenticate, auth_required=True, auth_require_tls=True
            )
        self.controller = Controller(self.sink, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None

    def __enter__(self) -> MailServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def settings(self, password: str | None = None) -> dict[str, Any]:
        """Settings overrides that point the tracker at this server."""
        out: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_tls": self.tls,
            "smtp_ca_file": str(self.ca_file),
            "smtp_timeout": 5.0,
        }
        if self.auth is not None:
            out.update(smtp_username=self.auth[0], smtp_password=password or self.auth[1])
        return out


@contextmanager
def silent_port() -> Iterator[int]:
    """A port whose server accepts TCP connections and never says a word."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(16)
        yield int(s.getsockname()[1])
