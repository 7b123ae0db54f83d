"""One drill's world, set up and torn down whatever happens:

    with Drill("mail-down", hosts=2, per_host=5, subscribers=5) as d:
        a = d.start("a")                 # a real `python -m tracker run`, ready
        d.baseline()                     # every page checked once (no event)
        d.bump(d.site.keys[:4])          # four pages change: four events expected
        d.record_status()                # one status change: one more event
        ...                              # the fault
        d.settle(120)                    # every change detected, the outbox empty
        result = d.result(window=0)      # counts and history checks

The database is a copy of a prepared SQLite template, or a fresh PostgreSQL database
(dropped at the end). The SMTP server (aiosmtpd) and the webhook receiver (which checks
every signature with `standardwebhooks`) run in this process. On failure the scratch
folder (daemon logs) is kept and named in the notes.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.faults import integrity
from bench.faults.common import (
    DrillFailed,
    Result,
    Site,
    add_subscribers,
    add_webhook,
    count,
    drill_env,
    drop_pg,
    expected_messages,
    outbox_settled,
    pg_database,
    record_status,
    scratch,
    sqlite_data_dir,
    wait_for,
)
from tests.support.daemons import Daemon, DaemonGroup, write_sources
from tests.support.mail import MailServer
from tests.support.receivers import WebhookReceiver
from tracker.storage.engine import Database, make_engine
from tracker.storage.tables_watch import SOURCE


class Drill:
    def __init__(
        self,
        name: str,
        *,
        hosts: int,
        per_host: int,
        subscribers: int,
        template: Path | None = None,
        webhook: bool = False,
        mail_tls: str = "none",
        every: str = "2s",
        big_size: int = 0,
        tmpfs: int = 0,
    ) -> None:
        self.name = name
        self.hosts, self.per_host, self.every = hosts, per_host, every
        self.n_subscribers, self.with_webhook = subscribers, webhook
        self.template, self.mail_tls, self.big_size = template, mail_tls, big_size
        self.tmpfs = tmpfs  # bytes: the data folder on a tmpfs mount of that size
        self.stack = ExitStack()
        self.folder = scratch(name)
        self.data_dir = self.folder / "data"
        self.bumped: set[str] = set()
        self.status_events: list[int] = []
        self.started = time.monotonic()
        self.pg_url: str | None = None
        self.receiver: WebhookReceiver | None = None
        self.endpoints: list[int] = []
        self.extra_keys: list[str] = []  # watched sources besides the site's pages
        self.keep = False

    # ------------------------------------------------------------ set-up

    def __enter__(self) -> Drill:
        try:
            self._setup()
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _setup(self) -> None:
        if self.tmpfs:
            self._mount(self.folder / "data", self.tmpfs)
        if self.template is not None:
            self.data_dir, self.url = sqlite_data_dir(self.folder, self.template)
        else:
            self.pg_url = self.url = pg_database()
        self.db = Database(make_engine(self.url))
        self.stack.callback(self.db.dispose)
        self.site = Site(self.stack, self.hosts, self.per_host, self.big_size)
        write_sources(self.data_dir, self.site.sources(self.every))
        self.mail = self.stack.enter_context(MailServer(self.folder, tls=self.mail_tls))
        self.subscribers = add_subscribers(self.db, self.n_subscribers)
        if self.with_webhook:
            self.receiver = self.stack.enter_context(WebhookReceiver())
            endpoint = add_webhook(self.db, self.receiver.url)
            self.receiver.secrets = [endpoint.secret]
            self.endpoints = [endpoint.id]
        self.status_before = integrity.status_rows(self.db)
        self.group = self.stack.enter_context(DaemonGroup(self.folder))

    def _mount(self, path: Path, size: int) -> None:
        path.mkdir(parents=True)
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise DrillFailed(f"cannot mount a tmpfs (root needed): {done.stderr.strip()}")
        # Registered first, so it runs last: after every daemon is dead and the
        # database closed.
        self.stack.callback(subprocess.run, ["umount", "-l", str(path)], check=False)

    def __exit__(self, *exc: object) -> None:
        self.stack.close()
        if self.pg_url is not None:
            try:
                drop_pg(self.pg_url)
            except Exception as err:  # the server may be down after a failed drill
                print(f"  (could not drop {self.pg_url}: {err})")
        if not self.keep:
            shutil.rmtree(self.folder, ignore_errors=True)

    # ------------------------------------------------------------ daemons

    def env(self, **overrides: Any) -> dict[str, str]:
        return drill_env(self.data_dir, self.url, **{**self.mail.settings(), **overrides})

    def start(self, name: str, **overrides: Any) -> Daemon:
        return self.group.start(name, self.env(**overrides)).wait_ready()

    # ------------------------------------------------------------ the cycle

    def current(self) -> dict[str, str | None]:
        with self.db.read() as conn:
            rows = conn.execute(
                sa.select(SOURCE.c.key, SOURCE.c.current_sha).where(SOURCE.c.key.in_(self.keys))
            )
            return dict(rows.all())  # type: ignore[arg-type]

    def baseline(self, timeout: float = 90) -> None:
        def done() -> bool:
            current = self.current()
            return len(current) == len(self.keys) and all(current.values())

        wait_for("a baseline of every page", done, timeout)

    def bump(self, keys: list[str], *, big: bool = False) -> list[str]:
        overlap = self.bumped & set(keys)
        assert not overlap, f"each page is bumped once in a drill: {sorted(overlap)[:3]}"
        self.bumped |= set(self.site.bump(keys, big=big))
        return keys

    def record_status(self) -> int:
        event_id = record_status(self.db, len(self.status_events))
        self.status_events.append(event_id)
        return event_id

    @property
    def keys(self) -> list[str]:
        return self.site.keys + self.extra_keys

    def changes(self) -> dict[str, list[int]]:
        return integrity.change_events(self.db, self.keys)

    def settle(self, timeout: float) -> None:
        """Wait until every bumped page has its change and the outbox is empty."""
        wait_for(
            f"a change of each of the {len(self.bumped)} bumped pages",
            lambda: self.bumped <= set(self.changes()),
            timeout,
        )
        wait_for(
            "an empty outbox (every message delivered)", lambda: outbox_settled(self.db), timeout
        )

    # ------------------------------------------------------------ counts

    def received(self) -> tuple[list[str], list[str]]:
        mail = [str(m["Message-ID"]) for m in self.mail.messages]
        hooks = []
        if self.receiver is not None:
            for r in self.receiver.requests:
                if 200 <= r.status < 300:
                    hooks.append(r.headers.get("webhook-id", "?"))
        return mail, hooks

    def result(self, window: int = 0, notes: str = "") -> Result:
        """The row of this drill: counts, crash-window bound and history problems."""
        changes = self.changes()
        page_events = [e for ids in changes.values() for e in ids if e is not None]
        events = page_events + self.status_events
        result = Result(
            self.name,
            events_expected=len(self.bumped) + len(self.status_events),
            events_recorded=len(events),
            window=window,
            notes=notes,
        )
        expected = expected_messages(events, self.subscribers, self.endpoints)
        mail, hooks = self.received()
        count(result, expected, mail, hooks)
        self.expected = expected
        if self.receiver is not None:
            unverified = [
                r for r in self.receiver.requests if 200 <= r.status < 300 and not r.verified_with
            ]
            if unverified:
                result.problems.append(f"{len(unverified)} webhook(s) failed verification")
        result.problems += integrity.all_problems(
            self.db, self.keys, self.bumped, self.status_before, len(self.status_events)
        )
        result.seconds = time.monotonic() - self.started
        if not result.ok:
            self.keep = True
            result.notes += f" (logs kept in {self.folder})"
        return result

    def fail(self, exc: DrillFailed) -> Result:
        """The row of a drill that could not finish: what it reached, and why not."""
        try:
            result = self.result()
        except Exception as err:  # the database itself may be what failed
            result = Result(self.name, problems=[f"counting failed: {err!r}"])
        result.problems.insert(0, str(exc))
        if not self.keep:
            self.keep = True
            result.notes += f" (logs kept in {self.folder})"
        return result
