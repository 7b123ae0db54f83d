"""Work every daemon replica does for itself: source files, exports, heartbeat.

- `sync_sources`: brings the `source` table in line with the source files (the shipped
  ones and `<data_dir>/sources.yaml`), under the bootstrap lock so replicas starting
  together do not insert the same new source twice, and creates the `host` rows of their
  hosts. Cheap when no file changed (a digest). A problem in a file is logged once.
- `refresh_exports`: regenerates the exports (`tracker.export.regenerate_exports`) into
  the export folder when what they show may have changed: the newest event id, the
  newest status or pending-measure knowledge time, or the day (a rule can take effect
  today). The fingerprint of the last regeneration is kept in the folder itself
  (`.tracker-exports`), so replicas that share a folder regenerate it once and replicas
  with folders of their own each keep theirs current. Files are replaced atomically.
- `heartbeat`: this replica's row in `daemon_replica` (`/status.json`, `/metrics`);
  rows not seen for a day (replicas killed long ago) are removed.
"""

from __future__ import annotations

import logging
import os
import socket
from datetime import timedelta
from pathlib import Path

import sqlalchemy as sa

from tracker import __version__
from tracker.export import export_folder, regenerate_exports
from tracker.paths import jurisdictions_dir
from tracker.settings import Settings
from tracker.storage.engine import Database, bootstrap_lock, dialect_insert
from tracker.storage.tables_core import EVENT, PENDING, STATUS
from tracker.storage.tables_review import REVIEW_ITEM
from tracker.storage.tables_service import DAEMON_REPLICA
from tracker.storage.tables_watch import SOURCE
from tracker.timeutil import utcnow
from tracker.watch import hosts, sources

logger = logging.getLogger(__name__)

MARKER = ".tracker-exports"


class SourceSync:
    def __init__(self, db: Database, settings: Settings) -> None:
        self.db, self.settings = db, settings
        self._reported: set[str] = set()

    def __call__(self) -> sources.SyncReport:
        with bootstrap_lock(self.db):
            report = sources.sync(self.db, jurisdictions_dir(), self.settings.data_path)
        for problem in report.problems:
            if str(problem) not in self._reported:
                logger.warning("source file problem: %s", problem)
        self._reported = {str(p) for p in report.problems}
        if report.added or report.updated or report.deactivated:
            logger.info(
                "sources synced: %d added, %d updated, %d deactivated",
                report.added,
                report.updated,
                report.deactivated,
            )
        with self.db.read() as conn:
            names = conn.execute(sa.select(SOURCE.c.host).where(SOURCE.c.active).distinct())
            wanted = list(names.scalars())
        hosts.ensure(self.db, wanted, utcnow())
        return report


def fingerprint(db: Database) -> str:
    """What the exports depend on, in one string."""
    with db.read() as conn:
        event = conn.execute(sa.select(sa.func.max(EVENT.c.id))).scalar()
        status = conn.execute(
            sa.select(sa.func.max(STATUS.c.recorded_at), sa.func.max(STATUS.c.superseded_at))
        ).one()
        pending = conn.execute(
            sa.select(sa.func.max(PENDING.c.recorded_at), sa.func.max(PENDING.c.superseded_at))
        ).one()
        # A review item closed without an event (a dismissal) changes "under review".
        reviewed = conn.execute(sa.select(sa.func.max(REVIEW_ITEM.c.closed_at))).scalar()
    parts = [utcnow().date(), event, *status, *pending, reviewed]
    return "v1|" + "|".join("-" if p is None else str(p) for p in parts)


def refresh_exports(db: Database, settings: Settings) -> bool:
    """Regenerate the exports if they may be out of date. True if it did."""
    folder = export_folder(settings)
    marker = folder / MARKER
    current = fingerprint(db)
    try:
        if marker.read_text(encoding="utf-8").strip() == current:
            return False
    except OSError:
        pass  # no marker yet: never regenerated into this folder
    regenerate_exports(db, folder)
    _write_marker(marker, current)
    return True


def _write_marker(marker: Path, text: str) -> None:
    tmp = marker.with_name(f"{marker.name}.{os.getpid()}.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, marker)


def heartbeat(db: Database, owner: str, http: str | None, started_at: object) -> None:
    now = utcnow()
    with db.write() as conn:
        stmt = dialect_insert(conn, DAEMON_REPLICA).values(
            owner=owner,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            version=__version__,
            http=http,
            started_at=started_at,
            seen_at=now,
        )
        conn.execute(
            stmt.on_conflict_do_update(
                index_elements=["owner"], set_={"seen_at": now, "http": http}
            )
        )
        conn.execute(
            DAEMON_REPLICA.delete().where(DAEMON_REPLICA.c.seen_at < now - timedelta(days=1))
        )


def forget(db: Database, owner: str) -> None:
    """Remove this replica's heartbeat row (clean stop)."""
    with db.write() as conn:
        conn.execute(DAEMON_REPLICA.delete().where(DAEMON_REPLICA.c.owner == owner))
