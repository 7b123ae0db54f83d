"""Delivery faults, on one daemon over SQLite:

- `mail_down`: the SMTP server (aiosmtpd, STARTTLS) stops before a cycle with changes
  and stays down until every alert has failed at least `DOWN_ATTEMPTS` times, then
  comes back on the same port. Every alert must then arrive once.
- `webhook_faults`: the receiver answers each message's first attempt 500, its second
  429 with `Retry-After: 3`, and hangs on its third (no answer within the 1 s
  `webhook_timeout`); the fourth is accepted. Every message must arrive once, signed
  (checked with `standardwebhooks`), and no retry may come before the Retry-After.
"""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from pathlib import Path

import sqlalchemy as sa

from bench.faults.common import DrillFailed, Result, wait_for
from bench.faults.drill import Drill
from tests.support.receivers import Reply
from tracker.storage.tables_alerts import OUTBOX

DOWN_ATTEMPTS = 3
RETRY_AFTER = 3


def _alerts(d: Drill) -> list[sa.Row[object]]:
    with d.db.read() as conn:
        return list(
            conn.execute(
                sa.select(OUTBOX.c.status, OUTBOX.c.attempts).where(OUTBOX.c.purpose == "alert")
            ).all()
        )


def mail_down(template: Path) -> Result:
    with Drill(
        "mail server down",
        template=template,
        hosts=2,
        per_host=5,
        subscribers=5,
        mail_tls="starttls",
    ) as d:
        try:
            daemon = d.start("a")
            d.baseline()
            d.mail.stop()
            down = time.monotonic()
            d.bump(d.site.keys[::2])
            d.record_status()
            wanted = (len(d.bumped) + 1) * len(d.subscribers)

            def retried() -> bool:
                rows = _alerts(d)
                return len(rows) == wanted and min(r.attempts for r in rows) >= DOWN_ATTEMPTS

            wait_for(f"every alert to fail {DOWN_ATTEMPTS} times", retried, 90)
            if any(r.status != "pending" for r in _alerts(d)):
                raise DrillFailed("an alert left `pending` while the mail server was down")
            tries = max(r.attempts for r in _alerts(d))
            d.mail.start()
            seconds = time.monotonic() - down
            d.settle(120)
            if daemon.stop() != 0:
                raise DrillFailed(f"the daemon did not stop cleanly: {daemon.errors()[-500:]}")
        except DrillFailed as exc:
            return d.fail(exc)
        return d.result(
            notes=f"down {seconds:.0f} s; {DOWN_ATTEMPTS}-{tries} failed attempts per alert first"
        )


def webhook_faults(template: Path) -> Result:
    with Drill(
        "webhook 500, 429, hang",
        template=template,
        hosts=1,
        per_host=6,
        subscribers=0,
        webhook=True,
    ) as d:
        assert d.receiver is not None
        seen: dict[str, int] = defaultdict(int)
        lock = threading.Lock()

        def answer(headers: dict[str, str]) -> Reply:
            with lock:
                seen[headers.get("webhook-id", "")] += 1
                n = seen[headers.get("webhook-id", "")]
            if n == 1:
                return Reply(500)
            if n == 2:
                return Reply(429, {"Retry-After": str(RETRY_AFTER)})
            if n == 3:
                return Reply(500, delay=2.5)  # hangs past the 1 s webhook_timeout
            return Reply(200)

        d.receiver.answer = answer
        try:
            daemon = d.start("a")
            d.baseline()
            d.bump(d.site.keys)
            d.record_status()
            d.settle(120)
            if daemon.stop() != 0:
                raise DrillFailed(f"the daemon did not stop cleanly: {daemon.errors()[-500:]}")
        except DrillFailed as exc:
            return d.fail(exc)
        result = d.result()
        early = _early_retries(d)
        if early:
            result.problems.append(f"{early} retries came before Retry-After")
        attempts = sorted(set(seen.values()))
        result.notes = f"attempts per message: {attempts}; no retry before Retry-After"
        return result


def _early_retries(d: Drill) -> int:
    """Retries that came sooner than the Retry-After of the 429 before them."""
    assert d.receiver is not None
    by_id: dict[str, list[tuple[float, int]]] = defaultdict(list)
    for r in d.receiver.requests:
        by_id[r.headers.get("webhook-id", "")].append((r.at, r.status))
    early = 0
    for attempts in by_id.values():
        attempts.sort()
        for (at, status), (later, _) in itertools.pairwise(attempts):
            if status == 429 and later - at < RETRY_AFTER - 0.05:
                early += 1
    return early
