"""`python -m bench.faults`: run the drills and the load figures, print the tables."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

# The drills set every setting they use; the caller's own TRACKER_* must not leak in.
for _name in list(os.environ):
    if _name.startswith("TRACKER_") and _name != "TRACKER_TEST_PG":
        del os.environ[_name]

from bench.faults import delivery, diskfull, hostile, kills, load, pgrestart  # noqa: E402
from bench.faults.common import Result, sqlite_template  # noqa: E402
from bench.faults.report import load_table, table  # noqa: E402

DRILLS: dict[str, Callable[[argparse.Namespace, Path], Result]] = {
    "mail": lambda args, t: delivery.mail_down(t),
    "webhook": lambda args, t: delivery.webhook_faults(t),
    "pg-restart": lambda args, t: pgrestart.pg_restart(),
    "kills": lambda args, t: kills.kills(t, args.kills, args.seed),
    "disk-full": lambda args, t: diskfull.disk_full(t),
    "hostile-page": lambda args, t: hostile.hostile_page(t),
    "slow-receiver": lambda args, t: hostile.slow_receiver(t),
}


def main() -> int:
    p = argparse.ArgumentParser(prog="python -m bench.faults", description=__doc__)
    p.add_argument("--only", default="", help="comma-separated drills (and `load`)")
    p.add_argument("--kills", type=int, default=20, help="SIGKILLs in the kills drill")
    p.add_argument("--seed", type=int, default=None, help="random kill points (default: time)")
    p.add_argument("--no-load", action="store_true", help="skip the load figures")
    p.add_argument("--sources", type=int, default=5000, help="sources in the load figures")
    p.add_argument("--subscribers", type=int, default=10000)
    p.add_argument("--changes", type=int, default=1000)
    args = p.parse_args()
    args.seed = args.seed if args.seed is not None else int(time.time())
    logging.basicConfig(level=logging.WARNING)
    wanted = [n.strip() for n in args.only.split(",") if n.strip()] or [*DRILLS, "load"]
    unknown = set(wanted) - {*DRILLS, "load"}
    if unknown:
        p.error(f"unknown drill(s): {', '.join(sorted(unknown))}")
    print(f"# Fault drills, {date.today()} (kill seed {args.seed})", flush=True)
    results: list[Result] = []
    with tempfile.TemporaryDirectory(prefix="tracker-faults-") as folder:
        template = sqlite_template(Path(folder))
        for name in DRILLS:
            if name not in wanted:
                continue
            print(f"- {name} ...", flush=True)
            t0 = time.monotonic()
            try:
                result = DRILLS[name](args, template)
            except Exception as exc:  # a broken drill is a failed row, not a lost table
                result = Result(name, problems=[f"drill crashed: {exc!r}"])
                logging.exception("drill %s crashed", name)
            result.seconds = time.monotonic() - t0
            results.append(result)
            print(f"  {'ok' if result.ok else 'FAILED'} in {result.seconds:.0f} s", flush=True)
    if results:
        print()
        print(table(results))
    figures = []
    if "load" in wanted and not args.no_load:
        print("\n- load ...", flush=True)
        figures = load.run(args)
        print()
        print(load_table(figures))
    failed = [r for r in results if not r.ok] + [f for f in figures if not f.ok]
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
