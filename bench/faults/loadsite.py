"""The official pages of the load figures: one asyncio HTTP/1.1 process serving N pages on
H loopback hosts (127.0.0.2, 127.0.0.3, ..., 127.0.1.245 for 500), with ETag and 304s,
that also watches the politeness of its client, per host:

- `inflight`: the most requests one host had open at once (the rule: 1);
- `gap`: the shortest time between a response to a host and the next request to it (the
  rule: at least `host_delay`), measured on this side, so it cannot flatter the client.

Run as a child: `python -m bench.faults.loadsite PAGES HOSTS PORT`; it prints `ready`,
then obeys lines on stdin: `bump 1,2,3` (new versions of pages), `stats` (prints one
JSON line: requests, most in flight on a host, shortest gap, hosts seen), `reset`
(forgets the stats).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time

STATES = [
    "AL",
    "AK",
    "AZ",
    "AR",
    "CA",
    "CO",
    "CT",
    "DE",
    "FL",
    "GA",
    "HI",
    "ID",
    "IL",
    "IN",
    "IA",
    "KS",
    "KY",
    "LA",
    "ME",
    "MD",
    "MA",
    "MI",
    "MN",
    "MS",
    "MO",
    "MT",
    "NE",
    "NV",
    "NH",
    "NJ",
    "NM",
    "NY",
    "NC",
    "ND",
    "OH",
    "OK",
    "OR",
    "PA",
    "RI",
    "SC",
    "SD",
    "TN",
    "TX",
    "UT",
    "VT",
    "VA",
    "WA",
    "WV",
    "WI",
    "WY",
]


def host(h: int) -> str:
    """The address of host number h (0-based): 127.0.0.2 ... 127.0.1.x."""
    n = 2 + h
    return f"127.0.{n // 256}.{n % 256}"


def url(i: int, hosts: int, port: int) -> str:
    return f"http://{host(i % hosts)}:{port}/p/{i}"


def place(i: int) -> str:
    """The place of page i: the US states in turn."""
    return "US-" + STATES[i % len(STATES)]


def body(i: int, version: int) -> bytes:
    filler = " ".join(f"section {i}.{n} of the consumer protection code" for n in range(120))
    return (
        f"<html><head><title>Page {i}</title></head><body><nav>home</nav><main>"
        f"<h1>{place(i)} code, page {i}</h1><p>{filler}</p>"
        f"<p>Amendment {version}: kratom products must carry a label.</p>"
        "</main><footer>generated</footer></body></html>"
    ).encode()


class Site:
    def __init__(self, pages: int) -> None:
        self.version = [0] * pages
        self.reset()

    def reset(self) -> None:
        self.requests = 0
        self.inflight: dict[str, int] = {}
        self.most = 0
        self.done_at: dict[str, float] = {}
        self.gap = float("inf")

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        me = writer.get_extra_info("sockname")[0]
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                arrived = time.monotonic()
                self.requests += 1
                self.inflight[me] = self.inflight.get(me, 0) + 1
                self.most = max(self.most, self.inflight[me])
                if me in self.done_at:
                    self.gap = min(self.gap, arrived - self.done_at[me])
                line, *fields = head.decode("latin-1").split("\r\n")
                headers = {}
                for f in fields:
                    name, _, value = f.partition(":")
                    headers[name.strip().lower()] = value.strip()
                writer.write(self.reply(line.split(" ")[1], headers))
                await writer.drain()
                self.inflight[me] -= 1
                self.done_at[me] = time.monotonic()
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    def reply(self, path: str, headers: dict[str, str]) -> bytes:
        if not path.startswith("/p/"):
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        i = int(path[3:])
        etag = f'"{i}-{self.version[i]}"'
        if headers.get("if-none-match") == etag:
            return (
                f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n".encode()
            )
        data = body(i, self.version[i])
        return (
            "HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n"
            f"ETag: {etag}\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode() + data


async def _main(pages: int, hosts: int, port: int) -> None:
    site = Site(pages)
    for h in range(hosts):
        await asyncio.start_server(site.handle, host(h), port, backlog=512)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    while line := await loop.run_in_executor(None, sys.stdin.readline):
        cmd, _, rest = line.strip().partition(" ")
        if cmd == "bump":
            for i in map(int, rest.split(",")):
                site.version[i] += 1
            print("ok", flush=True)
        elif cmd == "stats":
            gap = None if site.gap == float("inf") else round(site.gap, 4)
            stats = {"requests": site.requests, "inflight": site.most, "gap": gap}
            print(json.dumps(stats | {"hosts": len(site.done_at)}), flush=True)
        elif cmd == "reset":
            site.reset()
            print("ok", flush=True)


if __name__ == "__main__":
    asyncio.run(_main(*(int(a) for a in sys.argv[1:4])))
