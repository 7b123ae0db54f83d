"""`tracker doctor`: is this installation able to run? Checks, each with a timeout:

- **settings**: the TOML file and the environment load, and the daemon's settings make
  sense together;
- **database**: it answers, its schema is current (or will be migrated on start), and
  what it holds (sources, subscribers, undelivered mail);
- **mail**: the SMTP server answers, TLS works in the configured mode, AUTH is accepted
  (a QUIT follows; nothing is sent); without `smtp_host`, the mail folder is writable;
- **http**: the daemon's address is free (in use: a daemon may be running already);
- **exports**: the export folder is writable;
- **sources**: the source files are valid, and each host of a source answers one GET
  (its first source's page) within the timeout, through the same SSRF guard as checks.

Each finding is `ok`, `warn` (works, but look at it) or `fail` (the daemon cannot do
that part of its job). Doctor writes nothing, anywhere.
"""

from __future__ import annotations

import asyncio
import os
import socket
import ssl
from collections import defaultdict
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from tracker.errors import ConfigError, SourceError, TrackerError
from tracker.settings import Settings, config_file_path, load_settings


@dataclass(frozen=True)
class Finding:
    check: str
    status: str  # ok | warn | fail
    detail: str


def settings_findings() -> tuple[Settings | None, list[Finding]]:
    from tracker.service.daemon_config import DaemonConfig

    try:
        s = load_settings()
        DaemonConfig.from_settings(s)
        path = config_file_path(os.environ)
    except ConfigError as exc:
        return None, [Finding("settings", "fail", f"{exc} ({exc.hint})" if exc.hint else str(exc))]
    where = f"file {path}" if path else "defaults and environment (no settings file)"
    return s, [Finding("settings", "ok", where)]


def database_findings(s: Settings, timeout: float) -> list[Finding]:
    from tracker.storage.engine import Database, make_engine
    from tracker.storage.schema import current_heads, expected_heads
    from tracker.storage.tables_alerts import OUTBOX, SUBSCRIBER
    from tracker.storage.tables_watch import SOURCE

    url = sa.make_url(s.effective_database_url)
    shown = url.render_as_string(hide_password=True)
    if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
        where = _writable(Path(url.database).parent)
        status = "ok" if where is None else "fail"
        return [Finding("database", status, where or f"{shown}: created on the first start")]
    pg = url.get_backend_name() == "postgresql"
    kwargs = {"connect_args": {"connect_timeout": max(1, round(timeout))}} if pg else {}
    try:
        db = Database(make_engine(str(s.effective_database_url), **kwargs))
        with db.engine.connect() as conn:
            heads = current_heads(conn)
            version = conn.dialect.server_version_info
            tables = set(sa.inspect(conn).get_table_names())
            counts = []
            if "source" in tables:
                n = conn.execute(sa.select(sa.func.count()).where(SOURCE.c.active)).scalar()
                counts.append(f"{n} sources")
            if "subscriber" in tables:
                n = conn.execute(
                    sa.select(sa.func.count()).where(SUBSCRIBER.c.status == "active")
                ).scalar()
                counts.append(f"{n} subscribers")
            if "outbox" in tables:
                rows = conn.execute(
                    sa.select(OUTBOX.c.status, sa.func.count())
                    .where(OUTBOX.c.status.in_(("pending", "dead")))
                    .group_by(OUTBOX.c.status)
                )
                counts += [f"{n} outbox {status}" for status, n in rows]
        db.dispose()
    except (TrackerError, sa.exc.SQLAlchemyError) as exc:
        first = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
        return [Finding("database", "fail", f"{shown}: {first}")]
    backend = f"{url.get_backend_name()} {'.'.join(map(str, version or ()))}".strip()
    found = [Finding("database", "ok", f"{shown} ({backend}): {', '.join(counts) or 'empty'}")]
    missing = expected_heads() - heads
    if missing:
        found.append(
            Finding(
                "schema",
                "warn",
                f"migrations to apply: {', '.join(sorted(missing))} "
                "(`tracker run` applies them on start, under a lock)",
            )
        )
    else:
        found.append(Finding("schema", "ok", "up to date"))
    return found


