"""The daemon (`tracker run`): one replica, wiring the parts together on local timers.

    d = Daemon(settings)        # checks the settings (ConfigError, exit 2)
    d.start()                   # binds HTTP (public and ops), opens the database, starts timers
    code = d.wait()             # until request_stop() (SIGTERM/SIGINT), then shuts down

APScheduler 3 (in-memory job store) only ticks; what is due and who does it is decided by
the database, through leases (`tracker.storage.lease`), so any number of replicas can run against
one PostgreSQL (SQLite: one replica, enforced by a lock file). Timers of each replica:

    checks      check_poll     claim hosts with due sources, check them (`due_checks`)
    dispatch    dispatch_poll  deliver due outbox rows (`dispatch.Dispatcher`)
    digests     digest_poll    enqueue digests at each subscriber's local hour
    singletons  5 s            retention and daily reminders, one replica each (`jobs`)
    exports     export_poll    regenerate the exports after changes (`replica`)
    sync        30 s           source files -> `source` table (`replica`)
    heartbeat   10 s           `daemon_replica` row
    watchdog    1 s            exit (status 3) when the database stayed down too long

A separate thread compares the wall and monotonic clocks (`clockwatch`).

Stopping (`request_stop`, from SIGTERM or SIGINT): no new work is claimed; the checks
and the outbox batch in progress finish (up to `shutdown_grace` seconds); every lease
still held is released; the heartbeat row is removed; `wait` returns 0. If the grace
runs out, the leases are released anyway and `wait` returns 1 (a result still being
computed is then dropped by its fenced completion). A database unreachable for longer
than `db_retry_for` stops the daemon with status 3 (`fatal` says why).

Crash window (kill -9, power loss): nothing committed is lost and nothing is recorded
twice; leases of the dead replica expire (`check_lease`, `host_lease`, `dispatch_lease`,
10 minutes for jobs) and the work is taken over. Only the outbox batch being sent at the
crash (at most `dispatch_batch` messages) can be delivered a second time, with the same
Message-ID or webhook-id.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import wait
from dataclasses import replace
from datetime import UTC, datetime
from typing import IO, Any

from apscheduler.executors.pool import ThreadPoolExecutor as TimerPool
from apscheduler.jobstores.memory import MemoryJobStore
from apscheduler.schedulers.background import BackgroundScheduler

from tracker.alerts import digest
from tracker.alerts.dispatch import Dispatcher, Lanes, Stats
from tracker.alerts.notifiers import kind_for, load
from tracker.errors import ConfigError, StorageError, TrackerError
from tracker.law.bootstrap import open_database
from tracker.service import clockwatch, jobs, replica
from tracker.service.daemon_config import DaemonConfig
from tracker.service.due_checks import DueChecks
from tracker.service.metrics import Metrics
from tracker.service.opsweb import View, mount
from tracker.settings import Settings
from tracker.storage import lease
from tracker.storage.engine import Database
from tracker.storage.health import DbHealth, is_db_error, open_with_retry
from tracker.timeutil import utcnow
from tracker.watch.watcher import Watcher, new_owner
from tracker.web import app as web
from tracker.web.config import WebConfig
from tracker.web.public import make_public_app
from tracker.web.server import Limits, Server

logger = logging.getLogger(__name__)


class Daemon:
    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cfg = DaemonConfig.from_settings(settings)
        self.web = WebConfig.from_settings(settings)
        kind = kind_for("email", settings)
        load(kind)(settings)  # a mail set-up that cannot work is a ConfigError now
        self.owner = new_owner()
        self.started_at = utcnow()
        self.stopping = threading.Event()
        self.health = DbHealth(self.cfg.db_retry_for)
        self.fatal: TrackerError | None = None
        self.db: Database | None = None
        self.metrics: Metrics | None = None
        self.app = web.App()  # the operations endpoints (ops_host:ops_port)
        self.public = web.Pending()  # the public service, once the database is open
        self.server: Server | None = None
        self.ops_server: Server | None = None
        self.scheduler: BackgroundScheduler | None = None
        self.checks: DueChecks | None = None
        self.lanes = Lanes()  # webhook endpoints being sent to, across dispatch runs
        self._state = "starting"
        self._exit = 0
        self._lockfile: IO[str] | None = None
        self.sync: Callable[[], object] = lambda: None
        self.job_context: jobs.Context | None = None
        view = View(
            lambda: self.db,
            lambda: self.metrics,
            self.health,
            self.owner,
            self.started_at,
            lambda: self._state,
        )
        mount(self.app, view)

    # ------------------------------------------------------------ start

    @property
    def http_address(self) -> str:
        assert self.server is not None
        return self.server.url

    @property
    def ops_address(self) -> str:
        assert self.ops_server is not None
        return self.ops_server.url

    def bind(self) -> None:
        """Listen on the public and the operations addresses (first, so a port in use
        fails fast); both answer while the database is awaited (503 until ready)."""
        w = self.web
        self.server = self._listen(self.public, w.http_host, w.http_port, w.limits, "HTTP")
        ops_limits = replace(w.limits, threads=2, trusted_proxy="")
        try:
            self.ops_server = self._listen(self.app, w.ops_host, w.ops_port, ops_limits, "OPS")
        except ConfigError:
            self.server.stop(0)
            raise
        self.server.start("http")
        self.ops_server.start("ops-http")

    @staticmethod
    def _listen(app: Any, host: str, port: int, limits: Limits, name: str) -> Server:
        try:
            return Server(app, host, port, limits)
        except OSError as exc:
            why = "is already in use" if exc.errno == errno.EADDRINUSE else f": {exc.strerror}"
            raise ConfigError(
                f"cannot listen on {host}:{port}: the address {why}".replace(" : ", ": "),
                "Stop the other process (another replica on this machine?), or set "
                f"TRACKER_{name}_PORT to a free port (0 picks one).",
            ) from None

    def _stop_servers(self, grace: float) -> None:
        for server in (self.server, self.ops_server):
            if server is not None:
                server.stop(grace)

    def start(self) -> None:
        """Bind, open the database (retrying), start the timers. Raises TrackerError, or
        StopRequested when a stop is requested while the database is awaited."""
        lease.GATE.reopen()  # closed by an earlier daemon's stop in this process
        self.bind()
        try:
            self._start()
        except BaseException:
            self._stop_servers(0)
            if self.db is not None:
                self.db.dispose()
            raise

    def _start(self) -> None:
        db = open_with_retry(
            lambda: open_database(self.settings), self.cfg.db_retry_for, self.stopping
        )
        self.db = db
        self._one_sqlite_daemon(db)
        self.public.app = make_public_app(db, self.settings, cfg=self.web)
        self.metrics = Metrics(db, self.health, self.owner)
        self.sync = replica.SourceSync(db, self.settings)
        self.sync()
        jobs.ensure(db)
        self._heartbeat()
        watcher = Watcher.from_settings(db, self.settings, owner=self.owner)
        self.checks = DueChecks(watcher, self.cfg, self.metrics, self.health, self.stopping)
        self.job_context = jobs.Context(db, self.settings, self.cfg)
        self._start_timers()
        threading.Thread(target=self._watch_clock, name="clock", daemon=True).start()
        self._state = "running"
        logger.info(
            "daemon running",
            extra={"owner": self.owner, "http": self.http_address, "ops": self.ops_address},
        )

    def _one_sqlite_daemon(self, db: Database) -> None:
        database = db.engine.url.database
        if not db.is_sqlite or not database:
            return
        self._lockfile = open(database + ".daemon.lock", "a+")  # noqa: SIM115 (held for life)
        try:
            fcntl.flock(self._lockfile, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise ConfigError(
                f"another daemon already runs on the SQLite database {database}",
                "SQLite supports one replica; for several, use PostgreSQL (TRACKER_DATABASE_URL).",
            ) from None

    def _start_timers(self) -> None:
        # APScheduler logs every tick at INFO, and a tick skipped because the previous one
        # still runs at WARNING: both are expected here (max_instances=1 on purpose).
        logging.getLogger("apscheduler").setLevel(logging.ERROR)
        c = self.cfg
        assert self.checks is not None
        timers: list[tuple[str, float, Callable[[], object]]] = [
            ("checks", c.check_poll, self.checks.tick),
            ("dispatch", c.dispatch_poll, self._dispatch),
            ("digests", c.digest_poll, self._digests),
            ("singletons", c.jobs_poll, self._singletons),
            ("sync", c.sync_every, self.sync),
            ("heartbeat", c.heartbeat_every, self._heartbeat),
        ]
        if c.export_poll > 0:
            timers.append(("exports", c.export_poll, self._exports))
        self.scheduler = BackgroundScheduler(
            timezone=UTC,
            jobstores={"default": MemoryJobStore()},
            executors={"default": TimerPool(len(timers) + 1)},
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        now = datetime.now(UTC)
        for name, seconds, fn in timers:
            self.scheduler.add_job(
                self._guarded(name, fn), "interval", seconds=seconds, id=name, next_run_time=now
            )
        self.scheduler.add_job(self._watchdog, "interval", seconds=1, id="watchdog")
        self.scheduler.start()

    # ------------------------------------------------------------ timers

    def _guarded(self, name: str, fn: Callable[[], object]) -> Callable[[], None]:
        def run() -> None:
            if self.stopping.is_set() or not self.health.should_try():
                return
            try:
                fn()
                self.health.ok()
            except Exception as exc:
                assert self.metrics is not None
                if is_db_error(exc):
                    self.health.failed(exc)
                    self.metrics.failures.labels("database").inc()
                else:
                    logger.exception("%s failed", name)
                    self.metrics.failures.labels("job").inc()

        return run

    def _dispatch(self) -> None:
        assert self.metrics is not None and self.db is not None
        # A dispatcher per run: its cache of events lives for one run, not for the
        # daemon's life. One batch at a time, so a stop waits for one batch at most.
        assert self.cfg.backoff is not None  # set by DaemonConfig.from_settings
        dispatcher = Dispatcher(
            self.db,
            self.settings,
            owner=self.owner,
            lease_for=self.cfg.dispatch_lease,
            batch=self.cfg.dispatch_batch,
            backoff=self.cfg.backoff,
            lanes=self.lanes,  # a slow endpoint's lane outlives this run: mail goes on
        )
        while not self.stopping.is_set():
            stats = dispatcher.run(max_batches=1)
            self._count(stats)
            self._count(self.lanes.stats.take())
            if not stats.batches:
                return

    def _count(self, stats: Stats) -> None:
        assert self.metrics is not None
        for result in ("sent", "retry", "dead", "skipped", "lost_lease"):
            if getattr(stats, result):
                self.metrics.deliveries.labels(result).inc(getattr(stats, result))

    def _digests(self) -> None:
        assert self.db is not None and self.metrics is not None
        self.metrics.digests.inc(digest.enqueue_due(self.db, owner=self.owner))

    def _singletons(self) -> None:
        assert self.metrics is not None and self.job_context is not None
        m = self.metrics
        jobs.run_due(self.job_context, self.owner, on_run=lambda n: m.job_runs.labels(n).inc())

    def _exports(self) -> None:
        assert self.db is not None
        replica.refresh_exports(self.db, self.settings)

    def _heartbeat(self) -> None:
        assert self.db is not None
        replica.heartbeat(self.db, self.owner, self.http_address, self.started_at)

    def _watchdog(self) -> None:
        if self.health.given_up() and not self.stopping.is_set():
            self.fatal = StorageError(
                f"database unreachable for {self.health.down_for():.0f} s: "
                f"{self.health.last_error}",
                "Check TRACKER_DATABASE_URL and the database server; the daemon gave up "
                "after db_retry_for seconds (a service manager restarts it).",
            )
            logger.error("%s; stopping", self.fatal)
            self.request_stop(3)

    # ------------------------------------------------------------ clock jumps

    def _watch_clock(self) -> None:
        watch = clockwatch.ClockWatch(self.cfg.clock_jump, self._on_jump)
        while not self.stopping.wait(1.0):  # Event.wait runs on the monotonic clock
            watch.check()

    def _on_jump(self, skew: float) -> None:
        direction = "forward" if skew > 0 else "backward"
        logger.warning(
            "the wall clock jumped %s by %.1f s; repairing leases and due times",
            direction,
            abs(skew),
            extra={"clock_jump_s": round(skew, 3)},
        )
        if self.metrics is not None:
            self.metrics.clock_jumps.labels(direction).inc()
        in_flight = self.checks.in_flight() if self.checks is not None else []
        self._repair(skew)
        if self.scheduler is not None:  # its timers run on the wall clock too
            for job in self.scheduler.get_jobs():
                job.modify(next_run_time=datetime.now(UTC))
            self.scheduler.wakeup()
        if skew < 0 and in_flight:
            # A check in flight across the jump stores its next due time (and its host's
            # next turn) from a `now` read before the jump, after the repair above: an
            # hour ahead on a backward jump. Repair again once those checks have ended.
            def again() -> None:
                wait(in_flight, timeout=self.cfg.host_lease.total_seconds())
                if not self.stopping.is_set():
                    self._repair(skew)

            threading.Thread(target=again, name="clock-repair", daemon=True).start()

    def _repair(self, skew: float) -> None:
        try:
            if self.db is not None:
                clockwatch.repair(
                    self.db,
                    self.owner,
                    skew,
                    leases=self.cfg.leases(),
                    periods={n: j.period(self.cfg) for n, j in jobs.SINGLETONS.items()},
                    default_every=self.settings.default_every,
                    host_delay=self.cfg.host_delay,
                )
        except Exception as exc:
            if not is_db_error(exc):
                raise
            self.health.failed(exc)

    # ------------------------------------------------------------ stop

    def request_stop(self, code: int = 0) -> None:
        """Ask the daemon to stop (signal handlers call this); `wait` then returns."""
        if not self.stopping.is_set():
            self._exit = code
            self._state = "stopping"
            self.stopping.set()

    def abort(self) -> None:
        """Stop at once (a second signal): give back every lease, exit with status 1."""
        logger.warning("second stop signal: releasing leases and exiting now")
        self._release()
        logging.shutdown()
        os._exit(1)

    def wait(self) -> int:
        """Block until a stop is requested, then shut down; returns the exit status."""
        # Short waits, not one endless one: Python runs signal handlers in the main
        # thread between bytecodes, and a SIGTERM the kernel hands to another thread
        # (the HTTP servers' threads sit in poll) does not wake an endless wait.
        while not self.stopping.wait(0.5):
            pass
        return self.shutdown()

    def shutdown(self) -> int:
        self.request_stop(self._exit)
        logger.info("stopping: finishing the work in progress")
        grace = self.cfg.shutdown_grace
        deadline = _Deadline(grace)
        timers_done = threading.Event()
        if self.scheduler is not None:
            scheduler = self.scheduler

            def stop_timers() -> None:
                scheduler.shutdown(wait=True)  # waits for the running timer jobs
                timers_done.set()

            threading.Thread(target=stop_timers, name="stop-timers", daemon=True).start()
        else:
            timers_done.set()
        clean = self.checks.drain(deadline.left()) if self.checks else True
        clean = timers_done.wait(deadline.left()) and clean
        clean = self.lanes.drain(deadline.left()) and clean  # webhooks in flight
        self.lanes.close()
        if not clean:
            logger.warning(
                "work still in progress after shutdown_grace (%.0f s): releasing its leases",
                grace,
            )
        # Requests in progress get what is left of the grace (at least a moment).
        self._stop_servers(max(1.0, deadline.left()))
        self._release()
        code = self._exit if clean else max(self._exit, 1)
        logger.info("stopped", extra={"exit_status": code, "clean": clean})
        return code

    def _release(self) -> None:
        if self.db is None:
            return
        # A claim that commits after the release would outlive the process (its rows
        # would wait for their lease to run out): no new claims, and the ones in
        # progress (short transactions) end first.
        lease.GATE.close(timeout=5.0)
        try:
            released = sum(lease.release(self.db, t, self.owner) for t in self.cfg.leases())
            replica.forget(self.db, self.owner)
            if released:
                logger.info("released %d leases", released)
        except Exception as exc:
            if not is_db_error(exc):
                raise
            logger.warning("could not release leases (database unreachable): they expire")
        finally:
            self.db.dispose()


class _Deadline:
    def __init__(self, seconds: float) -> None:
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())
