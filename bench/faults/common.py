"""What every fault drill shares: a scratch world (a database, official pages that change,
a real SMTP server, subscribers), real daemon processes, and the counts that say whether
anything was lost, sent twice or damaged.

A drill bumps each page it changes exactly once, so the expected events are known in
advance (one `page_changed` per bumped page, plus the `status_changed` events it
records), and every subscriber and webhook endpoint wants every event, so the expected
messages are events x recipients, named by their Message-ID or webhook-id (derived from
the outbox key `event:<id>:<channel>:<recipient>`). What the SMTP server and the webhook
receiver accepted is then counted against that list: `delivered` (distinct expected
messages received), `duplicates` (extra copies), `lost` (expected, never received).
"""

from __future__ import annotations

import os
import random
import shutil
import string
import tempfile
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from tests.support.alerting import record
from tests.support.daemons import daemon_env
from tests.support.pages import PageServer, Reply, Request
from tracker.alerts import subscriptions, webhooks
from tracker.alerts.messages import message_id
from tracker.law.bootstrap import ensure_ready
from tracker.storage.engine import Database, make_engine
from tracker.storage.tables_alerts import OUTBOX

MAIL_FROM = "alerts@faults.test"
DOMAIN = MAIL_FROM.split("@")[1]
PG_ADMIN = os.environ.get("TRACKER_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
# Short retry waits (the `retry_delays` setting): ten retries within about 20 s, so a
# mail server down for several retries comes back long before a row would go dead.
RETRY_DELAYS = "1s,1s,2s,2s,2s,2s,3s,3s,3s,3s"


class DrillFailed(Exception):
    """A drill could not reach the state it waits for (its row says so)."""


@dataclass
class Result:
    """One row of the table."""

    scenario: str
    events_expected: int = 0
    events_recorded: int = 0
    expected: int = 0  # messages: mail and webhooks
    delivered: int = 0
    duplicates: int = 0
    window: int = 0  # duplicates the documented crash window allows in this drill
    lost: int = 0
    problems: list[str] = field(default_factory=list)
    seconds: float = 0.0
    notes: str = ""

    @property
    def ok(self) -> bool:
        return (
            not self.problems
            and self.lost == 0
            and self.events_recorded == self.events_expected
            and self.duplicates <= self.window
        )


def wait_for(what: str, predicate: Callable[[], object], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise DrillFailed(f"timed out after {timeout:g} s waiting for {what}")


def scratch(name: str) -> Path:
    return Path(tempfile.mkdtemp(prefix=f"tracker-faults-{name}-"))


# ---------------------------------------------------------------- databases


def sqlite_template(folder: Path) -> Path:
    """A SQLite database migrated and loaded with the shipped data, to copy per drill."""
    path = folder / "template.db"
    db = Database(make_engine(f"sqlite:///{path}"))
    ensure_ready(db)
    db.dispose()
    return path


def sqlite_data_dir(folder: Path, template: Path) -> tuple[Path, str]:
    data = folder / "data"
    data.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, data / "tracker.db")
    return data, f"sqlite:///{data / 'tracker.db'}"


def _admin(sql: str) -> None:
    engine = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    try:
        with engine.connect() as conn:
            conn.exec_driver_sql(sql)
    finally:
        engine.dispose()


def pg_database() -> str:
    """A fresh PostgreSQL database, migrated and loaded; returns its URL."""
    name = f"tracker_faults_{uuid.uuid4().hex[:10]}"
    _admin(f'CREATE DATABASE "{name}"')
    url = sa.make_url(PG_ADMIN).set(database=name).render_as_string(hide_password=False)
    db = Database(make_engine(url))
    ensure_ready(db)
    db.dispose()
    return url


def drop_pg(url: str) -> None:
    _admin(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)')


# ---------------------------------------------------------------- pages


def filler(seed: str, size: int) -> str:
    """`size` characters of text that compresses badly (a large page), stable per seed."""
    rng = random.Random(seed)
    letters = string.ascii_lowercase + "      "
    words = "".join(rng.choices(letters, k=size)).split()
    return "\n".join(" ".join(words[i : i + 12]) for i in range(0, len(words), 12))


class Site:
    """Official pages on loopback hosts 127.0.0.2, .3, ...; `bump` changes a page's text
    (its ETag follows). `big` pages carry about `big_size` characters of filler."""

    def __init__(self, stack: ExitStack, hosts: int, per_host: int, big_size: int = 0) -> None:
        self.servers = [
            stack.enter_context(PageServer(host=f"127.0.0.{2 + h}")) for h in range(hosts)
        ]
        self.version: dict[str, int] = defaultdict(int)
        self.big: set[str] = set()
        self.big_size = big_size
        self.urls: dict[str, str] = {}
        self._cache: dict[tuple[str, int, bool], bytes] = {}
        for h, server in enumerate(self.servers):
            for i in range(per_host):
                key = f"f-{h}-{i:03d}"
                server.route(f"/code/{key}", self.reply)
                self.urls[key] = server.url(f"/code/{key}")

    @property
    def keys(self) -> list[str]:
        return sorted(self.urls)

    def body(self, key: str) -> bytes:
        v, big = self.version[key], key in self.big
        cached = self._cache.get((key, v, big))
        if cached is None:
            extra = f"<pre>{filler(f'{key}-{v}', self.big_size)}</pre>" if big else ""
            cached = (
                f"<html><body><nav>menu</nav><main><h1>Code section {key}</h1>"
                "<p>No person shall sell kratom to a person under 21.</p>"
                f"<p>Amendment {v}: kratom products must be labelled.</p>{extra}</main>"
                "<footer>page generated now</footer></body></html>"
            ).encode()
            self._cache[(key, v, big)] = cached
        return cached

    def reply(self, request: Request) -> Reply:
        key = request.path.rsplit("/", 1)[1]
        body = self.body(key)
        return Reply(200, body, etag=f'"{key}-{self.version[key]}-{int(key in self.big)}"')

    def bump(self, keys: Iterable[str], *, big: bool = False) -> list[str]:
        keys = list(keys)
        for key in keys:
            if big:
                self.big.add(key)
                self.body(key)  # built now, not while a daemon waits for it
            self.version[key] += 1
        return keys

    def sources(self, every: str) -> list[dict[str, str]]:
        return [
            {
                "key": key,
                "place": "US-RI",
                "url": url,
                "kind": "html",
                "select": "[main]",
                "every": every,
            }
            for key, url in sorted(self.urls.items())
        ]


# ---------------------------------------------------------------- recipients


def add_subscribers(db: Database, count: int) -> list[int]:
    """Confirmed immediate subscribers who want every event, everywhere."""
    ids = []
    with db.write() as conn:
        for n in range(count):
            sub = subscriptions.subscribe(
                conn, f"reader{n}@example.org", places=[], confirmed=True, min_importance="minor"
            )
            ids.append(sub.subscriber_id)
    return ids


def add_webhook(db: Database, url: str) -> Any:
    with db.write() as conn:
        return webhooks.add(conn, url, allow_loopback=True)


def record_status(db: Database, n: int = 0) -> int:
    """A recorded status change (as `tracker record` writes it); returns its event id."""
    event_id = record(db, "US-RI", "regulated", start=f"2026-0{1 + n % 9}-01", min_age=21 + n)
    assert event_id is not None
    return event_id


# ---------------------------------------------------------------- daemons


def drill_env(data_dir: Path, database_url: str, **settings: Any) -> dict[str, str]:
    """Settings of a drill daemon: loopback pages, short intervals and retries."""
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "allow_loopback": 1,
        "min_every": "1s",
        "check_jitter": 0,
        "check_poll": 0.3,
        "dispatch_poll": 0.3,
        "host_delay": 0.05,
        "fetch_timeout": 5,
        "fetch_retries": 0,
        "export_poll": 0,
        "retention_every": 3600,
        "retry_delays": RETRY_DELAYS,
        "webhook_timeout": 1,
        "mail_from": MAIL_FROM,
        "log_level": "INFO",
    }
    return daemon_env(**{**base, **settings})


