"""Start-up of the CLI against its floor, side by side in one run.

    .venv/bin/python bench/cli_startup.py [--runs 21]

The floor is starting Python and importing what any database command needs,
`import sqlmodel, sqlalchemy`. Targets: `tracker status US-AL` at most 1.15x the floor (a
read-only command imports only what it uses and neither migrates nor loads data when the
database is current); `tracker --help` at most 0.5x (it imports no command at all).

`tracker` freezes what is alive when its command ends, so the interpreter's collections
at exit skip it; the floor pays them. A second floor line, the same import followed by
`gc.freeze()`, shows the comparison like for like too (no target: for information).

The commands run alternately, after one warm-up that prepares the database in a scratch
folder, so a load change on the machine touches all of them alike; medians and minimums
are printed.
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


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(cmd, env=env, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=21)
    args = parser.parse_args()
    commands = {
        "python": [sys.executable, "-c", "pass"],
        "floor": [sys.executable, "-c", "import sqlmodel, sqlalchemy"],
        # The same import without the interpreter's last garbage collections at exit,
        # which `tracker` skips (`tracker.cli.program` freezes what is alive when the
        # command ends): shown so the comparison is also made like for like.
        "floor_frozen": [sys.executable, "-c", "import sqlmodel, sqlalchemy, gc; gc.freeze()"],
        "status": [sys.executable, "-m", "tracker", "status", "US-AL"],
        "help": [sys.executable, "-m", "tracker", "--help"],
    }
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TRACKER_DATA_DIR": tmp}
        env.pop("TRACKER_DATABASE_URL", None)
        subprocess.run(commands["status"], env=env, check=True, stdout=subprocess.DEVNULL)
        times: dict[str, list[float]] = {k: [] for k in commands}
        for _ in range(args.runs):
            for key, cmd in commands.items():
                times[key].append(timed(cmd, env))
    med = {k: statistics.median(v) for k, v in times.items()}
    print(f"# CLI start-up against the import floor, {date.today()}, {args.runs} runs each")
    print(f"{'command':44} {'median':>9} {'min':>9} {'x floor':>8}")
    for label, key in (
        ("python -c pass", "python"),
        ("floor: import sqlmodel, sqlalchemy", "floor"),
        ("  the same, exit collection skipped", "floor_frozen"),
        ("tracker status US-AL", "status"),
        ("tracker --help", "help"),
    ):
        ratio = med[key] / med["floor"]
        print(f"{label:44} {med[key] * 1000:8.0f}ms {min(times[key]) * 1000:8.0f}ms {ratio:8.2f}")
    for key, target in (("status", 1.15), ("help", 0.5)):
        ratio = med[key] / med["floor"]
        verdict = "met" if ratio <= target else "NOT met"
        print(f"{key}/floor: {ratio:.2f} (target <= {target:.2f}: {verdict})")
    like = med["status"] / med["floor_frozen"]
    print(f"status/floor with the exit collection skipped in both: {like:.2f}")


if __name__ == "__main__":
    main()
