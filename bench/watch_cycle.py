"""Watch-cycle benchmark: 1,000 local pages of about 30 kB, three cycles, three watchers.

    .venv/bin/python bench/watch_cycle.py [--pages 1000] [--hosts 50] [--workers 10]

Cycles: first sight (every page new), nothing changed, 10% changed (the same 100 pages
for every watcher). Watchers, each at the same concurrency (10 workers, urlwatch's fixed
pool size):
- `bare`: a bare `requests.Session` fetch loop (one session per thread, plain GET of
  every page, body read, nothing else): the limit;
- `bare-cond`: the same loop with conditional GET (ETag), for reference;
- `tracker`: `tracker.watch.cycle.run_cycle`, the function behind `tracker check`, after the
  same process set-up (`tracker.service.runtime.tune_for_checks`): robots.txt, per-host
  politeness with `host_delay = 0`, extraction of `main`, normalization, SQLite storage,
  diffs and `page_changed` events;
- `urlwatch`: urlwatch 2.29 from the package index, in a scratch venv under
  `bench/work/` (created on first run), with the equivalent filter (`css: main`, then
  `html2text`) and its stdout report (sent to /dev/null).

The pages are served by one asyncio HTTP/1.1 server process (keep-alive, ETag and
Last-Modified, 304s) listening on `--hosts` loopback addresses (127.0.0.2, 127.0.0.3, ...),
because per-host politeness serializes each host. Each cycle of each watcher runs in a
fresh process; its time covers the cycle only (imports and opening storage excluded, for
every watcher alike), its memory is the peak RSS of that whole process (ru_maxrss).
Targets: tracker >= 2x urlwatch pages/s in every cycle, >= 80% of the bare rate, peak
RSS <= urlwatch's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
WORK = HERE / "work"
URLWATCH_VENV = WORK / "urlwatch-venv"
_TEXT = (
    "the department shall license any person who sells kratom products processor retailer "
    "label adulterated synthetic alkaloid mitragynine 7-hydroxymitragynine concentration "
    "section subsection provided that no person under twenty one years of age may purchase "
    "violation penalty fine misdemeanor registration annual fee commissioner rule consumer "
    "protection act dietary supplement serving milligram percent dry weight leaf powder"
)
WORDS = _TEXT.split()


# ---------------------------------------------------------------- pages


def page(i: int, version: int, size: int) -> bytes:
    """A statute-like page: navigation, scripts, a `main` region, a footer."""
    rng = random.Random(i)
    head = (
        f"<!DOCTYPE html><html lang=en><head><meta charset=utf-8><title>Section {i}</title>"
        "<script>var analytics = {id: 'UA-1234', t: Date.now()};</script>"
        "<style>body{font-family:serif} nav a{margin:0 4px}</style></head><body>"
        "<nav>" + "".join(f"<a href='/t/{k}'>Title {k}</a>" for k in range(40)) + "</nav>"
        f"<main id=content><h1>Section {i}. Kratom consumer protection</h1>"
    )
    parts = [head]
    n = 0
    while sum(map(len, parts)) < size - 400:
        words = " ".join(rng.choice(WORDS) for _ in range(rng.randint(30, 70)))
        if n == 3 and version:
            words = f"Amended (version {version}): minimum age is 18. " + words
        parts.append(f"<p class='para' data-n={n}>({n}) {words} <a href='#s{n}'>ref</a>.</p>\n")
        n += 1
    parts.append("</main><footer>Legislative Council. Last built 2026.</footer></body></html>")
    return "".join(parts).encode()


# ---------------------------------------------------------------- server


class Site:
    def __init__(self, pages: int, hosts: int, size: int) -> None:
        self.pages, self.hosts, self.size = pages, hosts, size
        self.version = [0] * pages
        self.cache: dict[tuple[int, int], bytes] = {}

    def host_of(self, i: int) -> str:
        return f"127.0.0.{2 + i % self.hosts}"

    def body(self, i: int) -> bytes:
        key = (i, self.version[i])
        if key not in self.cache:
            self.cache[key] = page(i, self.version[i], self.size)
        return self.cache[key]

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                line, *fields = head.decode("latin-1").split("\r\n")
                path = line.split(" ")[1]
                headers = {}
                for f in fields:
                    name, _, value = f.partition(":")
                    headers[name.strip().lower()] = value.strip()
                writer.write(self.reply(path, headers))
                await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.CancelledError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    def reply(self, path: str, headers: dict[str, str]) -> bytes:
        if not path.startswith("/p/"):
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        i = int(path[3:])
        etag = f'"{i}-{self.version[i]}"'
        modified = f"Sat, 0{1 + self.version[i] % 9} Nov 2026 00:00:00 GMT"
        common = f"ETag: {etag}\r\nLast-Modified: {modified}\r\n"
        if headers.get("if-none-match") == etag:
            return f"HTTP/1.1 304 Not Modified\r\n{common}Content-Length: 0\r\n\r\n".encode()
        body = self.body(i)
        return (
            f"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n{common}"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode() + body


def serve(args: argparse.Namespace) -> None:
    site = Site(args.pages, args.hosts, args.size)
    for i in range(args.pages):  # build every page before any watcher is timed
        site.body(i)

    async def control() -> None:
        loop = asyncio.get_running_loop()
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            if not line:
                return
            cmd, _, rest = line.strip().partition(" ")
            if cmd == "reset":
                site.version = [0] * site.pages
            elif cmd == "bump":
                for i in map(int, rest.split(",")):
                    site.version[i] += 1
                    site.body(i)
            print("ok", flush=True)

    async def main() -> None:
        for h in range(args.hosts):
            await asyncio.start_server(site.handle, f"127.0.0.{2 + h}", args.port, backlog=256)
        print("ready", flush=True)
        await control()

    asyncio.run(main())


# ---------------------------------------------------------------- drivers


def urls(args: argparse.Namespace) -> list[str]:
    return [f"http://127.0.0.{2 + i % args.hosts}:{args.port}/p/{i}" for i in range(args.pages)]


def drive_bare(args: argparse.Namespace, conditional: bool) -> dict[str, object]:
    import threading
    from concurrent.futures import ThreadPoolExecutor

    import requests

    state_file = Path(args.state) / "etags.json"
    etags: dict[str, str] = json.loads(state_file.read_text()) if state_file.exists() else {}
    local = threading.local()

    def get(url: str) -> int:
        s = getattr(local, "s", None)
        if s is None:
            s = local.s = requests.Session()
        headers = {"If-None-Match": etags[url]} if conditional and url in etags else {}
        r = s.get(url, headers=headers, timeout=30)
        _ = r.content
        if r.headers.get("ETag"):
            etags[url] = r.headers["ETag"]
        return r.status_code

    todo = urls(args)
    t0 = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        codes = list(pool.map(get, todo))
    seconds = time.perf_counter() - t0
    state_file.write_text(json.dumps(etags))
    return {"seconds": seconds, "pages": len(codes), "ok": sum(c in (200, 304) for c in codes)}


def tracker_env(args: argparse.Namespace) -> dict[str, str]:
    return {
        "TRACKER_DATA_DIR": str(Path(args.state) / "data"),
        "TRACKER_ALLOW_LOOPBACK": "1",
        "TRACKER_SHIPPED_SOURCES": "false",  # real sites: never contacted here
        "TRACKER_HOST_DELAY": "0",
        "TRACKER_CHECK_WORKERS": str(args.workers),
        "TRACKER_LOG_LEVEL": "WARNING",
    }


def drive_tracker(args: argparse.Namespace) -> dict[str, object]:
    os.environ.update(tracker_env(args))
    sys.path.insert(0, str(ROOT))
    from tracker.law.bootstrap import open_database
    from tracker.service.runtime import tune_for_checks
    from tracker.settings import load_settings
    from tracker.watch.cycle import run_cycle
    from tracker.watch.watcher import Watcher

    # What `tracker check` does before its cycle (tracker/cli/watch.py).
    settings = load_settings()
    db = open_database(settings)
    w = Watcher.from_settings(db, settings)
    tune_for_checks()
    t0 = time.perf_counter()
    # Only the bench pages: the shipped sources are on the internet, which is not here.
    root = Path(args.state) / "no-shipped-sources"
    root.mkdir(exist_ok=True)
    report = run_cycle(w, root, settings.data_path)
    seconds = time.perf_counter() - t0
    outcomes: dict[str, int] = {}
    for r in report.results:
        outcomes[r.outcome] = outcomes.get(r.outcome, 0) + 1
    return {"seconds": seconds, "pages": len(report.results), "outcomes": outcomes}


def prepare_tracker(args: argparse.Namespace) -> None:
    data = Path(args.state) / "data"
    data.mkdir(parents=True, exist_ok=True)
    lines = ["sources:"]
    for i, url in enumerate(urls(args)):
        lines += [
            f"  - key: bench-{i:04d}",
            "    place: US-TX",
            f"    url: {url}",
            "    kind: html",
            "    select: [main]",
        ]
    (data / "sources.yaml").write_text("\n".join(lines) + "\n")
    # Create the database (migrations, places, shipped records) before anything is timed:
    # a one-off of the first `tracker` command ever, not part of watching.
    os.environ.update(tracker_env(args))
    sys.path.insert(0, str(ROOT))
    from tracker.law.bootstrap import open_database
    from tracker.settings import load_settings

    open_database(load_settings()).dispose()


URLWATCH_DRIVER = r"""
import contextlib, json, os, sys, time
from urlwatch.config import CommandConfig
from urlwatch.main import Urlwatch
from urlwatch.storage import YamlConfigStorage, CacheMiniDBStorage, UrlsYaml
from urlwatch.command import UrlwatchCommand
state = sys.argv[1]
files = [os.path.join(state, n) for n in ("urlwatch.yaml", "urls.yaml", "hooks.py", "cache.db")]
config = CommandConfig([], "urlwatch", state, sys.prefix, *files, False)
t0 = time.perf_counter()
with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
    uw = Urlwatch(config, YamlConfigStorage(config.config), CacheMiniDBStorage(config.cache),
                  UrlsYaml(config.urls))
    UrlwatchCommand(uw).run()
