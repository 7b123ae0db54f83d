"""Wall time of `tracker status US-AL` against the floor of starting Python and importing
the project's dependencies (target: at most 1.3x the floor).

    .venv/bin/python bench/cli_startup.py [--runs 21]

Runs each command alternately, after one warm-up, on a database prepared beforehand in a
scratch folder, and prints the medians side by side.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date

DEPENDENCIES = [
    "apscheduler",
    "sqlmodel",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "requests",
    "requests_hardened",
    "bs4",
    "lxml",
    "jinja2",
    "aiosmtplib",
    "click",
    "yaml",
    "pycountry",
    "us",
    "platformdirs",
]


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TRACKER_DATA_DIR": tmp}
        env.pop("TRACKER_DATABASE_URL", None)
        status = [sys.executable, "-m", "tracker", "status", "US-AL"]
        floor = [sys.executable, "-c", "import " + ", ".join(DEPENDENCIES)]
        bare = [sys.executable, "-c", "pass"]
        subprocess.run(status, env=env, check=True, stdout=subprocess.DEVNULL)  # prepares the db
        times: dict[str, list[float]] = {"status": [], "floor": [], "python": []}
        for _ in range(args.runs):
            times["status"].append(timed(status, env))
            times["floor"].append(timed(floor, env))
            times["python"].append(timed(bare, env))
    med = {k: statistics.median(v) for k, v in times.items()}
    ratio = med["status"] / med["floor"]
    print(f"# tracker status US-AL vs import floor, {date.today()}, {args.runs} runs each")
    print(f"{'command':44} {'median':>9} {'min':>9}")
    for label, key in (
        ("python -c pass", "python"),
        ("floor: import all dependencies", "floor"),
        ("tracker status US-AL", "status"),
    ):
        print(f"{label:44} {med[key] * 1000:8.0f}ms {min(times[key]) * 1000:8.0f}ms")
    print(
        f"ratio status/floor: {ratio:.2f} (target <= 1.30: {'met' if ratio <= 1.3 else 'NOT met'})"
    )


if __name__ == "__main__":
    main()
