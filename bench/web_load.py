"""The public web service under load: `GET /api/v1/places/US-AL` and `GET /` with 50
concurrent clients, beside the same server's trivial `GET /healthz` as the floor, on the
embedded default (SQLite); then twenty slow clients holding connections open while a
fresh client asks.

    apt-get install wrk                         # the load generator (Debian package)
    .venv/bin/python bench/web_load.py [--seconds 15] [--connections 50]

Targets: the API at least 30% of the floor's requests per second, p99 under 100 ms;
the fresh client answered while the slow ones hold their connections.

The server is `tracker serve` in its own process with the default settings; the load
comes from wrk (C, event-driven, two threads), so the client takes as little of the two
cores as it can, and asks for gzip as browsers do. Each endpoint gets a warm-up run
first (caches, connection pools).
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import date

FLOOR, API, PAGE = "/healthz", "/api/v1/places/US-AL", "/"
SLOW_CLIENTS = 20
GZIP = "Accept-Encoding: gzip, deflate"


def _ms(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wrk(url: str, seconds: int, connections: int, gzip: bool = True) -> dict[str, float]:
    # Accept-Encoding as browsers and HTTP libraries send it (or none: the whole page).
    header = GZIP if gzip else "Accept-Encoding: identity"
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-H", header, url],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    p50 = _ms(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    p99 = _ms(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))  # type: ignore[union-attr]
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(r"Socket errors: (.*)", out)
    return {
        "rps": rps,
        "p50": p50,
        "p99": p99,
        "non2xx": float(errors.group(1)) if errors else 0.0,
        "socket_errors": 1.0 if socket_errors else 0.0,
    }


def slow_clients_check(host: str, port: int) -> tuple[bool, float]:
    """Twenty clients send half a request and keep trickling headers; a fresh client then
    asks for the API answer. (answered, seconds it took)."""
    slow = []
    try:
        for _ in range(SLOW_CLIENTS):
            s = socket.create_connection((host, port), timeout=30)
            s.sendall(b"GET /api/v1/places/US-AL HTTP/1.1\r\nHost: bench\r\n")
            slow.append(s)
        for s in slow:
            s.sendall(b"X-Slow: 1\r\n")
        start = time.perf_counter()
        with urllib.request.urlopen(f"http://{host}:{port}{API}", timeout=30) as r:
            ok = r.status == 200 and b'"results"' in r.read()
        return ok, time.perf_counter() - start
    finally:
        for s in slow:
            s.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=15)
    parser.add_argument("--connections", type=int, default=50)
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk (Debian's package)")
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "TRACKER_DATA_DIR": tmp, "TRACKER_LOG_LEVEL": "WARNING"}
        env.pop("TRACKER_DATABASE_URL", None)
        # Prepares the database (migrations, places, the shipped records).
        subprocess.run(
            [sys.executable, "-m", "tracker", "status", "US-AL"],
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
        )
        server = subprocess.Popen(
            [sys.executable, "-m", "tracker", "serve", "--port", "0"],
            env=env,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            found = re.search(r"serving on (http://([\d.]+):(\d+))", line)
            if not found:
                sys.exit(f"tracker serve did not start: {line!r}")
            base, host, port = found.group(1), found.group(2), int(found.group(3))
            results = {}
            for path in (FLOOR, API, PAGE):
                wrk(base + path, 3, args.connections)  # warm-up
                results[path] = wrk(base + path, args.seconds, args.connections)
            results["plain"] = wrk(base + PAGE, args.seconds, args.connections, gzip=False)
            answered, took = slow_clients_check(host, port)
        finally:
            server.terminate()
            server.wait(60)
    floor = results[FLOOR]["rps"]
    print(
        f"# tracker serve (waitress, SQLite), {args.connections} concurrent clients (wrk), "
        f"{args.seconds} s per endpoint, {date.today()}"
    )
    print(f"{'endpoint':26} {'req/s':>9} {'of floor':>9} {'p50':>9} {'p99':>9} {'errors':>7}")
    for label, path in (
        ("GET /healthz (floor)", FLOOR),
        (f"GET {API}", API),
        ("GET / (status page)", PAGE),
        ("GET / without gzip", "plain"),
    ):
        r = results[path]
        errors = int(r["non2xx"] + r["socket_errors"])
        print(
            f"{label:26} {r['rps']:9.0f} {r['rps'] / floor:8.0%} "
            f"{r['p50']:7.1f}ms {r['p99']:7.1f}ms {errors:7d}"
        )
    api = results[API]
    share_ok = api["rps"] >= 0.3 * floor
    p99_ok = all(results[p]["p99"] < 100 for p in (API, PAGE))
    print(
        f"target API >= 30% of floor: {'met' if share_ok else 'NOT met'} ({api['rps'] / floor:.0%})"
    )
    print(f"target p99 < 100 ms (API and page, gzip): {'met' if p99_ok else 'NOT met'}")
    print(
        f"{SLOW_CLIENTS} slow clients holding connections: a fresh client "
        f"{'was answered' if answered else 'was NOT answered'} in {took * 1000:.0f} ms"
    )


if __name__ == "__main__":
    main()
