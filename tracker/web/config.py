"""The web service's settings, read and checked once (ConfigError, exit 2)."""

from __future__ import annotations

from dataclasses import dataclass

from tracker.errors import ConfigError
from tracker.settings import Settings
from tracker.web.server import Limits


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
        # Each value's own range is checked where it is declared (tracker.settings);
        # what is checked here is how they go together.
        http_port, ops_port = s.http_port, s.ops_port
        if http_port and http_port == ops_port and s.http_host == s.ops_host:
            raise ConfigError(
                f"ops_port = {ops_port} is the public http_port",
                "The operations endpoints need their own port: set TRACKER_OPS_PORT.",
            )
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
