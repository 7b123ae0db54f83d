"""The `email` notifier: SMTP through aiosmtplib with an explicit TLS mode.

- TLS is never opportunistic: `starttls` requires the upgrade (aiosmtplib's default
  would fall back to plain text and send AUTH in the clear), `tls` is implicit TLS, and
  `none` is refused unless the server is on this host and no password is configured.
- One connection serves a whole batch; a connection the server dropped is reopened once.
- Replies: 4xx is transient (retry later); 5xx on a recipient is permanent (dead-letter
  and suppress the address); 5xx on the message is permanent (dead-letter only). A
  server that is down, times out or refuses our login makes the rest of the batch wait
  for the next attempt instead of timing out message by message.
- `sendmail` raises only when every recipient is refused, so its returned
  refusals are checked too.
- Each message has a total deadline of twice `smtp_timeout` (aiosmtplib's timeout
  bounds each reply, not the sum): a server that drips its replies is treated as down.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import ssl
from types import TracebackType

import aiosmtplib
from aiosmtplib.errors import (
    SMTPAuthenticationError,
    SMTPException,
    SMTPRecipientsRefused,
    SMTPResponseException,
    SMTPServerDisconnected,
    SMTPTimeoutError,
)

from tracker.alerts.messages import Mail
from tracker.alerts.notifiers import Outcome
from tracker.errors import ConfigError
from tracker.settings import Settings

logger = logging.getLogger(__name__)


def _is_local(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def reply(code: int, text: str, recipient: str | None) -> Outcome:
    """Outcome of an SMTP refusal: 4xx retry; 5xx dead, suppressing a refused recipient."""
    error = f"SMTP {code} {text.strip()}"
    if 400 <= code < 500:
        return Outcome("retry", error)
    return Outcome("dead", error, suppress=recipient)


class EmailNotifier:
    """Sends mail through the configured SMTP server (aiosmtplib, explicit TLS mode)."""

    def __init__(self, settings: Settings) -> None:
        self.host: str = settings.smtp_host
        self.port: int = settings.smtp_port
        self.mode: str = settings.smtp_tls
        self.username: str = settings.smtp_username
        self.password: str = settings.smtp_password
        self.timeout: float = settings.smtp_timeout
        self.sender: str = settings.mail_from
        if self.mode == "none" and not _is_local(self.host):
            raise ConfigError(
                f"smtp_tls = none for {self.host}: mail would cross the network in the clear",
                "Use starttls (port 587) or tls (port 465); none is only for a relay on this host.",
            )
        if self.mode == "none" and self.username:
            raise ConfigError(
                "smtp_tls = none with smtp_username: the password would be sent in the clear",
                "Use starttls or tls, or a local relay without AUTH.",
            )
        try:
            self.context = ssl.create_default_context(cafile=settings.smtp_ca_file or None)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"cannot read smtp_ca_file {settings.smtp_ca_file!r}: {exc}",
                "Point smtp_ca_file at a PEM file of CA certificates, or leave it empty.",
            ) from None
        self._runner: asyncio.Runner | None = None
        self._smtp: aiosmtplib.SMTP | None = None
        self._down: str | None = None

    def __enter__(self) -> EmailNotifier:
        self._runner = asyncio.Runner()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._runner is not None
        if self._smtp is not None and self._smtp.is_connected:
            with contextlib.suppress(SMTPException, OSError):
                self._runner.run(self._smtp.quit())
        self._runner.close()
        self._smtp = self._runner = None

    def send(self, item: Mail) -> Outcome:
        if self._down is not None:
            return Outcome("retry", self._down)
        assert self._runner is not None, "use the notifier as a context manager"
        return self._runner.run(self._send(item))

    async def _connect(self) -> aiosmtplib.SMTP:
        smtp = aiosmtplib.SMTP(
            hostname=self.host,
            port=self.port,
            use_tls=self.mode == "tls",
            start_tls=self.mode == "starttls",
            tls_context=self.context if self.mode != "none" else None,
            timeout=self.timeout,
            username=self.username or None,
            password=(self.password or None) if self.username else None,
        )
        await smtp.connect()
        return smtp

    async def _send(self, item: Mail) -> Outcome:
        for attempt in (1, 2):
            if self._smtp is None or not self._smtp.is_connected:
                try:
                    self._smtp = await self._connect()
                except SMTPAuthenticationError as exc:
                    self._down = f"SMTP login refused: {exc.code} {exc.message}"
                    logger.error("%s (check smtp_username and TRACKER_SMTP_PASSWORD)", self._down)
                    return Outcome("retry", self._down)
                except (SMTPException, OSError, ssl.SSLError) as exc:
                    self._down = f"SMTP server {self.host}:{self.port} unavailable: {exc}"
                    logger.warning("%s", self._down)
                    return Outcome("retry", self._down)
            try:
                async with asyncio.timeout(2 * self.timeout):
                    refused, _ = await self._smtp.sendmail(
                        self.sender, [item.recipient], item.as_bytes()
                    )
            except SMTPRecipientsRefused as exc:
                first = exc.recipients[0]
                return reply(first.code, first.message, item.recipient)
            except (SMTPServerDisconnected, SMTPTimeoutError) as exc:
                self._smtp = None
                if attempt == 1 and isinstance(exc, SMTPServerDisconnected):
                    continue  # an idle connection the server closed: reopen once
                return Outcome("retry", f"SMTP connection lost: {exc}")
            except TimeoutError:
                self._smtp.close()
                self._smtp = None
                self._down = f"SMTP server {self.host}:{self.port} took longer than " + (
                    f"{2 * self.timeout:g} s for one message"
                )
                logger.warning("%s", self._down)
                return Outcome("retry", self._down)
            except SMTPResponseException as exc:
                return reply(exc.code, exc.message, None)
            except (SMTPException, OSError) as exc:
                self._smtp = None
                return Outcome("retry", f"SMTP error: {exc}")
            if item.recipient in refused:
                answer = refused[item.recipient]
                return reply(answer.code, answer.message, item.recipient)
            return Outcome("sent")
        return Outcome("retry", "SMTP connection lost twice")
