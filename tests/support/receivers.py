"""A real local webhook receiver: an HTTP server on 127.0.0.1 that answers from a script
and checks every signature with the `standardwebhooks` package.

    with WebhookReceiver() as rx:
        rx.script = [Reply(500), Reply(200)]   # then 200 for ever
        rx.secrets = [endpoint.secret]
        ...
        rx.delivered()                         # webhook-ids answered 2xx, in order

`rx.answer = fn` replaces the script: `fn(headers)` picks the reply of each request (for
example by how many times its webhook-id was seen).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from standardwebhooks.webhooks import Webhook, WebhookVerificationError


@dataclass
class Reply:
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a receiver that hangs)


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int
    verified_with: list[int]  # indexes of `secrets` whose verification passed
    payload: Any
    at: float = 0.0  # time.monotonic() when the request arrived


class WebhookReceiver:
    def __init__(self) -> None:
        self.script: list[Reply] = []
        self.secrets: list[str] = []
        self.requests: list[Received] = []
        self.answer: Callable[[dict[str, str]], Reply] | None = None
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                arrived = time.monotonic()
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver.lock:
                    if receiver.answer is not None:
                        reply = receiver.answer(headers)
                    else:
                        reply = receiver.script.pop(0) if receiver.script else Reply()
                verified, payload = [], None
                for n, secret in enumerate(receiver.secrets):
                    try:
                        payload = Webhook(secret).verify(body, headers)
                        verified.append(n)
                    except WebhookVerificationError:
                        pass
                if reply.delay:
                    time.sleep(reply.delay)
                with receiver.lock:
                    receiver.requests.append(
                        Received(headers, body, reply.status, verified, payload, arrived)
                    )
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    self.send_header("content-length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the client gave up (timeout test)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def delivered(self) -> list[str]:
        """webhook-id of every request answered 2xx, in arrival order."""
        return [r.headers["webhook-id"] for r in self.requests if 200 <= r.status < 300]

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