def mail_findings(s: Settings, timeout: float) -> list[Finding]:
    if not s.smtp_host:
        folder = s.data_path / "mail"
        problem = _writable(folder)
        detail = problem or f"no smtp_host: mail is written as .eml files to {folder}"
        return [Finding("mail", "fail" if problem else "ok", detail)]
    from tracker.alerts.notifiers.email import EmailNotifier

    where = f"{s.smtp_host}:{s.smtp_port} ({s.smtp_tls})"
    try:
        EmailNotifier(s)  # refuses a set-up that would leak (plain text over the network)
        auth = asyncio.run(asyncio.wait_for(_smtp_probe(s, timeout), timeout + 1))
    except ConfigError as exc:
        return [Finding("mail", "fail", f"{where}: {exc}")]
    except Exception as exc:  # refused, timed out, TLS failed, AUTH refused: say which
        return [Finding("mail", "fail", f"{where}: {type(exc).__name__}: {exc}".strip())]
    return [Finding("mail", "ok", f"{where}: answered, {auth}")]


async def _smtp_probe(s: Settings, timeout: float) -> str:
    import aiosmtplib

    context = ssl.create_default_context(cafile=s.smtp_ca_file or None)
    smtp = aiosmtplib.SMTP(
        hostname=s.smtp_host,
        port=s.smtp_port,
        use_tls=s.smtp_tls == "tls",
        start_tls=s.smtp_tls == "starttls",
        tls_context=context if s.smtp_tls != "none" else None,
        timeout=timeout,
        username=s.smtp_username or None,
        password=(s.smtp_password or None) if s.smtp_username else None,
    )
    await smtp.connect()  # TLS or STARTTLS, then AUTH when a user name is set
    try:
        await smtp.noop()
    finally:
        await smtp.quit()
    return "AUTH accepted" if s.smtp_username else "no AUTH configured"


def _port_finding(check: str, host: str, port: int) -> Finding:
    """Whether host:port (the public or the operations address) can be listened on."""
    if port == 0:
        return Finding(check, "ok", f"{host}: a free port is picked at start")
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError as exc:
            return Finding(
                check, "warn", f"{host}:{port}: {exc.strerror} (a daemon already running?)"
            )
    return Finding(check, "ok", f"{host}:{port} is free")


def local_findings(s: Settings) -> list[Finding]:
    from tracker.export import export_folder

    found = [
        _port_finding("http", s.http_host, s.http_port),
        _port_finding("ops", s.ops_host, s.ops_port),
    ]
    folder = export_folder(s)
    problem = _writable(folder)
    found.append(Finding("exports", "fail" if problem else "ok", problem or str(folder)))
    return found


def source_findings(s: Settings, keys: Sequence[str], timeout: float) -> list[Finding]:
    from tracker.errors import DataFileError
    from tracker.paths import jurisdictions_dir
    from tracker.watch.fetch import Fetcher
    from tracker.watch.hosts import host_key
    from tracker.watch.sources import disabled_keys, load_specs, source_files

    specs, problems, _ = load_specs(source_files(jurisdictions_dir(), s.data_path))
    found = [Finding("source file", "warn", str(p)) for p in problems]
    try:  # sources switched off (`tracker sources disable`) are not checked
        off = disabled_keys(s.data_path)
    except DataFileError as exc:
        off = set()
        found.append(Finding("source file", "warn", str(exc)))
    if not keys:
        specs = [sp for sp in specs if sp.key not in off]
    if keys:
        unknown = set(keys) - {sp.key for sp in specs}
        found += [Finding("source", "fail", f"{k}: no such source") for k in sorted(unknown)]
        specs = [sp for sp in specs if sp.key in keys]
    by_host = defaultdict(list)
    for spec in specs:
        by_host[host_key(spec.url)].append(spec)
    fetcher = Fetcher(
        allow_loopback=s.allow_loopback,
        user_agent=s.user_agent,
        timeout=timeout,
        max_bytes=s.fetch_max_bytes,
        retries=0,
    )

    def probe(host: str) -> Finding:
        first = by_host[host][0]
        n = len(by_host[host])
        label = f"{host} ({n} source{'s' if n > 1 else ''})"
        try:
            r = fetcher.get(first.url)
        except SourceError as exc:
            status = "warn" if exc.status else "fail"  # an HTTP answer: reachable
            return Finding("source host", status, f"{label}: {first.url}: {exc}")
        return Finding("source host", "ok", f"{label}: HTTP {r.status} in {r.elapsed_ms} ms")

    with ThreadPoolExecutor(8) as pool:
        found += list(pool.map(probe, sorted(by_host)))
    if not by_host:
        found.append(Finding("sources", "warn", "no source to check"))
    return found


def _writable(folder: Path) -> str | None:
    """None when `folder` (or, if missing, its nearest existing parent) is writable."""
    probe = folder
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe.is_dir() and os.access(probe, os.W_OK | os.X_OK):
        return None
    why = "denies writing" if probe.is_dir() else "is not a folder"
    return f"{folder}: not writable ({probe} {why})"
