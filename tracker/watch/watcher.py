"""What a check needs, built once per process: settings, database, fetcher, owner id.

`Watcher.from_settings(db, settings)` is shared by `tracker check`, `tracker sources
test` and the daemon; it is safe to use from many threads (the fetcher keeps one
session per thread; the database hands each transaction its own connection).
"""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass, field

from tracker.settings import Settings
from tracker.storage.engine import Database
from tracker.storage.writer import GroupWriter
from tracker.watch.fetch import Fetcher, Response


def new_owner() -> str:
    """A lease owner id unique to this process and call: host:pid:random."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


@dataclass(frozen=True)
class WatchConfig:
    host_delay: float = 2.0
    failure_alert_after: int = 3
    diff_max_bytes: int = 2_000_000
    flap_days: int = 30
    default_every: str = "24h"
    public_url: str = "http://127.0.0.1:8750"
    snapshot_keep: int = 20
    snapshot_keep_days: int = 365
    workers: int = 8
    check_budget: float = 120.0

    @classmethod
    def from_settings(cls, s: Settings) -> WatchConfig:
        return cls(
            host_delay=s.host_delay,
            failure_alert_after=s.failure_alert_after,
            diff_max_bytes=s.diff_max_bytes,
            flap_days=s.flap_days,
            default_every=s.default_every,
            public_url=s.public_url,
            snapshot_keep=s.snapshot_keep,
            snapshot_keep_days=s.snapshot_keep_days,
            workers=s.check_workers,
            check_budget=s.check_budget,
        )


@dataclass
class Watcher:
    db: Database
    fetcher: Fetcher
    config: WatchConfig = field(default_factory=WatchConfig)
    owner: str = field(default_factory=new_owner)
    writer: GroupWriter = field(init=False)
    # Set to stop: checks not yet started are skipped, those in progress end without
    # storing anything (`tracker.watch.check.Interrupted`).
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.writer = GroupWriter(self.db)

    @classmethod
    def from_settings(cls, db: Database, s: Settings, owner: str | None = None) -> Watcher:
        fetcher = Fetcher(
            allow_loopback=s.allow_loopback,
            user_agent=s.user_agent,
            timeout=s.fetch_timeout,
            max_bytes=s.fetch_max_bytes,
            retries=s.fetch_retries,
        )
        return cls(db, fetcher, WatchConfig.from_settings(s), owner or new_owner())


@dataclass
class Observation:
    """What one fetch showed, before anything is stored."""

    response: Response | None = None
    outcome: str | None = None  # not_modified | unchanged when decided without extraction
    body_sha: str | None = None
    raw_lines: list[str] | None = None
    lines: list[str] | None = None
    sha: str | None = None
    deadline: float | None = None  # time.monotonic() when the check's budget runs out


@dataclass
class CheckResult:
    source_id: int
    key: str
    place_code: str
    outcome: str
    status_code: int | None = None
    error: str | None = None
    change_id: int | None = None
    importance: str | None = None
    keywords: list[str] = field(default_factory=list)
    reverts: int | None = None  # a reported reversal: the change it undid
    duration_ms: int = 0
    stored: bool = True  # False when the lease was lost and the result dropped