# ---------------------------------------------------------------- counting


@dataclass
class Expected:
    """Messages that must arrive: Message-IDs of mail and webhook-ids of webhooks, with
    their outbox keys."""

    mail: dict[str, str] = field(default_factory=dict)  # Message-ID -> outbox key
    hooks: dict[str, str] = field(default_factory=dict)  # webhook-id -> outbox key


def expected_messages(event_ids: Iterable[int], subscribers: list[int], endpoints: list[int]):  # type: ignore[no-untyped-def]
    out = Expected()
    for e in event_ids:
        for s in subscribers:
            key = f"event:{e}:email:{s}"
            out.mail[message_id(key, DOMAIN)] = key
        for p in endpoints:
            key = f"event:{e}:webhook:{p}"
            out.hooks[key.replace(":", "_")] = key
    return out


def count(result: Result, expected: Expected, mail_ids: list[str], hook_ids: list[str]) -> None:
    """Fill `expected`, `delivered`, `duplicates` and `lost` from what was received."""
    for wanted, got in ((expected.mail, Counter(mail_ids)), (expected.hooks, Counter(hook_ids))):
        result.expected += len(wanted)
        result.delivered += sum(1 for m in wanted if got[m] > 0)
        result.duplicates += sum(n - 1 for n in got.values() if n > 1)
        strays = [m for m in got if m not in wanted]
        if strays:
            result.problems.append(f"{len(strays)} unexpected message(s), e.g. {strays[0]}")
    result.lost = result.expected - result.delivered


def duplicated_keys(expected: Expected, mail_ids: list[str], hook_ids: list[str]) -> set[str]:
    """Outbox keys of the messages received more than once."""
    keys = {expected.mail.get(m, m) for m, n in Counter(mail_ids).items() if n > 1}
    return keys | {expected.hooks.get(h, h) for h, n in Counter(hook_ids).items() if n > 1}


def held_outbox_keys(db: Database, owner: str) -> set[str]:
    """Keys of the outbox rows `owner` holds a lease on (a dead replica's crash window)."""
    with db.read() as conn:
        return set(
            conn.execute(sa.select(OUTBOX.c.key).where(OUTBOX.c.lease_owner == owner)).scalars()
        )


def outbox_settled(db: Database) -> bool:
    with db.read() as conn:
        return not conn.execute(
            sa.select(OUTBOX.c.id).where(OUTBOX.c.status == "pending").limit(1)
        ).first()
