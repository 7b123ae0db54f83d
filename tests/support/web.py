"""The public web app on a real local server, for tests.

with PublicSite(db, settings) as site:      # waitress on 127.0.0.1, a free port
    site.get("/places/US-AL")               # (status, body, headers)
    site.session                            # a requests.Session (keeps cookies)
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import requests

from tracker.settings import Settings
from tracker.storage.engine import Database
from tracker.timeutil import utcnow
from tracker.web.public import make_public_app
from tracker.web.server import Limits, Server


class PublicSite:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        clock: Callable[[], datetime] = utcnow,
        limits: Limits | None = None,
        cache_ttl: float = 0.0,
    ) -> None:
        self.db = db
        # Tests look for changes at once by default (the service waits up to a second).
        settings = settings.replace(web_cache_ttl=cache_ttl)
        self.app = make_public_app(db, settings, clock=clock)
        self.server = Server(self.app, "127.0.0.1", 0, limits or Limits(threads=4))
        self.url = self.server.url
        self.session = requests.Session()

    def __enter__(self) -> PublicSite:
        self.server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.session.close()
        self.server.stop(0)

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.url + path, timeout=30, allow_redirects=False, **kw)

    def post(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> requests.Response:
        return self.session.post(
            self.url + path, data=data, timeout=30, allow_redirects=False, **kw
        )
