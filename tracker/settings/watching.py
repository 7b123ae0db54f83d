"""Settings of watching official pages: fetching, politeness, diffs, snapshots."""

from __future__ import annotations

from tracker.settings.base import Setting
from tracker.valuecheck import between
from tracker.valuecheck import one_interval as interval

DECLARED: tuple[Setting, ...] = (
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
)
