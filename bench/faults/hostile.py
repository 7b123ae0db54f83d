"""Hostile peers, on one daemon over SQLite (issue 14):

- `hostile_page`: on the same host as three normal pages, a 3,000-line roll call whose
  "Yea"/"Nay" lines all flip (difflib's matcher took 77 s on it) and a page whose body
  drips 8 bytes a second (it would take hours). The normal pages change at the same time
  as the roll call: each must be detected within `ON_TIME` seconds, the roll call as
  one change with its diff, and every check of the drip cut at twice `fetch_timeout`.
- `slow_receiver`: beside mail and a healthy webhook receiver, a second endpoint sends
  its response headers one byte every half second. Mail and the healthy endpoint must get
  every message within `ON_TIME` seconds, once; the slow endpoint holds one delivery per
  run for at most `webhook_timeout`, and its messages are never counted as delivered
  (then it is removed, so the outbox can settle).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from bench.faults.common import DrillFailed, Result, add_webhook, wait_for
from bench.faults.drill import Drill
from tests.support.daemons import write_sources
from tests.support.drip import DripServer, header_drip
from tests.support.hostile import roll_call_page
from tests.support.pages import Reply
from tracker.alerts import webhooks
from tracker.storage.tables_alerts import OUTBOX
from tracker.storage.tables_watch import PAGE_CHANGE, PAGE_CHECK, SOURCE

ON_TIME = 30.0  # seconds from a change to its detection, or from an event to its delivery
VOTES, DRIP = "hostile-votes", "hostile-drip"


def _drip() -> Iterator[bytes]:
    yield b"<html><body><p>Roll call, live:"
    for _ in range(100_000):  # 8 bytes a second: about 28 hours in all
        time.sleep(1)
        yield b" Yea Nay"


def hostile_page(template: Path) -> Result:
    with Drill(
        "hostile page: roll call, slow drip, normal pages on one host",
        template=template,
        hosts=1,
        per_host=3,
        subscribers=2,
    ) as d:
        server = d.site.servers[0]
        flipped = {"votes": False}
        votes = {flip: roll_call_page(3000, flipped=flip).encode() for flip in (False, True)}
        server.route("/votes", lambda req: Reply(200, votes[flipped["votes"]]))
        server.route("/drip", lambda req: Reply(200, stream=_drip()))
        hostile = [
            {"key": VOTES, "place": "US-RI", "url": server.url("/votes"), "kind": "html"},
            {"key": DRIP, "place": "US-RI", "url": server.url("/drip"), "kind": "html"},
        ]
        for entry in hostile:
            entry["every"] = d.every
        write_sources(d.data_dir, d.site.sources(d.every) + hostile)
        d.extra_keys = [VOTES]
        try:
            daemon = d.start("a", fetch_timeout=2, check_budget=20)
            d.baseline()  # the roll call's too (an extra key)
            changed_at = datetime.now(UTC)
            flipped["votes"] = True
            d.bumped.add(VOTES)
            d.bump(d.site.keys)
            d.settle(180)
            lags = _lags(d, changed_at)
            drip = _drip_checks(d)
            if daemon.stop() != 0:
                raise DrillFailed(f"the daemon did not stop cleanly: {daemon.errors()[-500:]}")
        except DrillFailed as exc:
            return d.fail(exc)
        result = d.result()
        late = {k: v for k, v in lags.items() if v > ON_TIME}
        if late:
            result.problems.append(f"detected late (> {ON_TIME:g} s): {late}")
        too_large = _too_large(d)
        if too_large:
            result.problems.append("the roll call was recorded as too large to diff")
        if not drip or any("took longer than 4 s" not in e for e, _ in drip):
            result.problems.append(f"drip checks not cut at 4 s: {drip[:2]}")
        normal = [v for k, v in lags.items() if k != VOTES]
        longest = max(ms for _, ms in drip) / 1000 if drip else 0
        result.notes = (
            f"normal pages detected {min(normal):.1f}-{max(normal):.1f} s after they changed "
            f"(limit {ON_TIME:g} s); roll call: one change with its diff, "
            f"{lags.get(VOTES, 0):.1f} s; {len(drip)} drip check(s) cut, each within "
            f"{longest:.1f} s (fetch_timeout 2 s)"
        )
        return result


def _lags(d: Drill, since: datetime) -> dict[str, float]:
    with d.db.read() as conn:
        rows = conn.execute(
            sa.select(SOURCE.c.key, PAGE_CHANGE.c.detected_at).join(
                PAGE_CHANGE, PAGE_CHANGE.c.source_id == SOURCE.c.id
            )
        ).all()
    return {key: (at.replace(tzinfo=UTC) - since).total_seconds() for key, at in rows}


def _drip_checks(d: Drill) -> list[tuple[str, int]]:
    with d.db.read() as conn:
        rows = conn.execute(
            sa.select(PAGE_CHECK.c.error, PAGE_CHECK.c.duration_ms)
            .join(SOURCE, SOURCE.c.id == PAGE_CHECK.c.source_id)
            .where(SOURCE.c.key == DRIP)
        ).all()
    return [(r.error or "", r.duration_ms) for r in rows]


def _too_large(d: Drill) -> bool:
    with d.db.read() as conn:
        return bool(
            conn.execute(
                sa.select(PAGE_CHANGE.c.too_large)
                .join(SOURCE, SOURCE.c.id == PAGE_CHANGE.c.source_id)
                .where(SOURCE.c.key == VOTES)
            ).scalar()
        )


def slow_receiver(template: Path) -> Result:
    with (
        DripServer(*header_drip(), every=0.5, step=1) as slow,
        Drill(
            "slow receiver: headers dripped beside mail and a second endpoint",
            template=template,
            hosts=1,
            per_host=4,
            subscribers=3,
            webhook=True,
        ) as d,
    ):
        assert d.receiver is not None
        held = add_webhook(d.db, slow.url("/hook"))
        try:
            daemon = d.start("a", webhook_timeout=10)
            d.baseline()
            changed = time.monotonic()
            d.bump(d.site.keys)
            d.record_status()
            wanted = (len(d.bumped) + 1) * (len(d.subscribers) + 1)
            wait_for(
                "every mail and every message of the healthy endpoint",
                lambda: len(d.mail.messages) + len(d.receiver.delivered()) >= wanted,  # type: ignore[union-attr]
                120,
            )
            latest = max(r.at for r in d.receiver.requests) - changed
            mail_done = time.monotonic() - changed
            wait_for(  # the slow delivery in flight all that time: cut at webhook_timeout
                "the slow endpoint's first delivery to be cut",
                lambda: _cut_errors(d, held.id) != "no error recorded",
                60,
            )
            slow_tries = len(slow.requests)
            cut = _cut_errors(d, held.id)
            with d.db.write() as conn:
                webhooks.remove(conn, held.id)  # its undelivered messages are skipped
            d.settle(120)
            if daemon.stop() != 0:
                raise DrillFailed(f"the daemon did not stop cleanly: {daemon.errors()[-500:]}")
        except DrillFailed as exc:
            return d.fail(exc)
        result = d.result()
        if max(latest, mail_done) > ON_TIME:
            result.problems.append(f"delivered late: {max(latest, mail_done):.1f} s")
        result.notes = (
            f"mail and the second endpoint all delivered within {mail_done:.1f} s of the "
            f"changes (limit {ON_TIME:g} s); the slow endpoint was tried {slow_tries} "
            f"time(s), each cut at webhook_timeout 10 s (its rows: {cut}), never sent twice"
        )
        return result


def _cut_errors(d: Drill, endpoint_id: int) -> str:
    with d.db.read() as conn:
        errors = conn.execute(
            sa.select(OUTBOX.c.last_error).where(OUTBOX.c.endpoint_id == endpoint_id)
        ).scalars()
        kinds = sorted({re.sub(r" from https?://\S+", "", e or "").strip() for e in errors})
    return "; ".join(k for k in kinds if k) or "no error recorded"
