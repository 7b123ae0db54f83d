"""An SMTP server in its own process (aiosmtpd) that keeps the Message-ID of every message
it accepts, so delivery is counted by the receiver, not by the sender.

    with CountingSmtp() as smtp:
        ... send with the settings in smtp.env() ...
        ids = smtp.ids()          # stops the server; every accepted Message-ID, in order
"""

from __future__ import annotations

import multiprocessing as mp
import re
from typing import Any

from tests.support.mail import free_port

_MSGID = re.compile(rb"^Message-ID: (<[^>]+>)", re.M | re.I)


def _serve(port: int, ready: Any, stop: Any, out: Any) -> None:
    from aiosmtpd.controller import Controller

    seen: list[str] = []

    class Keep:
        async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
            m = _MSGID.search(envelope.content)
            seen.append(m.group(1).decode() if m else "?")
            return "250 OK"

    controller = Controller(Keep(), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()
    out.put(seen)


class CountingSmtp:
    def __init__(self) -> None:
        ctx = mp.get_context("spawn")
        self.port = free_port()
        self.ready, self.stop, self.out = ctx.Event(), ctx.Event(), ctx.Queue()
        self.proc = ctx.Process(target=_serve, args=(self.port, self.ready, self.stop, self.out))
        self._ids: list[str] | None = None

    def env(self) -> dict[str, str]:
        return {
            "TRACKER_SMTP_HOST": "127.0.0.1",
            "TRACKER_SMTP_PORT": str(self.port),
            "TRACKER_SMTP_TLS": "none",
        }

    def ids(self) -> list[str]:
        if self._ids is None:
            self.stop.set()
            self._ids = list(self.out.get(timeout=60))
            self.proc.join(30)
        return self._ids

    def __enter__(self) -> CountingSmtp:
        self.proc.start()
        if not self.ready.wait(30):
            raise RuntimeError("the SMTP server did not start")
        return self

    def __exit__(self, *exc: object) -> None:
        self.ids()
        if self.proc.is_alive():
            self.proc.kill()
