"""Settings, declared once: name, type, default, help, and whether it is a secret.

Precedence, lowest first: the declared default, the TOML file, then `TRACKER_<NAME>`
environment variables. Secrets are read only from the environment: a secret in the TOML
file is an error, so a settings file can be shared or committed without leaking anything.

The TOML file is `$TRACKER_CONFIG` when set (it must then exist), else
`<user config dir>/tracker.toml` when that exists. Keys are the setting names, flat:

    database_url = "postgresql+psycopg://tracker@db/tracker"
    http_port = 8750

`Settings.origin(name)` says where each value came from (`default`, `file:PATH`,
`env:TRACKER_NAME`), which `tracker config` prints.

Every value is validated when it is read, by its declaration: its type, `choices`, and
`check` (a range or a format, `tracker.valuecheck`). A bad value stops every command
before it does anything: ConfigError (exit 2) naming the setting and where it was set.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from tracker.errors import ConfigError
from tracker.valuecheck import (
    Check,
    Settings,
    address,
    between,
    config_file_path,
    convert,
    has_password,
    host,
    http_url,
    intervals,
    one_line,
)
from tracker.valuecheck import one_interval as interval

__all__ = ["DECLARED", "Setting", "Settings", "config_file_path", "declare", "load_settings"]


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()
    check: Check | None = None  # a range or a format: what is wrong with a value, or None

    @property
    def env(self) -> str:
        return "TRACKER_" + self.name.upper()


def _default_data_dir() -> str:
    import platformdirs

    return platformdirs.user_data_dir("tracker", appauthor=False)


# Defaults that depend on the machine are callables, evaluated when settings are loaded.
DECLARED: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        str,
        _default_data_dir,
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
    # Alerts (issue 4): mail, webhooks, links.
    Setting(
        "smtp_host",
        str,
        "",
        "SMTP server for alerts and digests; empty writes each message as an .eml file "
        "to <data_dir>/mail instead.",
        check=host,
    ),
    Setting(
        "smtp_port", int, 587, "SMTP port (587 for starttls, 465 for tls).", check=between(1, 65535)
    ),
    Setting(
        "smtp_tls",
        str,
        "starttls",
        "SMTP TLS mode, always explicit: starttls, tls (implicit, port 465) or none "
        "(only for a relay on this host, and never with a password).",
        choices=("starttls", "tls", "none"),
    ),
    Setting("smtp_username", str, "", "SMTP user name; empty means no AUTH."),
    Setting("smtp_password", str, "", "SMTP password (environment only).", secret=True),
    Setting(
        "smtp_ca_file",
        str,
        "",
        "PEM file of CA certificates trusted for the SMTP server; empty means the system's.",
    ),
    Setting(
        "smtp_timeout",
        float,
        30.0,
        "Seconds before an SMTP connection or reply times out.",
        check=between(0.1, 3600),
    ),
    Setting(
        "mail_from",
        str,
        "tracker@localhost",
        "From address of alerts and digests (its domain also names Message-ID and List-Id).",
        check=address,
    ),
    Setting(
        "operator_email",
        str,
        "",
        "Address told about dead outbox rows and disabled webhooks; empty only logs them.",
        check=address,
    ),
    Setting(
        "signing_key",
        str,
        "",
        "Key that signs confirm and unsubscribe links (environment only); empty uses a "
        "random key kept in the database.",
        secret=True,
    ),
    Setting(
        "webhook_timeout",
        float,
        15.0,
        "Seconds a webhook receiver has to answer.",
        check=between(0.1, 3600),
    ),
    Setting(
        "expiring_days",
        int,
        30,
        "An `expiring` event is sent when a temporary rule expires within this many days.",
        check=between(0, 3650),
    ),
    # Watching official pages (issue 3).
    Setting(
        "fetch_timeout",
        float,
        30.0,
        "Seconds to wait for a server to connect or answer.",
        check=between(0.1, 3600),
    ),
    Setting(
        "fetch_max_bytes",
        int,
        10 * 1024 * 1024,
        "Largest page body accepted, counted after decompression (gzip bombs stop here).",
        check=between(1024, 2**31),
    ),
    Setting(
        "fetch_retries",
        int,
        2,
        "Retries on connection errors, 429 and 5xx (backoff).",
        check=between(0, 10),
    ),
    Setting(
        "check_workers",
        int,
        8,
        "Sources checked at the same time by `tracker check`, and hosts worked on at the "
        "same time by each daemon replica.",
        check=between(1, 256),
    ),
    Setting(
        "host_delay",
        float,
        2.0,
        "Minimum seconds between two requests to one host (robots.txt Crawl-delay can raise it).",
        check=between(0, 3600),
    ),
    Setting(
        "failure_alert_after",
        int,
        3,
        "Failed checks in a row before a source_failing event is raised (once).",
        check=between(1, 10_000),
    ),
    Setting(
        "default_every",
        str,
        "24h",
        "Check interval of a source that gives none (30m, 6h, 1d).",
        check=interval,
    ),
    Setting(
        "flap_days",
        int,
        30,
        "A page returning to a version seen in this many days is not a change (anti-flap).",
        check=between(0, 3650),
    ),
    Setting(
        "diff_max_bytes",
        int,
        2_000_000,
        "Above this much text (both versions) a change is recorded without a diff.",
        check=between(0, 2**31),
    ),
    Setting(
        "snapshot_keep",
        int,
        20,
        "Versions kept per source besides the current one.",
        check=between(0, 100_000),
    ),
    Setting(
        "snapshot_keep_days",
        int,
        365,
        "Snapshots named by a change are kept at least this many days.",
        check=between(0, 36_500),
    ),
    Setting(
        "check_budget",
        float,
        120.0,
        "Seconds one check may take from its page request on (fetch, extract, normalize, "
        "diff); past it the check is an error and its host is released.",
        check=between(1, 3600),
    ),
    Setting(
        "shipped_sources",
        bool,
        True,
        "Watch the shipped official sources (jurisdictions/sources); false turns them all "
        "off (staging, tests), leaving only your own <data_dir>/sources.yaml.",
    ),
    # The daemon (issue 5): timers, leases and limits of `tracker run`. Times in seconds.
    Setting(
        "min_every",
        str,
        "1m",
        "Shortest check interval a source may ask for (`every`); tests and benchmarks "
        "lower it (e.g. 5s).",
        check=interval,
    ),
    Setting(
        "check_jitter",
        float,
        0.1,
        "Each next check time is pushed back by a random part of the source's interval up "
        "to this fraction (0.1 = 10%), so sources added together spread out.",
        check=between(0, 1),
    ),
    Setting(
        "check_poll",
        float,
        0.5,
        "Seconds between two looks for due sources in each daemon replica (a local timer; "
        "what is due lives in the database).",
        check=between(0.01, 3600),
    ),
    Setting(
        "check_lease",
        float,
        600.0,
        "Seconds a replica holds the sources it claimed; a killed replica's sources are "
        "checked by another once this runs out.",
        check=between(1, 7 * 86400),
    ),
    Setting(
        "host_lease",
        float,
        300.0,
        "Seconds a replica holds a host it works on (renewed while it works); a killed "
        "replica's hosts are taken over once this runs out.",
        check=between(1, 7 * 86400),
    ),
    Setting(
        "host_batch",
        int,
        10,
        "Due sources of one host a replica claims at once.",
        check=between(1, 10_000),
    ),
    Setting(
        "dispatch_poll",
        float,
        2.0,
        "Seconds between two outbox runs in each daemon replica.",
        check=between(0.01, 3600),
    ),
    Setting(
        "dispatch_lease",
        float,
        600.0,
        "Seconds a dispatcher holds the outbox rows it claimed: the crash window after "
        "which a killed replica's batch is sent again.",
        check=between(1, 7 * 86400),
    ),
    Setting(
        "dispatch_batch",
        int,
        20,
        "Outbox rows claimed and sent per batch (the most one crash can repeat).",
        check=between(1, 10_000),
    ),
    Setting(
        "retry_delays",
        str,
        "",
        "Waits after each failed delivery attempt, comma separated (5s,5m,30m,2h); the "
        "row is dead after the last. Empty means the documented schedule of about three "
        "days (tests and fault drills shorten it).",
        check=intervals,
    ),
    Setting(
        "digest_poll",
        float,
        60.0,
        "Seconds between two looks for digests due (local hours).",
        check=between(0.1, 86400),
    ),
    Setting(
        "retention_every",
        float,
        21600.0,
        "Seconds between two runs of the snapshot retention rule (one replica runs each).",
        check=between(1, 30 * 86400),
    ),
    Setting(
        "export_poll",
        float,
        30.0,
        "Seconds between two looks for changes (new events, new status records) that "
        "regenerate the exports; 0 turns regeneration off.",
        check=between(0, 86400),
    ),
    Setting(
        "shutdown_grace",
        float,
        30.0,
        "Seconds in-flight work may take to finish after SIGTERM or SIGINT; after that its "
        "leases are released and the daemon exits with status 1.",
        check=between(0, 3600),
    ),
    Setting(
        "db_retry_for",
        float,
        300.0,
        "Seconds the daemon keeps retrying an unreachable database, with backoff, at "
        "start or while running, before it exits with status 3.",
        check=between(0, 7 * 86400),
    ),
    Setting(
        "clock_jump",
        float,
        30.0,
        "A gap of more than this many seconds between the wall clock and the monotonic "
        "clock is handled as a clock jump (leases and due times are repaired).",
        check=between(1, 86400),
    ),
)

_BY_NAME: dict[str, Setting] = {s.name: s for s in DECLARED}


def declare(*settings: Setting) -> None:
    """Add settings from another module (notifiers, fetch, ...); names must be new."""
    global DECLARED
    for s in settings:
        if s.name in _BY_NAME:
            raise ValueError(f"setting {s.name} declared twice")
        _BY_NAME[s.name] = s
    DECLARED = tuple(_BY_NAME.values())


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file, then the environment. Raises ConfigError."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for s in DECLARED:
        default = s.default() if isinstance(s.default, Callable) else s.default  # type: ignore[arg-type]
        values[s.name], origins[s.name] = default, "default"

    path = config_file_path(env)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"settings file {path} is not valid TOML: {exc}",
                "Fix the line named above; settings are flat `name = value` pairs.",
            ) from None
        for key, raw in data.items():
            setting = _BY_NAME.get(key)
            if setting is None:
                raise ConfigError(
                    f"{path}: unknown setting {key!r}",
                    "Run `tracker config` to list the settings.",
                )
            if setting.secret or has_password(raw):
                raise ConfigError(
                    f"{path}: {key} is a secret and is read only from the environment",
                    f"Remove it from the file and set {setting.env} instead.",
                )
            values[key], origins[key] = convert(setting, raw, str(path)), f"file:{path}"

    for s in DECLARED:
        if s.env in env:
            values[s.name] = convert(s, env[s.env], s.env)
            origins[s.name] = f"env:{s.env}"
    return Settings(values, origins, DECLARED)
