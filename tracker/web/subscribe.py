"""Self-service subscriptions: `/subscribe` and `/preferences`.

- `GET /subscribe[?place=P]` shows the form (address, places, substances, events,
  minimum importance, cadence, local hour, weekday, time zone); `POST` asks for a
  subscription. The answer is the same page whatever the address (no enumeration):
  a new, pending, unsubscribed or suppressed address gets a confirmation mail
  (double opt-in: nothing else is sent before the link in it is used; asking on the
  form is the new opt-in a suppressed address needs); an active one gets a mail with
  a link to its preferences, and nothing changes.
- Mail from the form is rate limited, in the database so every replica shares it:
  `web_mail_per_client` requests per client address per `web_rate_window` (more is a
  429), and `web_mail_per_address` mails per address (more are silently not sent: the
  page must not say whether the address was asked for before).
- `GET /preferences?token=T` (the signed link in every mail) shows the subscription;
  `POST` saves new filters and cadence, or unsubscribes (`do=unsubscribe`). A pending
  subscription can be cancelled there, and changed once confirmed.
- Every form carries a CSRF token (`security.Csrf`); a POST without a valid one changes
  nothing and is answered 403 with a fresh form.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from tracker.alerts import outbox, subscriptions, tokens
from tracker.law import places as places_mod
from tracker.settings import Settings
from tracker.storage.engine import Database
from tracker.storage.tables_alerts import SUBSCRIBER
from tracker.timeutil import utcnow
from tracker.vocab import IMPORTANCE, SUBSTANCES
from tracker.web import forms, ratelimit
from tracker.web.app import App, Request, Response
from tracker.web.config import WebConfig
from tracker.web.render import page
from tracker.web.security import CSRF_FIELD, Csrf

logger = logging.getLogger(__name__)

RETRY_FORM = "This form expired or did not come from this site; nothing was changed. Send it again."


class Subscriptions:
    def __init__(
        self,
        db: Database,
        settings: Settings,
        cfg: WebConfig,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self.db, self.settings, self.cfg, self.clock = db, settings, cfg, clock
        self._key: bytes | None = None
        self._csrf: Csrf | None = None

    @property
    def key(self) -> bytes:
        if self._key is None:
            self._key = tokens.signing_key(self.db, self.settings.signing_key)
        return self._key

    @property
    def csrf(self) -> Csrf:
        if self._csrf is None:
            # A key of its own, derived: a CSRF token can never pass for a link token.
            derived = hmac.new(self.key, b"tracker csrf", hashlib.sha256).digest()
            self._csrf = Csrf(derived, secure=self.cfg.secure)
        return self._csrf

    # ------------------------------------------------------------ rendering

    def _form(
        self,
        request: Request,
        template: str,
        choices: forms.Choices,
        status: int = 200,
        problems: list[str] | None = None,
        **more: Any,
    ) -> Response:
        response = Response()
        context = {
            "title": more.pop("title", "Get alerts"),
            "c": choices,
            "problems": problems or [],
            "substances": SUBSTANCES,
            "kinds": [(k, forms.KIND_LABELS.get(k, k)) for k in forms.PUBLIC_KINDS],
            "importances": IMPORTANCE,
            "cadences": subscriptions.CADENCES,
            "weekdays": subscriptions.WEEKDAYS,
            "zones": forms.zones(),
            "csrf_field": CSRF_FIELD,
            **more,
        }
        form_name = "preferences" if template.endswith("preferences.html") else "subscribe"
        context["csrf"] = self.csrf.token(request, response, form_name)
        rendered = page(template, status, **context)
        rendered.cookies = response.cookies
        rendered.headers["Cache-Control"] = "no-store"
        return rendered

    # ------------------------------------------------------------ /subscribe

    def subscribe_form(self, request: Request) -> Response:
        wanted = request.query.get("place", "").strip()[:300]
        label = wanted
        if wanted:
            with self.db.read() as conn:
                place = places_mod.get(conn, wanted)
            label = place.code if place is not None else wanted
        return self._form(request, "web/subscribe.html", forms.Choices(places=label))

    def subscribe(self, request: Request) -> Response:
        if not self.csrf.check(request, "subscribe"):
            logger.info("subscribe form refused: bad or missing CSRF token")
            return self._form(request, "web/subscribe.html", forms.Choices(), 403, [RETRY_FORM])
        with self.db.read() as conn:
            choices, problems = forms.read(request.form_all, conn, with_email=True)
        if problems:
            return self._form(request, "web/subscribe.html", choices, 400, problems)
        now, window = self.clock(), timedelta(seconds=self.cfg.rate_window)
        with self.db.write() as conn:
            client = ratelimit.hit(conn, ratelimit.client_bucket(request.client), window, now)
            if client > self.cfg.mail_per_client:
                limited = True
            else:
                limited = False
                count = ratelimit.hit(conn, ratelimit.address_bucket(choices.email), window, now)
                if count <= self.cfg.mail_per_address:
                    self._ask(conn, choices, now)
                else:
                    logger.info("subscribe form: mail to one address over its limit, not sent")
        if limited:
            logger.warning("subscribe form: client %s over its limit", request.client)
            response = page(
                "web/message.html",
                429,
                title="Too many requests",
                lines=[
                    "Too many subscription requests came from your network.",
                    f"Try again in {int(self.cfg.rate_window // 60)} minutes.",
                ],
            )
            response.headers["Retry-After"] = str(int(self.cfg.rate_window))
            return response
        return page(
            "web/message.html",
            title="Check your mail",
            lines=[
                f"If {choices.email} can receive our alerts, a message is on its way to it.",
                "Follow the link in it to confirm: nothing else is sent before that.",
                "No mail? Look in the spam folder. We send at most "
                f"{self.cfg.mail_per_address} such messages to one address per "
                f"{int(self.cfg.rate_window // 60)} minutes.",
            ],
        )

    def _ask(self, conn: Any, c: forms.Choices, now: datetime) -> None:
        """Queue the mail the address gets (in the rate-limit's transaction)."""
        row = subscriptions.find(conn, c.email)
        if row is not None and row.status == "active":
            outbox.enqueue(
                conn,
                f"manage:{row.id}:{now:%Y%m%dT%H%M%S%f}",
                channel="email",
                purpose="manage",
                recipient=row.email,
                subscriber_id=row.id,
                now=now,
            )
            return
        # The person asked on the form: the confirmation mail is the new opt-in, and
        # nothing else is sent until it is confirmed.
        subscriptions.subscribe(conn, c.email, **c.filters(), resubscribe=True, now=now)

    # ------------------------------------------------------------ /preferences

    def _subscriber(self, request: Request) -> Any:
        """The subscriber the token names, or a 400 page."""
        token = request.query.get("token", "")
        try:
            claim = tokens.peek(token)
            with self.db.read() as conn:
                row = conn.execute(
                    SUBSCRIBER.select().where(SUBSCRIBER.c.id == claim.subscriber_id)
                ).first()
            if row is None:
                raise tokens.BadToken("this link is not valid", "Use the link as it was sent.")
            tokens.verify(self.key, token, "preferences", row.email, self.clock())
        except tokens.BadToken as exc:
            return page(
                "web/message.html",
                400,
                title="Link not valid",
                lines=[str(exc).capitalize() + ".", exc.hint],
            )
        return row

    def _preferences_page(
        self, request: Request, row: Any, status: int = 200, **more: Any
    ) -> Response:
        if row.status in ("unsubscribed", "suppressed"):
            return page(
                "web/message.html",
                title="Unsubscribed",
                lines=[f"{row.email} receives no alerts.", "To get them again, subscribe anew."],
                links=[{"label": "Subscribe", "url": "/subscribe"}],
            )
        choices = more.pop("choices", None) or forms.Choices.of(row)
        return self._form(
            request,
            "web/preferences.html",
            choices,
            status,
            title="Your alerts",
            sub=row,
            action="/preferences?token=" + quote(request.query.get("token", "")),
            **more,
        )

    def preferences_form(self, request: Request) -> Response:
        row = self._subscriber(request)
        if isinstance(row, Response):
            return row
        return self._preferences_page(request, row)

    def preferences(self, request: Request) -> Response:
        row = self._subscriber(request)
        if isinstance(row, Response):
            return row
        if not self.csrf.check(request, "preferences"):
            return self._preferences_page(request, row, 403, problems=[RETRY_FORM])
        if request.form.get("do") == "unsubscribe":
            with self.db.write() as conn:
                subscriptions.unsubscribe(conn, row.email, detail="preferences", now=self.clock())
            logger.info("subscriber %s unsubscribed on the preferences page", row.id)
            return page(
                "web/message.html",
                title="Unsubscribed",
                lines=[f"{row.email} receives no more alerts."],
            )
        if row.status != "active":
            return self._preferences_page(
                request,
                row,
                400,
                problems=["Confirm the subscription first (the link in the confirmation mail)."],
            )
        with self.db.read() as conn:
            choices, problems = forms.read(request.form_all, conn, with_email=False)
        if problems:
            return self._preferences_page(request, row, 400, problems=problems, choices=choices)
        with self.db.write() as conn:
            choices.email = row.email
            self._save(conn, row, choices)
            fresh = subscriptions.find(conn, row.email)
        return self._preferences_page(request, fresh, saved=True)

    def _save(self, conn: Any, row: Any, c: forms.Choices) -> None:
        subscriptions.subscribe(conn, row.email, **c.filters(), name=row.name, now=self.clock())


def mount(
    app: App,
    db: Database,
    settings: Settings,
    cfg: WebConfig,
    clock: Callable[[], datetime] = utcnow,
) -> Subscriptions:
    s = Subscriptions(db, settings, cfg, clock)
    app.add("/subscribe", s.subscribe_form)
    app.add("/subscribe", s.subscribe, methods=("POST",))
    app.add("/preferences", s.preferences_form)
    app.add("/preferences", s.preferences, methods=("POST",))
    return s
