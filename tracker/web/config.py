"""The web service's settings, read and checked once (ConfigError, exit 2)."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

from tracker.errors import ConfigError
from tracker.settings import Settings
from tracker.web.server import Limits

_HINT = "See the settings table in the README (The web service)."


def _port(name: str, value: int) -> int:
    if not 0 <= value <= 65535:
        raise ConfigError(f"{name} = {value} is not a port", "Use 1-65535, or 0 for a free one.")
    return value


def _within(name: str, value: float, low: float, high: float) -> None:
    if not low <= value <= high:
        raise ConfigError(f"{name} = {value} is outside {low:g}..{high:g}", _HINT)


@dataclass(frozen=True)
class WebConfig:
    public_url: str
    http_host: str
    http_port: int
    ops_host: str
    ops_port: int
    limits: Limits
    mail_per_address: int
    mail_per_client: int
    rate_window: float
    cache_ttl: float = 1.0

    @property
    def secure(self) -> bool:
        return self.public_url.lower().startswith("https://")

    @classmethod
    def from_settings(cls, s: Settings) -> WebConfig:
        parts = urlsplit(s.public_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ConfigError(
                f"public_url = {s.public_url!r} is not an http(s) URL",
                "Set it to the base URL people reach, e.g. https://tracker.example.org.",
            )
        http_port, ops_port = _port("http_port", s.http_port), _port("ops_port", s.ops_port)
        if http_port and http_port == ops_port and s.http_host == s.ops_host:
            raise ConfigError(
                f"ops_port = {ops_port} is the public http_port",
                "The operations endpoints need their own port: set TRACKER_OPS_PORT.",
            )
        _within("web_threads", s.web_threads, 1, 64)
        _within("web_connection_limit", s.web_connection_limit, 10, 10000)
        _within("web_channel_timeout", s.web_channel_timeout, 1, 3600)
        _within("web_request_timeout", s.web_request_timeout, 1, 600)
        _within("web_max_header", s.web_max_header, 1024, 1024 * 1024)
        _within("web_max_body", s.web_max_body, 1024, 16 * 1024 * 1024)
        _within("web_mail_per_address", s.web_mail_per_address, 1, 1000)
        _within("web_mail_per_client", s.web_mail_per_client, 1, 100000)
        _within("web_rate_window", s.web_rate_window, 1, 30 * 86400)
        _within("web_cache_ttl", s.web_cache_ttl, 0, 60)
        limits = Limits(
            threads=s.web_threads,
            connection_limit=s.web_connection_limit,
            channel_timeout=s.web_channel_timeout,
            request_timeout=s.web_request_timeout,
            max_header=s.web_max_header,
            max_body=s.web_max_body,
            trusted_proxy=s.web_trusted_proxy.strip(),
        )
        return cls(
            public_url=s.public_url.rstrip("/"),
            http_host=s.http_host,
            http_port=http_port,
            ops_host=s.ops_host,
            ops_port=ops_port,
            limits=limits,
            mail_per_address=s.web_mail_per_address,
            mail_per_client=s.web_mail_per_client,
            rate_window=s.web_rate_window,
            cache_ttl=s.web_cache_ttl,
        )
