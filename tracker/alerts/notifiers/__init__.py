"""Notifiers: how a built message leaves the host. A small registry keyed by kind.

    email    SMTP through aiosmtplib (tracker.alerts.notifiers.email)
    file     .eml files in <data_dir>/mail when no SMTP server is configured
    webhook  Standard Webhooks v1 POSTs (tracker.alerts.notifiers.webhook)

Contract of a notifier (built with the settings):
- it is a context manager; entering opens what a batch shares (one SMTP connection, one
  HTTP session) and leaving closes it;
- `send(item)` delivers one built message and returns an `Outcome`; it never raises for
  a delivery failure, and it never touches the database (the dispatcher records the
  outcome with a fenced update, outside the send);
- the first line of the class docstring is its help text.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, Protocol

from tracker.settings import Settings

Result = Literal["sent", "retry", "dead", "skipped"]


@dataclass(frozen=True)
class Outcome:
    """What became of one delivery. `suppress` names an address to add to the
    suppression list (a permanent refusal); `disable_endpoint` is set by a 410 Gone;
    `unreachable` when the receiver could not be reached or did not answer within the
    delivery's deadline (its other messages then wait for a later run)."""

    result: Result
    error: str | None = None
    retry_after: float | None = None
    suppress: str | None = None
    disable_endpoint: bool = False
    unreachable: bool = False


class Notifier(Protocol):
    def __enter__(self) -> Notifier: ...

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None: ...

    def send(self, item: Any) -> Outcome: ...


# kind -> "module:class"; imported on first use, so the CLI stays fast.
NOTIFIERS: dict[str, str] = {
    "email": "tracker.alerts.notifiers.email:EmailNotifier",
    "file": "tracker.alerts.notifiers.file:FileNotifier",
    "webhook": "tracker.alerts.notifiers.webhook:WebhookNotifier",
}

Factory = Callable[[Settings], Notifier]


def load(kind: str) -> Factory:
    module, attr = NOTIFIERS[kind].split(":")
    factory: Factory = getattr(importlib.import_module(module), attr)
    return factory


def kind_for(channel: str, settings: Settings) -> str:
    """The notifier of an outbox channel: mail goes to files when no SMTP host is set."""
    if channel == "email":
        return "email" if settings.smtp_host else "file"
    return channel


def describe() -> dict[str, str]:
    """kind -> help line, for listings (`tracker features`)."""
    out = {}
    for kind in NOTIFIERS:
        doc = (load(kind).__doc__ or "").strip().splitlines()
        out[kind] = doc[0] if doc else ""
    return out
