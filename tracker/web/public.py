"""The public web service, assembled: what `tracker run` and `tracker serve` serve.

    app = make_public_app(db, settings)     # a web.App (WSGI)

Routes: the pages (`pages`: `/`, `/places/...`, `/zip/...`, `/search`, `/static/...`,
`/healthz`), the JSON API (`api`: `/api/v1/...`), the Atom feeds (`feeds`), the
subscription forms (`subscribe`: `/subscribe`, `/preferences`), the links in mail
(`links`: `/confirm`, `/unsubscribe`) and stored page versions (`/snapshots/<sha>`,
linked from large diffs). Every answer carries the security headers (`security`);
API answers are readable cross-origin. Nothing here needs the daemon: `tracker serve`
runs it alone against the same database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime

from tracker.settings import Settings
from tracker.storage.engine import Database
from tracker.timeutil import utcnow
from tracker.web import api, feeds, links, pages, security, snapshots, subscribe
from tracker.web.app import App
from tracker.web.cache import Cache
from tracker.web.config import WebConfig

logger = logging.getLogger(__name__)


def make_public_app(
    db: Database,
    settings: Settings,
    *,
    cfg: WebConfig | None = None,
    clock: Callable[[], datetime] = utcnow,
) -> App:
    """Every public route on one app. Raises ConfigError for bad web settings."""
    cfg = cfg or WebConfig.from_settings(settings)
    app = App(security.headers(cfg.public_url))
    app.max_body = cfg.limits.max_body
    app.finishers.append(security.cors)
    responses = Cache(db, ttl=cfg.cache_ttl)
    pages.mount(app, db, responses)
    api.mount(app, db, responses)
    feeds.mount(app, db, responses, cfg.public_url)
    subscribe.mount(app, db, settings, cfg, clock)
    links.mount(app, db, settings, clock)
    app.add_prefix("/snapshots/", snapshots.handler(lambda: db))
    # The ZIP data takes a third of a second to load: before the first visitor needs it.
    threading.Thread(target=_warm_zip_data, name="zip-data", daemon=True).start()
    return app


def _warm_zip_data() -> None:
    try:
        import zipcodes

        zipcodes.matching("38801")
    except Exception:  # only a head start: a failure shows on first use instead
        logger.debug("ZIP data not preloaded", exc_info=True)
