"""Load figures: 5,000 sources on one host and on 500 hosts, then 1,000 changes in one
cycle with 10,000 subscribers, then their digests and the delivery of every message.

Steps (each measured in a fresh process, `bench.faults.loaddriver`; pages served by
`bench.faults.loadsite`, which also watches politeness per host):

1. `one host`: a first-sight cycle (`tracker check`) over 5,000 sources on one host,
   `host_delay` 5 ms: one request at a time, each at least 5 ms after the last answer.
2. `500 hosts`: the same 5,000 sources spread over 500 hosts, `host_delay` 20 ms, 8
   workers: at most one request in flight per host.
3. `1,000 changes`: 10,000 subscribers are added (2% immediate, 1% daily for every
   place, the rest daily or weekly for one US state), 1,000 pages change, one cycle
   checks all 5,000: 1,000 `page_changed` events, each fanned out in its transaction.
   The outbox rows and digest items are counted against what the filters ask for.
4. `digests`: every digest subscriber is due; `digest.enqueue_due` builds the digests.
5. `delivery`: two dispatchers send every due row to aiosmtpd in another process, which
   counts Message-IDs: every expected message once, none lost.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from bench.faults import loadsite
from bench.faults.common import sqlite_template
from bench.faults.loadpeople import add_population, expected_rows
from tests.support.mail import free_port
from tracker.storage.engine import Database, make_engine
from tracker.storage.tables_alerts import DIGEST_ITEM, OUTBOX, SUBSCRIBER
from tracker.timeutil import utcnow

ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Figure:
    name: str
    work: str
    seconds: float = 0.0
    rate: str = ""
    rss_mb: float = 0.0
    polite: str = "-"
    problems: list[str] = field(default_factory=list)
    notes: str = ""

    @property
    def ok(self) -> bool:
        return not self.problems


class PageSite:
    """The `loadsite` child process."""

    def __init__(self, pages: int, hosts: int) -> None:
        self.port = free_port()
        args = [str(pages), str(hosts), str(self.port)]
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bench.faults.loadsite", *args],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=ROOT,
        )
        assert self.proc.stdout is not None and self.proc.stdin is not None
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError("the page server did not start")

    def tell(self, line: str) -> str:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(line + "\n")
        self.proc.stdin.flush()
        return self.proc.stdout.readline().strip()

    def stats(self) -> dict[str, Any]:
        return dict(json.loads(self.tell("stats")))

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(10)


def _env(state: Path, **settings: Any) -> dict[str, str]:
    base = {
        "data_dir": state / "data",
        "allow_loopback": 1,
        "check_workers": 8,
        "fetch_retries": 0,
        "log_level": "WARNING",
        "mail_from": "alerts@load.test",
        "retry_delays": "1s,2s,5s",
    }
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKER_")}
    return env | {f"TRACKER_{k.upper()}": str(v) for k, v in {**base, **settings}.items()}


def _drive(mode: str, state: Path, env: dict[str, str], *extra: str) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.faults.loaddriver", mode, str(state), *extra],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise RuntimeError(f"loaddriver {mode} failed:\n{done.stderr[-3000:]}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def _state(folder: Path, name: str, template: Path, pages: int, hosts: int, port: int) -> Path:
    state = folder / name
    (state / "data").mkdir(parents=True)
    shutil.copy(template, state / "data" / "tracker.db")
    lines = ["sources:"]
    for i in range(pages):
        lines += [
            f"  - key: load-{i:05d}",
            f"    place: {loadsite.place(i)}",
            f"    url: {loadsite.url(i, hosts, port)}",
            "    kind: html",
            "    select: [main]",
        ]
    (state / "data" / "sources.yaml").write_text("\n".join(lines) + "\n")
    return state


def _polite(server: dict[str, Any], client: dict[str, Any], delay: float, fig: Figure) -> None:
    """One request at a time per host (seen by the server and by the client) and at
    least `delay` between an answer and the next request (client side, a lower bound:
    timestamps taken in the server process are late by its scheduling, up to a few ms
    on a busy machine, so they cannot prove a gap)."""
    most = max(server["inflight"], client["inflight"])
    gap = client["gap"]
    fig.polite = f"{most} in flight per host; gap >= {gap * 1000:.1f} ms (rule {delay * 1000:g} ms)"
    if most > 1:
        fig.problems.append(f"{most} requests in flight on one host")
    if gap is None or gap < delay:
        fig.problems.append(f"a host was asked again {gap} s after an answer")
    if server["requests"] != client["requests"]:
        fig.problems.append(f"{server['requests']} requests served, {client['requests']} made")


def _cycle_figure(
    name: str, work: str, out: dict[str, Any], site: PageSite, delay: float
) -> Figure:
    fig = Figure(
        name, work, out["seconds"], f"{out['checks'] / out['seconds']:.0f} checks/s", out["rss_mb"]
    )
    _polite(site.stats(), out["polite"], delay, fig)
    if out["outcomes"].get("error"):
        fig.problems.append(f"{out['outcomes']['error']} checks failed")
    return fig


def run(args: argparse.Namespace) -> list[Figure]:
    figures: list[Figure] = []
    folder = Path(tempfile.mkdtemp(prefix="tracker-load-"))
    try:
        template = sqlite_template(folder)
        n = args.sources
        site = PageSite(n, 1)
        try:
            state = _state(folder, "one", template, n, 1, site.port)
            out = _drive("cycle", state, _env(state, host_delay=0.005))
            figures.append(
                _cycle_figure("one host", f"{n:,} sources, first sight", out, site, 0.005)
            )
        finally:
            site.close()
        print(f"  one host: {out['seconds']:.1f} s", flush=True)
        site = PageSite(n, 500)
        try:
            figures += _many_hosts(args, folder, template, site)
        finally:
            site.close()
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return figures


def _many_hosts(
    args: argparse.Namespace, folder: Path, template: Path, site: PageSite
) -> list[Figure]:
    n, delay = args.sources, 0.02
    state = _state(folder, "many", template, n, 500, site.port)
    env = _env(state, host_delay=delay)
    out = _drive("cycle", state, env)
    figures = [_cycle_figure("500 hosts", f"{n:,} sources, first sight", out, site, delay)]
    print(f"  500 hosts: {out['seconds']:.1f} s", flush=True)

    db = Database(make_engine(f"sqlite:///{state / 'data' / 'tracker.db'}"))
    rng = random.Random(7)
    people = add_population(db, args.subscribers, rng)
    changed = rng.sample(range(n), args.changes)
    site.tell("bump " + ",".join(map(str, changed)))
    site.tell("reset")
    out = _drive("cycle", state, env)
    fig = _cycle_figure(
        "1,000 changes",
        f"{n:,} checks, {args.changes:,} changes, {args.subscribers:,} subscribers",
        out,
        site,
        delay,
    )
    fig.notes = f"fan-out {out['fan_out_s']:.1f} s of the cycle"
    want = expected_rows(people, [loadsite.place(i) for i in changed])
    got = _counts(db)
    if out["outcomes"].get("changed") != args.changes:
        fig.problems.append(f"{out['outcomes'].get('changed')} changes for {args.changes}")
    for what in ("alerts", "items"):
        if got[what] != want[what]:
            fig.problems.append(f"{got[what]} {what} for {want[what]} expected")
    fig.notes += (
        f"; {got['alerts']:,} alert rows, {got['items']:,} digest items, as the filters ask"
    )
    figures.append(fig)
    print(f"  1,000 changes: {out['seconds']:.1f} s", flush=True)

    with db.write() as conn:  # the digest hour has come for everyone
        conn.execute(
            SUBSCRIBER.update()
            .where(SUBSCRIBER.c.cadence != "immediate")
            .values(next_digest_at=utcnow() - timedelta(minutes=1))
        )
    out = _drive("digests", state, env)
    fig = Figure(
        "digests",
        f"{out['enqueued']:,} digests of {want['items']:,} items",
        out["seconds"],
        f"{out['enqueued'] / out['seconds']:.0f} digests/s",
        out["rss_mb"],
    )
    if out["enqueued"] != want["digests"]:
        fig.problems.append(f"{out['enqueued']} digests for {want['digests']} expected")
    figures.append(fig)
    print(f"  digests: {out['seconds']:.1f} s", flush=True)
    figures.append(_delivery(state, env, db, want))
    db.dispose()
    return figures


def _counts(db: Database) -> dict[str, int]:
    with db.read() as conn:
        alerts = conn.execute(
            sa.select(sa.func.count()).select_from(OUTBOX).where(OUTBOX.c.purpose == "alert")
        ).scalar_one()
        items = conn.execute(sa.select(sa.func.count()).select_from(DIGEST_ITEM)).scalar_one()
    return {"alerts": int(alerts), "items": int(items)}


def _delivery(state: Path, env: dict[str, str], db: Database, want: dict[str, int]) -> Figure:
    from bench.faults.loadmail import CountingSmtp

    with CountingSmtp() as smtp:
        out = _drive("deliver", state, env | smtp.env(), "2")
        ids = smtp.ids()
    total = want["alerts"] + want["digests"]
    distinct = len(set(ids))
    fig = Figure(
        "delivery",
        f"{total:,} messages (alerts and digests) to aiosmtpd",
        out["seconds"],
        f"{len(ids) / out['seconds']:.0f} messages/s",
        out["rss_mb"],
    )
    fig.notes = f"{distinct:,} delivered, {len(ids) - distinct} duplicates, {total - distinct} lost"
    if distinct != total or len(ids) != distinct:
        fig.problems.append(fig.notes)
    return fig
