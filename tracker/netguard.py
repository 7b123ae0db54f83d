"""Outbound HTTP that cannot be turned against the host's own network (SSRF).

Every request to an official page or a webhook receiver goes through `session()`: a
requests-hardened session that resolves the host, refuses private, loopback, link-local,
CGNAT, multicast and mapped addresses, connects to the checked IP (DNS pinned), and does
so again on every redirect hop. Loopback is allowed only when the `allow_loopback`
setting is on (tests, local development); the other ranges stay refused even then.

`check_url` validates a URL when it is configured (a source or a webhook endpoint), so a
bad one is refused with a clear message before anything is stored.
"""

from __future__ import annotations

import ipaddress
import socket
from urllib.parse import urlsplit

import requests
from requests_hardened import Config, Manager
from requests_hardened.ip_filter import InvalidIPAddress, filter_host
from urllib3.util import Retry

from tracker.errors import UsageError

__all__ = ["InvalidIPAddress", "check_url", "session"]


def session(
    *,
    allow_loopback: bool,
    user_agent: str,
    never_redirect: bool = False,
    timeout: tuple[float, float] = (5.0, 30.0),
    retry: Retry | None = None,
) -> requests.Session:
    """A guarded session; reuse it for many requests (connection pooling).

    `retry` (urllib3) is installed on both adapters, e.g. backoff honouring Retry-After.
    """
    config = Config(
        ip_filter_enable=True,
        ip_filter_allow_loopback_ips=allow_loopback,
        never_redirect=never_redirect,
        default_timeout=timeout,
        user_agent_override=user_agent,
    )
    s = Manager(config).get_session()
    s.trust_env = False  # no proxies or netrc from the environment
    if retry is not None:
        for adapter in s.adapters.values():
            adapter.max_retries = retry
    return s


def check_url(url: str, *, allow_loopback: bool, what: str = "URL") -> str:
    """The URL if it is http(s) and its host resolves to an allowed address.

    Raises UsageError otherwise. A host that does not resolve right now is accepted (it
    is checked again on every request)."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UsageError(f"invalid {what}: {url!r}", "Give an absolute http:// or https:// URL.")
    if "%" in parts.hostname:
        # An IPv6 zone id (`[fe80::1%25eth0]`) names an interface of this host: no public
        # page needs one, and the name does not resolve, so the guard below would pass it.
        raise UsageError(
            f"{what} {url!r} names a network interface (IPv6 zone id)",
            "Give the public address or name of the server.",
        )
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        filter_host(parts.hostname, port, allow_loopback=allow_loopback)
    except InvalidIPAddress as exc:
        hint = (
            "Loopback is allowed only with TRACKER_ALLOW_LOOPBACK=1 (tests, local development)."
            if _is_loopback(str(exc))
            else "Private, link-local and CGNAT addresses are never fetched."
        )
        raise UsageError(f"{what} {url!r} points to a refused address ({exc})", hint) from None
    except (requests.ConnectionError, socket.gaierror):
        pass
    return url.strip()


def _is_loopback(ip: str) -> bool:
    try:
        return ipaddress.ip_address(ip.strip("[]")).is_loopback
    except ValueError:
        return False
