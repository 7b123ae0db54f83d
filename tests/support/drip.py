"""A real slow-drip server on 127.0.0.1 (tests and fault drills): it reads a request, sends
`fast` at once, then `slow` a few bytes at a time, for as long as the client stays.

    with DripServer(b"HTTP/1.1 200 OK\\r\\n", b"X-Slow: " + b"a" * 10_000, every=1) as srv:
        srv.url("/hook")         # http://127.0.0.1:PORT/hook
        srv.requests             # request heads received, in order
        srv.cut                  # connections the client closed before the end

Headers dripped a byte at a time never trip a per-read socket timeout; only a
wall-clock deadline on the whole exchange ends them.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time


def body_drip(chunk: bytes = b"<p>vote</p>\n") -> tuple[bytes, bytes]:
    """`fast`/`slow` for a page whose headers come at once and whose body drips."""
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nConnection: close\r\n\r\n"
    return head + b"<html><body>", chunk * 100_000


def header_drip() -> tuple[bytes, bytes]:
    """`fast`/`slow` for an answer whose headers never end."""
    return b"HTTP/1.1 200 OK\r\n", b"X-Slow: " + b"a" * 1_000_000


class DripServer:
    def __init__(self, fast: bytes, slow: bytes, *, every: float = 1.0, step: int = 8) -> None:
        self.fast, self.slow, self.every, self.step = fast, slow, every, step
        self.requests: list[bytes] = []
        self.cut = 0
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.base = f"http://127.0.0.1:{self.sock.getsockname()[1]}"
        self.thread = threading.Thread(target=self._accept, daemon=True)

    def url(self, path: str = "/") -> str:
        return self.base + path

    def _accept(self) -> None:
        while not self.stopping.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            head = b""
            with contextlib.suppress(OSError):
                while b"\r\n\r\n" not in head and len(head) < 65536:
                    data = conn.recv(65536)
                    if not data:
                        break
                    head += data
            with self.lock:
                self.requests.append(head)
            try:
                conn.sendall(self.fast)
                for n in range(0, len(self.slow), self.step):
                    if self.stopping.wait(self.every):
                        return
                    conn.sendall(self.slow[n : n + self.step])
            except OSError:
                with self.lock:
                    self.cut += 1

    def __enter__(self) -> DripServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.sock.close()
        time.sleep(0)  # let the connection threads see the flag