seconds = time.perf_counter() - t0
print(json.dumps({"seconds": seconds, "pages": len(uw.jobs)}))
"""


def prepare_urlwatch(args: argparse.Namespace) -> None:
    state = Path(args.state)
    state.mkdir(parents=True, exist_ok=True)
    jobs = [
        {"name": f"p{i}", "url": url, "filter": [{"css": "main"}, "html2text"]}
        for i, url in enumerate(urls(args))
    ]
    (state / "urls.yaml").write_text("\n---\n".join(json.dumps(j) for j in jobs) + "\n")
    config = {"report": {"stdout": {"enabled": True, "color": False}}}
    (state / "urlwatch.yaml").write_text(json.dumps(config) + "\n")


def ensure_urlwatch() -> Path:
    python = URLWATCH_VENV / "bin" / "python"
    if not python.exists():
        print("installing urlwatch 2.29 into bench/work/urlwatch-venv ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(URLWATCH_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "urlwatch==2.29"], check=True)
    return python


# ---------------------------------------------------------------- orchestration


def run_child(cmd: list[str], env: dict[str, str] | None = None) -> tuple[dict[str, object], int]:
    """Run one cycle in a fresh process: (its JSON report, its peak RSS in kB)."""
    proc = subprocess.Popen(
        cmd, stdout=subprocess.PIPE, env={**os.environ, **(env or {})}, cwd=str(WORK)
    )
    assert proc.stdout is not None
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd[:4]} failed with {proc.returncode}")
    return json.loads(out.decode().strip().splitlines()[-1]), int(usage.ru_maxrss)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--pages", type=int, default=1000)
    p.add_argument("--hosts", type=int, default=50)
    p.add_argument("--workers", type=int, default=10)
    p.add_argument("--size", type=int, default=30_000)
    p.add_argument("--port", type=int, default=8731)
    p.add_argument("--only", default="bare,bare-cond,tracker,urlwatch")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--driver", help=argparse.SUPPRESS)
    p.add_argument("--state", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        return serve(args)
    if args.driver:
        if args.driver == "prepare-tracker":
            prepare_tracker(args)
            result: dict[str, object] = {}
        elif args.driver == "tracker":
            result = drive_tracker(args)
        else:
            result = drive_bare(args, conditional=args.driver == "bare-cond")
        print(json.dumps(result))
        return None
    orchestrate(args)
    return None


def orchestrate(args: argparse.Namespace) -> None:
    WORK.mkdir(exist_ok=True)
    tools = args.only.split(",")
    uw_python = ensure_urlwatch() if "urlwatch" in tools else None
    common = [
        f"--pages={args.pages}",
        f"--hosts={args.hosts}",
        f"--workers={args.workers}",
        f"--size={args.size}",
        f"--port={args.port}",
    ]
    me = [sys.executable, str(Path(__file__).resolve()), *common]
    server = subprocess.Popen(
        [*me, "--serve"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert server.stdin and server.stdout
    if server.stdout.readline().strip() != "ready":
        raise SystemExit("page server did not start")

    def tell(cmd: str) -> None:
        assert server.stdin and server.stdout
        server.stdin.write(cmd + "\n")
        server.stdin.flush()
        server.stdout.readline()

    changed = sorted(random.Random(7).sample(range(args.pages), args.pages // 10))
    cycles = ("first sight", "nothing changed", "10% changed")
    rows: list[tuple[str, str, float, int]] = []
    try:
        # Rounds interleave the watchers, so a slow spell of this shared machine does not
        # fall on one watcher only; the summary takes the median of the rounds.
        for n in range(1, args.rounds + 1):
            for tool in tools:
                rows += run_tool(args, tool, n, me, uw_python, tell, changed, cycles)
    finally:
        server.stdin.close()
        server.wait(10)
    summarize(rows, tools, cycles)


def run_tool(
    args: argparse.Namespace,
    tool: str,
    n: int,
    me: list[str],
    uw_python: Path | None,
    tell: Callable[[str], None],
    changed: list[int],
    cycles: tuple[str, ...],
) -> list[tuple[str, str, float, int]]:
    """The three cycles of one watcher from a clean state."""
    tell("reset")
    state = WORK / f"state-{tool}"
    subprocess.run(["rm", "-rf", str(state)], check=True)
    state.mkdir(parents=True)
    if tool == "tracker":
        run_child([*me, "--driver=prepare-tracker", f"--state={state}"])
    if tool == "urlwatch":
        prepare_urlwatch(argparse.Namespace(**{**vars(args), "state": str(state)}))
    rows = []
    for cycle in cycles:
        if cycle == "10% changed":
            tell("bump " + ",".join(map(str, changed)))
        if tool == "urlwatch":
            assert uw_python is not None
            report, rss = run_child([str(uw_python), "-c", URLWATCH_DRIVER, str(state)])
        else:
            env = tracker_env(argparse.Namespace(state=str(state), workers=args.workers))
            report, rss = run_child([*me, f"--driver={tool}", f"--state={state}"], env)
        seconds = float(report["seconds"])  # type: ignore[arg-type]
        rate = float(report["pages"]) / seconds  # type: ignore[arg-type]
        rows.append((tool, cycle, rate, rss))
        print(
            f"round {n}  {tool:10} {cycle:16} {report['pages']:>5} pages {seconds:6.2f} s "
            f"{rate:6.0f} pages/s  peak {rss / 1024:5.1f} MB  {report.get('outcomes', '')}",
            flush=True,
        )
    return rows


def summarize(
    rows: list[tuple[str, str, float, int]], tools: list[str], cycles: tuple[str, ...]
) -> None:
    rates: dict[tuple[str, str], list[float]] = {}
    peaks: dict[tuple[str, str], int] = {}
    for tool, cycle, rate, rss in rows:
        rates.setdefault((tool, cycle), []).append(rate)
        peaks[(tool, cycle)] = max(peaks.get((tool, cycle), 0), rss)
    med = {k: statistics.median(v) for k, v in rates.items()}
    print("\nMedian pages/s (peak RSS, MB, the highest of the rounds):")
    print(f"{'cycle':16} " + " ".join(f"{t:>18}" for t in tools))
    for cycle in cycles:
        cells = [f"{med[(t, cycle)]:8.0f} ({peaks[(t, cycle)] / 1024:5.1f} MB)" for t in tools]
        print(f"{cycle:16} " + " ".join(f"{c:>18}" for c in cells))
    if "tracker" not in tools:
        return
    print("\nTargets: >= 2.0x urlwatch's pages/s, >= 0.80x the bare loop's, peak RSS <= urlwatch's")
    for cycle in cycles:
        t_rate, t_rss = med[("tracker", cycle)], peaks[("tracker", cycle)]
        parts = [f"{cycle:16}"]
        if ("urlwatch", cycle) in med:
            ratio = t_rate / med[("urlwatch", cycle)]
            u_rss = peaks[("urlwatch", cycle)]
            parts.append(f"vs urlwatch {ratio:4.2f}x {'met' if ratio >= 2 else 'NOT met'}")
            parts.append(
                f"RSS {t_rss / 1024:.0f} vs {u_rss / 1024:.0f} MB "
                f"{'met' if t_rss <= u_rss else 'NOT met'}"
            )
        if ("bare", cycle) in med:
            ratio = t_rate / med[("bare", cycle)]
            parts.append(f"vs bare {ratio:4.2f}x {'met' if ratio >= 0.8 else 'NOT met'}")
        print("  " + " · ".join(parts))


if __name__ == "__main__":
    main()
