"""The disk full while a snapshot is being written.

The daemon's data folder (its SQLite database and WAL) is a real tmpfs mount of 64 MB.
After the baseline, a ballast file fills the disk up to `LEFT` free bytes: enough for
small writes (heartbeats, check rows), not for the snapshots of the next versions, which
become pages of about 600 kB each (a snapshot of about 400 kB, plus the diffs). The
write of each new version (snapshot, change, diffs and event in one transaction) then
fails with SQLite's own SQLITE_FULL ("database or disk is full"): the transaction is
rolled back, the daemon counts the database as down and retries with backoff. After some
failed tries the ballast is removed: every change must then be recorded once, every
alert sent once, and `PRAGMA integrity_check` must say ok.
"""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from bench.faults.common import DrillFailed, Result, wait_for
from bench.faults.drill import Drill

SIZE = 64 * 1024 * 1024
LEFT = 256 * 1024
BIG = 600_000  # characters of filler in each new version


def _fill(path: Path, leave: int) -> int:
    """Write a ballast file until only `leave` bytes are free; returns its size."""
    written = 0
    block = os.urandom(64 * 1024)
    with open(path, "wb") as fh:
        while shutil.disk_usage(path.parent).free > leave + len(block):
            fh.write(block)
            fh.flush()
            written += len(block)
        os.fsync(fh.fileno())
    return written


def _full_errors(daemon_errors: str) -> int:
    """SQLITE_FULL as SQLite says it, or as the storage layer names it (the disk that
    holds the database is full)."""
    return daemon_errors.count("database or disk is full") + daemon_errors.count(
        "holds the database"
    )


def disk_full(template: Path) -> Result:
    try:
        with Drill(
            "disk full while writing a snapshot",
            template=template,
            hosts=2,
            per_host=3,
            subscribers=3,
            big_size=BIG,
            tmpfs=SIZE,
        ) as d:
            return _drill(d)
    except DrillFailed as exc:  # the mount itself was refused
        return Result("disk full while writing a snapshot", problems=[str(exc)])


def _drill(d: Drill) -> Result:
    try:
        daemon = d.start("a", db_retry_for=300, check_lease=3, host_lease=3, dispatch_lease=3)
        d.baseline()
        ballast = d.data_dir / "ballast"
        _fill(ballast, LEFT)
        d.bump(d.site.keys[:4], big=True)
        wait_for("SQLITE_FULL", lambda: _full_errors(daemon.errors()), 60)
        t0 = time.monotonic()
        time.sleep(5)  # several tries while the disk stays full
        if d.changes():
            raise DrillFailed("a change was recorded while the disk was full")
        fails = _full_errors(daemon.errors())
        ballast.unlink()
        full_for = time.monotonic() - t0
        d.record_status()
        d.settle(120)
        if daemon.proc.poll() is not None:
            raise DrillFailed(f"the daemon exited with {daemon.proc.returncode}")
        if daemon.stop() != 0:
            raise DrillFailed("the daemon did not stop cleanly")
    except DrillFailed as exc:
        return d.fail(exc)
    return d.result(
        notes=f"tmpfs of {SIZE // 2**20} MB; SQLITE_FULL logged {fails} time(s) over "
        f"{full_for:.0f} s, then space was freed"
    )
