"""Wall time of `tracker export --format html` of the shipped data (target: under one
second), beside `tracker status US-AL` (the cost every command pays to start).

    .venv/bin/python bench/export_html.py [--runs 15]

Prepares a database from the shipped data in a scratch folder, runs each command once to
warm up, then alternately, and prints the medians and minimums.
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
from pathlib import Path

TARGET = 1.0


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TRACKER_DATA_DIR": tmp}
        env.pop("TRACKER_DATABASE_URL", None)
        page = Path(tmp) / "status.html"
        export = [sys.executable, "-m", "tracker", "export", "--format", "html", "-o", str(page)]
        status = [sys.executable, "-m", "tracker", "status", "US-AL"]
        for cmd in (status, export):  # prepares the database and warms the caches
            subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
        times: dict[str, list[float]] = {"export": [], "status": []}
        for _ in range(args.runs):
            times["export"].append(timed(export, env))
            times["status"].append(timed(status, env))
        size = page.stat().st_size
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"# tracker export --format html, shipped data, {date.today()}, {args.runs} runs each")
    print(f"{'command':44} {'median':>9} {'min':>9}")
    for label, key in (
        ("tracker status US-AL (start-up reference)", "status"),
        ("tracker export --format html", "export"),
    ):
        print(f"{label:44} {med[key] * 1000:8.0f}ms {min(times[key]) * 1000:8.0f}ms")
    verdict = "met" if med["export"] < TARGET else "NOT met"
    print(f"page size: {size / 1024:.0f} KiB; target median < {TARGET:.1f} s: {verdict}")


if __name__ == "__main__":
    main()
