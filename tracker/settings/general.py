"""Settings of storage, logging, the network, the web service, exports and the knowledge."""

from __future__ import annotations

from tracker.settings.base import Setting, default_data_dir
from tracker.valuecheck import between, host, http_url, one_line

DECLARED: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        str,
        default_data_dir,
        "Folder for the SQLite database, snapshots, mail folder and exports.",
    ),
    Setting(
        "database_url",
        str,
        "",
        "SQLAlchemy URL of the database; empty means SQLite at <data_dir>/tracker.db. "
        "PostgreSQL: postgresql+psycopg://user@host/db. A URL with a password is read "
        "only from the environment.",
    ),
    Setting(
        "auto_migrate",
        str,
        "auto",
        "When the database schema is behind this tracker: auto (SQLite: migrate on start; "
        "PostgreSQL: only an empty database, or when no replica is running), on (always "
        "migrate on start), off (never: `tracker db upgrade` does it).",
        choices=("auto", "on", "off"),
    ),
    Setting(
        "log_level",
        str,
        "INFO",
        "Log level: DEBUG, INFO, WARNING or ERROR.",
        choices=("DEBUG", "INFO", "WARNING", "ERROR"),
    ),
    Setting(
        "log_format",
        str,
        "auto",
        "Log format: auto (JSON when stderr is not a terminal), json or text.",
        choices=("auto", "json", "text"),
    ),
    Setting(
        "allow_loopback",
        bool,
        False,
        "Allow fetching and webhooks to loopback addresses (tests and local development "
        "only); private, link-local and CGNAT addresses stay refused.",
    ),
    Setting(
        "user_agent",
        str,
        "kratom-tracker/0.1",
        "User-Agent sent with every fetch and matched against robots.txt rules; add a "
        "contact address for the sites you watch.",
        check=one_line,
    ),
    Setting(
        "public_url",
        str,
        "http://127.0.0.1:8750",
        "Base URL of the HTTP endpoint as subscribers reach it (links in mail).",
        check=http_url,
    ),
    Setting(
        "http_host", str, "127.0.0.1", "Address the daemon's HTTP endpoint listens on.", check=host
    ),
    Setting("http_port", int, 8750, "Port of the daemon's HTTP endpoint.", check=between(0, 65535)),
    # The web service (issue 12); `tracker.web.config.WebConfig` checks them together.
    Setting(
        "ops_host",
        str,
        "127.0.0.1",
        "Address of /livez, /readyz, /metrics, /status.json.",
        check=host,
    ),
    Setting(
        "ops_port",
        int,
        8751,
        "Port of the operations endpoints (0 picks a free one).",
        check=between(0, 65535),
    ),
    Setting(
        "web_threads", int, 8, "Worker threads of each HTTP server (1-64).", check=between(1, 64)
    ),
    Setting(
        "web_connection_limit",
        int,
        200,
        "Open connections kept by each HTTP server.",
        check=between(10, 10000),
    ),
    Setting(
        "web_channel_timeout",
        float,
        30.0,
        "Seconds an idle HTTP connection stays open.",
        check=between(1, 3600),
    ),
    Setting(
        "web_request_timeout",
        float,
        20.0,
        "Seconds a client has to send a request.",
        check=between(1, 600),
    ),
    Setting(
        "web_max_header",
        int,
        16384,
        "Largest request header block, in bytes.",
        check=between(1024, 1 << 20),
    ),
    Setting(
        "web_max_body",
        int,
        65536,
        "Largest request body (forms), in bytes.",
        check=between(1024, 16 << 20),
    ),
    Setting(
        "web_trusted_proxy",
        str,
        "",
        "Reverse proxy whose X-Forwarded-For is believed.",
        check=one_line,
    ),
    Setting(
        "web_cache_ttl",
        float,
        1.0,
        "Seconds answers are served from memory (0: none).",
        check=between(0, 60),
    ),
    Setting(
        "web_mail_per_address",
        int,
        3,
        "Form mails to one address per web_rate_window.",
        check=between(1, 1000),
    ),
    Setting(
        "web_mail_per_client",
        int,
        10,
        "Form requests per client per web_rate_window.",
        check=between(1, 100000),
    ),
    Setting(
        "web_rate_window",
        float,
        3600.0,
        "Seconds the two web_mail limits count over.",
        check=between(1, 30 * 86400),
    ),
    # Exports (issue 6).
    Setting(
        "export_dir",
        str,
        "",
        "Folder the exports and the status page are regenerated into (`tracker export "
        "--all`, the daemon); empty means <data_dir>/exports.",
    ),
    # Knowledge (issue 10).
    Setting(
        "stale_days",
        int,
        365,
        "Days after which a record is stale: `tracker coverage` counts from its checked date "
        "(when a person last verified its sources; undated is stale), `tracker review "
        "--stale` from its last verification (the later of that and the tracker's own).",
    ),
)
