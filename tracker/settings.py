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
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tracker.errors import ConfigError


@dataclass(frozen=True)
class Setting:
    name: str
    kind: type
    default: Any
    help: str
    secret: bool = False
    choices: tuple[str, ...] = ()

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
        "SQLAlchemy URL of the database; empty means SQLite at <data_dir>/tracker.storage.engine. "
        "PostgreSQL: postgresql+psycopg://user@host/db. A URL with a password is read "
        "only from the environment.",
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
    ),
    Setting(
        "public_url",
        str,
        "http://127.0.0.1:8750",
        "Base URL of the HTTP endpoint as subscribers reach it (links in mail).",
    ),
    Setting("http_host", str, "127.0.0.1", "Address the daemon's HTTP endpoint listens on."),
    Setting("http_port", int, 8750, "Port of the daemon's HTTP endpoint."),
    # The web service (issue 12); checked together by tracker.web.config.WebConfig.
    Setting("ops_host", str, "127.0.0.1", "Address of /livez, /readyz, /metrics, /status.json."),
    Setting("ops_port", int, 8751, "Port of the operations endpoints (0 picks a free one)."),
    Setting("web_threads", int, 8, "Worker threads of each HTTP server (1-64)."),
    Setting("web_connection_limit", int, 200, "Open connections kept by each HTTP server."),
    Setting("web_channel_timeout", float, 30.0, "Seconds an idle HTTP connection stays open."),
    Setting("web_request_timeout", float, 20.0, "Seconds a client has to send a request."),
    Setting("web_max_header", int, 16384, "Largest request header block, in bytes."),
    Setting("web_max_body", int, 65536, "Largest request body (forms), in bytes."),
    Setting("web_trusted_proxy", str, "", "Reverse proxy whose X-Forwarded-For is believed."),
    Setting("web_cache_ttl", float, 1.0, "Seconds answers are served from memory (0: none)."),
    Setting("web_mail_per_address", int, 3, "Form mails to one address per web_rate_window."),
    Setting("web_mail_per_client", int, 10, "Form requests per client per web_rate_window."),
    Setting("web_rate_window", float, 3600.0, "Seconds the two web_mail limits count over."),
    # Exports (issue 6).
    Setting(
        "export_dir",
        str,
        "",
        "Folder the exports and the status page are regenerated into (`tracker export "
        "--all`, the daemon); empty means <data_dir>/exports.",
    ),
    # Alerts (issue 4): mail, webhooks, links.
    Setting(
        "smtp_host",
        str,
        "",
        "SMTP server for alerts and digests; empty writes each message as an .eml file "
        "to <data_dir>/mail instead.",
    ),
    Setting("smtp_port", int, 587, "SMTP port (587 for starttls, 465 for tls)."),
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
    Setting("smtp_timeout", float, 30.0, "Seconds before an SMTP connection or reply times out."),
    Setting(
        "mail_from",
        str,
        "tracker@localhost",
        "From address of alerts and digests (its domain also names Message-ID and List-Id).",
    ),
    Setting(
        "operator_email",
        str,
        "",
        "Address told about dead outbox rows and disabled webhooks; empty only logs them.",
    ),
    Setting(
        "signing_key",
        str,
        "",
        "Key that signs confirm and unsubscribe links (environment only); empty uses a "
        "random key kept in the database.",
        secret=True,
    ),
    Setting("webhook_timeout", float, 15.0, "Seconds a webhook receiver has to answer."),
    Setting(
        "expiring_days",
        int,
        30,
        "An `expiring` event is sent when a temporary rule expires within this many days.",
    ),
    # Watching official pages (issue 3).
    Setting("fetch_timeout", float, 30.0, "Seconds to wait for a server to connect or answer."),
    Setting(
        "fetch_max_bytes",
        int,
        10 * 1024 * 1024,
        "Largest page body accepted, counted after decompression (gzip bombs stop here).",
    ),
    Setting("fetch_retries", int, 2, "Retries on connection errors, 429 and 5xx (backoff)."),
    Setting(
        "check_workers",
        int,
        8,
        "Sources checked at the same time by `tracker check`, and hosts worked on at the "
        "same time by each daemon replica.",
    ),
    Setting(
        "host_delay",
        float,
        2.0,
        "Minimum seconds between two requests to one host (robots.txt Crawl-delay can raise it).",
    ),
    Setting(
        "failure_alert_after",
        int,
        3,
        "Failed checks in a row before a source_failing event is raised (once).",
    ),
    Setting(
        "default_every", str, "24h", "Check interval of a source that gives none (30m, 6h, 1d)."
    ),
    Setting(
        "flap_days",
        int,
        30,
        "A page returning to a version seen in this many days is not a change (anti-flap).",
    ),
    Setting(
        "diff_max_bytes",
        int,
        2_000_000,
        "Above this much text (both versions) a change is recorded without a diff.",
    ),
    Setting("snapshot_keep", int, 20, "Versions kept per source besides the current one."),
    Setting(
        "snapshot_keep_days",
        int,
        365,
        "Snapshots named by a change are kept at least this many days.",
    ),
    # The daemon (issue 5): timers, leases and limits of `tracker run`. Times in seconds.
    Setting(
        "min_every",
        str,
        "1m",
        "Shortest check interval a source may ask for (`every`); tests and benchmarks "
        "lower it (e.g. 5s).",
    ),
    Setting(
        "check_jitter",
        float,
        0.1,
        "Each next check time is pushed back by a random part of the source's interval up "
        "to this fraction (0.1 = 10%), so sources added together spread out.",
    ),
    Setting(
        "check_poll",
        float,
        0.5,
        "Seconds between two looks for due sources in each daemon replica (a local timer; "
        "what is due lives in the database).",
    ),
    Setting(
        "check_lease",
        float,
        600.0,
        "Seconds a replica holds the sources it claimed; a killed replica's sources are "
        "checked by another once this runs out.",
    ),
    Setting(
        "host_lease",
        float,
        300.0,
        "Seconds a replica holds a host it works on (renewed while it works); a killed "
        "replica's hosts are taken over once this runs out.",
    ),
    Setting("host_batch", int, 10, "Due sources of one host a replica claims at once."),
    Setting("dispatch_poll", float, 2.0, "Seconds between two outbox runs in each daemon replica."),
    Setting(
        "dispatch_lease",
        float,
        600.0,
        "Seconds a dispatcher holds the outbox rows it claimed: the crash window after "
        "which a killed replica's batch is sent again.",
    ),
    Setting(
        "dispatch_batch",
        int,
        20,
        "Outbox rows claimed and sent per batch (the most one crash can repeat).",
    ),
    Setting(
        "retry_delays",
        str,
        "",
        "Waits after each failed delivery attempt, comma separated (5s,5m,30m,2h); the "
        "row is dead after the last. Empty means the documented schedule of about three "
        "days (tests and fault drills shorten it).",
    ),
    Setting("digest_poll", float, 60.0, "Seconds between two looks for digests due (local hours)."),
    Setting(
        "retention_every",
        float,
        21600.0,
        "Seconds between two runs of the snapshot retention rule (one replica runs each).",
    ),
    Setting(
        "export_poll",
        float,
        30.0,
        "Seconds between two looks for changes (new events, new status records) that "
        "regenerate the exports; 0 turns regeneration off.",
    ),
    Setting(
        "shutdown_grace",
        float,
        30.0,
        "Seconds in-flight work may take to finish after SIGTERM or SIGINT; after that its "
        "leases are released and the daemon exits with status 1.",
    ),
    Setting(
        "db_retry_for",
        float,
        300.0,
        "Seconds the daemon keeps retrying an unreachable database, with backoff, at "
        "start or while running, before it exits with status 3.",
    ),
    Setting(
        "clock_jump",
        float,
        30.0,
        "A gap of more than this many seconds between the wall clock and the monotonic "
        "clock is handled as a clock jump (leases and due times are repaired).",
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


_KIND_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def _convert(setting: Setting, raw: Any, where: str) -> Any:
    try:
        if setting.kind is bool:
            if isinstance(raw, bool):
                value: Any = raw
            elif str(raw).strip().lower() in ("1", "true", "yes", "on"):
                value = True
            elif str(raw).strip().lower() in ("0", "false", "no", "off", ""):
                value = False
            else:
                raise ValueError(raw)
        elif setting.kind is int:
            if isinstance(raw, bool):
                raise ValueError(raw)
            value = int(raw)
        elif setting.kind is float:
            value = float(raw)
        else:
            if not isinstance(raw, str | int | float):
                raise ValueError(raw)
            value = str(raw)
    except (TypeError, ValueError):
        kind = _KIND_NAMES.get(setting.kind, setting.kind.__name__)
        raise ConfigError(
            f"{where}: {setting.name} = {raw!r} is not a valid {setting.kind.__name__}",
            f"Set {setting.name} to {kind}. {setting.help}",
        ) from None
    if setting.choices and value not in setting.choices:
        raise ConfigError(
            f"{where}: {setting.name} = {value!r} is not one of {', '.join(setting.choices)}",
            setting.help,
        )
    return value


class Settings:
    """Effective settings; read them as attributes (`settings.database_url`)."""

    def __init__(self, values: Mapping[str, Any], origins: Mapping[str, str]) -> None:
        self._values = dict(values)
        self._origins = dict(origins)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def origin(self, name: str) -> str:
        return self._origins[name]

    def replace(self, **changes: Any) -> Settings:
        values = {**self._values, **changes}
        origins = {**self._origins, **{k: "override" for k in changes}}
        return Settings(values, origins)

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, shown value, origin) for every setting, secrets masked."""
        rows = []
        for s in DECLARED:
            value = self._values.get(s.name)
            shown = _mask(value) if s.secret or _has_password(value) else repr(value)
            rows.append((s.name, shown, self._origins.get(s.name, "default")))
        return rows

    @property
    def data_path(self) -> Path:
        return Path(self._values["data_dir"]).expanduser()

    @property
    def effective_database_url(self) -> str:
        url = self._values.get("database_url") or ""
        if url:
            return str(url)
        return "sqlite:///" + str(self.data_path / "tracker.db")


def _has_password(value: Any) -> bool:
    """True for a URL that carries credentials (`scheme://user:secret@host`)."""
    if not isinstance(value, str) or "://" not in value:
        return False
    netloc = value.split("://", 1)[1].split("/", 1)[0]
    return "@" in netloc and ":" in netloc.rsplit("@", 1)[0]


def _mask(value: Any) -> str:
    if not value:
        return "(unset)"
    text = str(value)
    if "://" in text and "@" in text:  # keep the host of a URL, hide its credentials
        scheme, rest = text.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return "*** (set)"


def config_file_path(env: Mapping[str, str]) -> Path | None:
    explicit = env.get("TRACKER_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"settings file {path} (from TRACKER_CONFIG) does not exist",
                "Create it, or unset TRACKER_CONFIG to use the defaults.",
            )
        return path
    import platformdirs

    default = Path(platformdirs.user_config_dir("tracker", appauthor=False)) / "tracker.toml"
    return default if default.is_file() else None


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
            if setting.secret or _has_password(raw):
                raise ConfigError(
                    f"{path}: {key} is a secret and is read only from the environment",
                    f"Remove it from the file and set {setting.env} instead.",
                )
            values[key], origins[key] = _convert(setting, raw, str(path)), f"file:{path}"

    for s in DECLARED:
        if s.env in env:
            values[s.name] = _convert(s, env[s.env], s.env)
            origins[s.name] = f"env:{s.env}"
    return Settings(values, origins)
