"""The confirm and unsubscribe links of mail, as routes on a `web.App`.

- `GET /confirm?token=...` shows a page with a button; `POST` confirms (link scanners
  that fetch every URL must not subscribe people).
- `GET /unsubscribe?token=...` shows a page with a button; `POST` unsubscribes at once,
  whatever the body: this is the RFC 8058 one-click POST (`List-Unsubscribe=One-Click`)
  that mail clients send, and also what the page's button sends. Unsubscribing twice
  is fine.
- A tampered, expired or unknown token is answered 400 with what to do; nothing changes.
  So is a confirmation link sent before the address was last unsubscribed: replayed
  after a new subscription, it must not confirm it (only the newest link does).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa

from tracker.alerts import subscriptions, tokens
from tracker.settings import Settings
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import SUBSCRIBER
from tracker.timeutil import utcnow
from tracker.web.app import App, Request, Response
from tracker.web.render import page as render_page

logger = logging.getLogger(__name__)


def page(
    title: str, lines: list[str], status: int = 200, action: str = "", button: str = ""
) -> Response:
    """A small HTML page; with `action`, a form that POSTs to it with one button."""
    response = render_page(
        "web/page.html", status, title=title, lines=lines, action=action, button=button
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def mount(
    app: App, db: Database, settings: Settings, clock: Callable[[], datetime] = utcnow
) -> None:
    """Add the /confirm and /unsubscribe routes to `app`."""
    key: list[bytes] = []

    def check(request: Request, action: str) -> Any:
        """The subscriber row the request's token names, or a 400 Response."""
        if not key:
            key.append(tokens.signing_key(db, settings.signing_key))
        token = request.query.get("token", "")
        try:
            claim = tokens.peek(token)
            with db.read() as conn:
                sub = conn.execute(
                    sa.select(SUBSCRIBER).where(SUBSCRIBER.c.id == claim.subscriber_id)
                ).first()
            if sub is None:
                raise tokens.invalid()  # the same answer as a forged link
            tokens.verify(key[0], token, action, sub.email, clock())
        except tokens.BadToken as exc:
            return page("Link not valid", [str(exc).capitalize() + ".", exc.hint], 400)
        return sub

    def action_url(request: Request) -> str:
        return f"{request.path}?token={quote(request.query.get('token', ''))}"

    def issued(request: Request) -> datetime:
        return tokens.peek(request.query.get("token", "")).expires - tokens.CONFIRM_TTL

    def stale(sub: Any) -> Response:
        return page(
            "Link no longer valid",
            [
                f"This confirmation link was sent before {sub.email} was unsubscribed.",
                "Use the link in the newest confirmation mail.",
            ],
            400,
        )

    @app.route("/confirm", methods=("GET",))
    def confirm_page(request: Request) -> Response:
        sub = check(request, "confirm")
        if isinstance(sub, Response):
            return sub
        if sub.status == "pending" and subscriptions.stale_link(sub, issued(request)):
            return stale(sub)
        if sub.status == "active":
            return page("Already confirmed", [f"Alerts for {sub.email} are on."])
        return page(
            "Confirm your subscription",
            [f"Send kratom legal-status alerts to {sub.email}?"],
            action=action_url(request),
            button="Confirm",
        )

    @app.route("/confirm", methods=("POST",))
    def confirm(request: Request) -> Response:
        sub = check(request, "confirm")
        if isinstance(sub, Response):
            return sub
        with db.write() as conn:
            done = subscriptions.activate(conn, sub.id, clock(), issued_at=issued(request))
        if not done and sub.status == "pending" and subscriptions.stale_link(sub, issued(request)):
            return stale(sub)
        if done or sub.status == "active":
            logger.info("subscriber %s confirmed", sub.id)
            return page("Subscription confirmed", [f"Alerts for {sub.email} are on."])
        return page(
            "Not confirmed",
            [f"{sub.email} is {sub.status}; subscribe again to receive alerts."],
            400,
        )

    @app.route("/unsubscribe", methods=("GET",))
    def unsubscribe_page(request: Request) -> Response:
        sub = check(request, "unsubscribe")
        if isinstance(sub, Response):
            return sub
        if sub.status in ("unsubscribed", "suppressed"):
            return page("Unsubscribed", [f"{sub.email} receives no more alerts."])
        return page(
            "Unsubscribe",
            [f"Stop all kratom legal-status alerts to {sub.email}?"],
            action=action_url(request),
            button="Unsubscribe",
        )

    @app.route("/unsubscribe", methods=("POST",))
    def unsubscribe(request: Request) -> Response:
        sub = check(request, "unsubscribe")
        if isinstance(sub, Response):
            return sub
        with db.write() as conn:
            subscriptions.unsubscribe(conn, sub.email, detail="link", now=clock())
        logger.info("subscriber %s unsubscribed by link", sub.id)
        return page("Unsubscribed", [f"{sub.email} receives no more alerts."])


def make_app(db: Database, settings: Settings) -> App:
    """An app with the link routes, ready for more (the daemon adds its own)."""
    app = App()
    mount(app, db, settings)
    return app
