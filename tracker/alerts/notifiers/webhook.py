"""The `webhook` notifier: signed POSTs through the SSRF-guarded session.

2xx is success. Redirects are not followed (a redirect is a failure: the endpoint
should name the final URL). `410 Gone` dead-letters the message and disables the
endpoint. Anything else (other statuses, timeouts, refused connections, an address the
guard refuses) is retried, honouring `Retry-After`. Each delivery has a total
wall-clock deadline of `webhook_timeout` (`netguard.deadline`): a receiver that drips
its answer a byte at a time is cut off like one that never answers, and both are
`unreachable` (the dispatcher then defers that endpoint's other messages).
`webhook-timestamp` is the time of this attempt from the real clock (receivers check it
against theirs); `webhook-id` and the body are the same on every attempt.
"""

from __future__ import annotations

import logging
import time
from email.utils import parsedate_to_datetime
from types import TracebackType

import requests

from tracker import netguard
from tracker.alerts import webhooks
from tracker.alerts.messages import Hook
from tracker.alerts.notifiers import Outcome
from tracker.settings import Settings

logger = logging.getLogger(__name__)


def retry_after(value: str | None, now: float) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or an HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - now)
    except (TypeError, ValueError):
        return None


class WebhookNotifier:
    """Posts Standard Webhooks v1 signed JSON to endpoints (no redirects, 15 s timeout)."""

    def __init__(self, settings: Settings) -> None:
        self.allow_loopback: bool = settings.allow_loopback
        self.user_agent: str = settings.user_agent
        self.timeout: float = settings.webhook_timeout
        self.session: requests.Session | None = None

    def __enter__(self) -> WebhookNotifier:
        self.session = netguard.session(
            allow_loopback=self.allow_loopback,
            user_agent=self.user_agent,
            never_redirect=True,
            timeout=(min(5.0, self.timeout), self.timeout),
        )
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.session is not None:
            self.session.close()
        self.session = None

    def send(self, item: Hook) -> Outcome:
        assert self.session is not None, "use the notifier as a context manager"
        now = time.time()
        head = webhooks.headers(item.msg_id, int(now), item.body, item.secrets)
        slow = Outcome(
            "retry", f"no answer from {item.url} within {self.timeout:g} s", unreachable=True
        )
        with netguard.deadline(self.timeout) as deadline:
            try:
                response = self.session.post(item.url, data=item.body, headers=head, stream=True)
            except netguard.InvalidIPAddress as exc:
                return Outcome("retry", f"{item.url} resolves to a refused address ({exc})")
            except requests.Timeout:
                return slow
            except requests.RequestException as exc:
                if deadline.expired:
                    return slow
                reason = netguard.describe_failure(exc, item.url, self.timeout)
                return Outcome("retry", reason, unreachable=True)
            if deadline.expired:  # cut while the headers dripped in: not an answer
                response.close()
                return slow
        with response:
            status = response.status_code
            if 200 <= status < 300:
                return Outcome("sent")
            if status == 410:
                return Outcome("dead", "410 Gone: endpoint disabled", disable_endpoint=True)
            if 300 <= status < 400:
                where = response.headers.get("location", "?")
                return Outcome(
                    "retry",
                    f"HTTP {status} redirect to {where} not followed; give the endpoint its "
                    "final URL",
                )
            wait = retry_after(response.headers.get("retry-after"), now)
            return Outcome("retry", f"HTTP {status} from {item.url}", retry_after=wait)
