"""The daemon's settings, read and checked once: timers, leases, limits.

`DaemonConfig.from_settings(settings)` raises ConfigError (exit 2) for values that make
no sense together (a lease shorter than a poll, a negative interval, ...), before the
daemon touches anything. `apply_policy(settings)` installs the process-wide scheduling
policy (`tracker.watch.policy`: `min_every`, `check_jitter`, `shipped_sources`); the CLI
and the daemon call it so that `tracker sources`, `tracker check` and `tracker run` accept
the same intervals and watch the same sources.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa

from tracker.errors import ConfigError
from tracker.settings import Settings
from tracker.timeutil import interval
from tracker.watch import policy

if TYPE_CHECKING:  # the outbox pulls in the alert tables: every CLI command loads this module
    from tracker.alerts.outbox import Backoff


def apply_policy(settings: Settings) -> policy.Policy:
    """Install `min_every`, `check_jitter` and `shipped_sources` for this process.
    Raises ConfigError."""
    try:
        min_every = interval(settings.min_every)
    except ValueError as exc:
        raise ConfigError(f"min_every: {exc}", "Give an interval such as 1m, 30s or 5s.") from None
    jitter = settings.check_jitter
    if not 0.0 <= jitter <= 1.0:
        raise ConfigError(
            f"check_jitter = {jitter} is outside 0..1",
            "It is a fraction of each source's interval: 0 turns jitter off, 0.1 is 10%.",
        )
    return policy.configure(
        min_every=min_every, jitter=jitter, shipped=bool(settings.shipped_sources)
    )


@dataclass(frozen=True)
class DaemonConfig:
    workers: int
    check_poll: float
    check_lease: timedelta
    host_lease: timedelta
    host_batch: int
    host_delay: float
    dispatch_poll: float
    dispatch_lease: timedelta
    dispatch_batch: int
    digest_poll: float
    retention_every: timedelta
    export_poll: float
    shutdown_grace: float
    db_retry_for: float
    clock_jump: float
    http_host: str
    http_port: int
    backoff: Backoff | None = None  # the outbox retry schedule (`retry_delays`)
    # Not settings: cadences that need no tuning.
    sync_every: float = 30.0  # look for edited source files
    heartbeat_every: float = 10.0  # a replica's `daemon_replica.seen_at`
    jobs_poll: float = 5.0  # look for due singleton jobs (retention, reminders)
    job_lease: timedelta = timedelta(minutes=10)

    def leases(self) -> dict[sa.Table, timedelta]:
        """Every leasable table the daemon claims rows of, with its lease length."""
        from tracker.alerts.digest import LEASE as DIGEST_LEASE
        from tracker.storage.tables_alerts import OUTBOX, SUBSCRIBER
        from tracker.storage.tables_service import DAEMON_JOB
        from tracker.storage.tables_watch import HOST, SOURCE

        return {
            SOURCE: self.check_lease,
            HOST: self.host_lease,
            OUTBOX: self.dispatch_lease,
            SUBSCRIBER: DIGEST_LEASE,
            DAEMON_JOB: self.job_lease,
        }

    @classmethod
    def from_settings(cls, s: Settings) -> DaemonConfig:
        apply_policy(s)
        positive = (
            "check_poll",
            "check_lease",
            "host_lease",
            "dispatch_poll",
            "dispatch_lease",
            "digest_poll",
            "retention_every",
            "shutdown_grace",
            "db_retry_for",
            "clock_jump",
        )
        for name in positive:
            if getattr(s, name) <= 0:
                raise ConfigError(f"{name} = {getattr(s, name)} must be more than 0", _HINT)
        for name in ("check_workers", "host_batch", "dispatch_batch"):
            if getattr(s, name) < 1:
                raise ConfigError(f"{name} = {getattr(s, name)} must be at least 1", _HINT)
        if s.export_poll < 0 or s.host_delay < 0:
            raise ConfigError("export_poll and host_delay cannot be negative", _HINT)
        for lease_name, poll_name in (
            ("check_lease", "check_poll"),
            ("dispatch_lease", "dispatch_poll"),
        ):
            if getattr(s, lease_name) < 2 * getattr(s, poll_name):
                raise ConfigError(
                    f"{lease_name} = {getattr(s, lease_name)} is shorter than twice "
                    f"{poll_name} = {getattr(s, poll_name)}",
                    "A lease must outlive the timer that renews its work; raise the lease.",
                )
        from tracker.alerts.outbox import configured_backoff

        backoff = configured_backoff(s.retry_delays)
        if not 0 <= s.http_port <= 65535:
            raise ConfigError(f"http_port = {s.http_port} is not a port", "Use 1-65535, or 0.")
        return cls(
            workers=s.check_workers,
            check_poll=s.check_poll,
            check_lease=timedelta(seconds=s.check_lease),
            host_lease=timedelta(seconds=s.host_lease),
            host_batch=s.host_batch,
            host_delay=s.host_delay,
            dispatch_poll=s.dispatch_poll,
            dispatch_lease=timedelta(seconds=s.dispatch_lease),
            dispatch_batch=s.dispatch_batch,
            digest_poll=s.digest_poll,
            retention_every=timedelta(seconds=s.retention_every),
            export_poll=s.export_poll,
            shutdown_grace=s.shutdown_grace,
            db_retry_for=s.db_retry_for,
            clock_jump=s.clock_jump,
            http_host=s.http_host,
            http_port=s.http_port,
            backoff=backoff,
        )


_HINT = "`tracker config` shows every setting and where it came from; see README (Settings)."
