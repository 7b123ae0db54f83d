"""Settings of the daemon (`tracker run`): timers, leases and limits. Times in seconds."""

from __future__ import annotations

from tracker.settings.base import Setting
from tracker.valuecheck import between, intervals
from tracker.valuecheck import one_interval as interval

DECLARED: tuple[Setting, ...] = (
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
