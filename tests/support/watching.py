"""A watcher over a local page server and a scratch sources file, for tests of checks.

with watching(db, tmp_path, fetcher, config) as env:
    env.sources({"key": "ri", "path": "/law"})      # the operator's sources.yaml
    env.site.page("/law", "<html>...")               # what the server answers
    report = env.cycle()                             # tracker check, in-process
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
import yaml

from tests.support.pages import PageServer
from tracker.storage.engine import Database
from tracker.storage.tables_core import EVENT
from tracker.storage.tables_watch import SOURCE
from tracker.watch.cycle import CycleReport, run_cycle
from tracker.watch.fetch import Fetcher
from tracker.watch.watcher import WatchConfig, Watcher


@dataclass
class Env:
    db: Database
    site: PageServer
    root: Path
    data: Path
    w: Watcher

    def sources(self, *entries: dict[str, Any]) -> None:
        items = [{"place": "US-RI", "kind": "html", **e} for e in entries]
        for item in items:
            item["url"] = self.site.url(item.pop("path"))
        (self.data / "sources.yaml").write_text(yaml.safe_dump({"sources": items}))

    def cycle(self, *keys: str) -> CycleReport:
        return run_cycle(self.w, self.root, self.data, keys)

    def outcome(self, report: CycleReport, key: str) -> Any:
        (result,) = [r for r in report.results if r.key == key]
        return result

    def events(self, kind: str) -> list[Any]:
        with self.db.read() as conn:
            return list(conn.execute(sa.select(EVENT).where(EVENT.c.kind == kind)))

    def source(self, key: str) -> Any:
        with self.db.read() as conn:
            return conn.execute(sa.select(SOURCE).where(SOURCE.c.key == key)).one()


@contextmanager
def watching(db: Database, tmp_path: Path, fetcher: Fetcher, config: WatchConfig) -> Iterator[Env]:
    """An `Env` with no shipped sources (an empty shipped folder) and its page server."""
    root, data = tmp_path / "shipped", tmp_path / "data"
    (root / "sources").mkdir(parents=True)
    data.mkdir()
    with PageServer() as site:
        yield Env(db, site, root, data, Watcher(db, fetcher, config))
