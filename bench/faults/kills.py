"""The daemon killed with SIGKILL at random points, 20 times, during cycles with changes.

One daemon on SQLite watches 60 pages on three hosts for five subscribers, with leases
of 2 s so that a dead daemon's work is taken over quickly. Every fifth kill, 15 more
pages change (each page changes once in the drill), and at the tenth a status is
recorded. Each round starts a daemon, waits until it is ready, lets it work for a random
0.1-2.5 s (checking, recording changes, fanning out, sending alerts to an SMTP server
that takes 30 ms per message) and kills it with SIGKILL. Right after each kill, the
outbox rows the dead daemon held are read: they are its crash window, the only messages
that may arrive twice. A last daemon then finishes the work and stops with SIGTERM.
"""

from __future__ import annotations

import random
import time
from pathlib import Path

from bench.faults.common import DrillFailed, Result, duplicated_keys, held_outbox_keys
from bench.faults.drill import Drill

SETTINGS = {
    "check_lease": 2,
    "host_lease": 2,
    "dispatch_lease": 2,
    "dispatch_batch": 10,
    "host_delay": 0.1,
}
PER_ROUND = 15


def kills(template: Path, count: int, seed: int) -> Result:
    rng = random.Random(seed)
    with Drill(
        f"SIGKILL x{count} mid-cycle", template=template, hosts=3, per_host=20, subscribers=5
    ) as d:
        d.mail.sink.delay = 0.03
        held: set[str] = set()
        sizes: list[int] = []
        try:
            first = d.start("first", **SETTINGS)
            d.baseline()
            if first.stop() != 0:
                raise DrillFailed("the first daemon did not stop cleanly")
            todo = list(d.site.keys)
            rng.shuffle(todo)
            for k in range(count):
                if k % 5 == 0 and todo:
                    d.bump(todo[:PER_ROUND])
                    del todo[:PER_ROUND]
                if k == count // 2:
                    d.record_status()
                daemon = d.start(f"k{k:02d}", **SETTINGS)
                time.sleep(rng.uniform(0.1, 2.5))
                daemon.kill()
                window = held_outbox_keys(d.db, daemon.owner)
                sizes.append(len(window))
                held |= window
            last = d.start("last", **SETTINGS)
            d.settle(240)
            if last.stop() != 0:
                raise DrillFailed("the last daemon did not stop cleanly")
        except DrillFailed as exc:
            return d.fail(exc)
        result = d.result(window=len(held))
        outside = duplicated_keys(d.expected, *d.received()) - held
        if outside:
            result.problems.append(
                f"{len(outside)} duplicate(s) outside the crash window, e.g. {sorted(outside)[0]}"
            )
        if max(sizes, default=0) > SETTINGS["dispatch_batch"]:
            result.problems.append(f"a dead daemon held {max(sizes)} rows, more than one batch")
        busy = sum(1 for n in sizes if n)
        result.notes = (
            f"seed {seed}; {busy} of {count} kills hit an outbox batch in flight "
            f"(held {min(sizes, default=0)}-{max(sizes, default=0)} rows)"
        )
        return result
