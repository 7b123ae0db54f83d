"""Building what the outbox delivers: mail (Jinja2 templates, text and HTML alternatives)
and webhook bodies, from the rows they refer to, at delivery time.

Building is where the suppression list is checked: a message to a suppressed address,
an unsubscribed subscriber or a disabled endpoint is not built (`Skip`). A header value
with CR or LF is refused (`HeaderInjection`), never cleaned up silently.

Mail headers: `Message-ID` from the outbox key (the same on every retry), `List-Id`,
`Auto-Submitted: auto-generated`, and on alerts and digests `List-Unsubscribe` (a signed
link) with `List-Unsubscribe-Post: List-Unsubscribe=One-Click` (RFC 8058). From, To and
Subject, which carry people's text (a display name, a page title), are folded to the RFC
5322 line length by the email package's modern policy, with encoded words where the
text is not ASCII; the other headers are never folded (a folded List-Unsubscribe would
start with a space once unfolded).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email import message_from_bytes
from email.charset import QP, Charset
from email.header import Header
from email.message import Message
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import Compat32, compat32
from email.policy import default as modern
from email.utils import format_datetime, formataddr
from functools import cache
from typing import Any

import jinja2
import sqlalchemy as sa
from markupsafe import Markup
from sqlalchemy.engine import Connection, Row

from tracker.alerts import tokens
from tracker.alerts.subscriptions import suppressed
from tracker.alerts.views import digest_sections, event_view
from tracker.errors import UsageError
from tracker.paths import templates_dir
from tracker.safetext import visible
from tracker.storage.tables_alerts import SUBSCRIBER, SUPPRESSION, WEBHOOK
from tracker.storage.tables_core import EVENT
from tracker.storage.tables_review import REVIEW_ITEM
from tracker.timeutil import utcnow

SENDER_NAME = "Kratom tracker"
# A digest shows this many changes in full, and the rest one line each (label, title,
# first link): every change is named, and a digest of thousands stays a few hundred kB.
DIGEST_FULL = 100
_FOLDED = ("From", "To", "Subject")
_MODERN = modern.clone(linesep="\n")  # folds at 78 characters, RFC 2047 where needed


class _Policy(Compat32):
    """compat32 (about six times faster to build with than the modern policy) without
    folding, except for From, To and Subject, which the modern policy folds."""

    def fold_binary(self, name: str, value: Any) -> bytes:
        if name in _FOLDED and isinstance(value, str):
            if value.isascii() and len(name) + 2 + len(value) <= 78:
                return f"{name}: {value}{self.linesep}".encode("ascii")
            if name == "Subject" and value.isascii():
                # Folded at spaces with text on the first line: the modern policy moves a
                # value that fits a line of its own wholly to the next one, and readers
                # then show the subject with a leading space (in an address list that
                # space means nothing).
                folded = Header(value, header_name=name, maxlinelen=78).encode(self.linesep)
                return f"{name}: {folded}{self.linesep}".encode("ascii")
            # Parsed and folded by the modern policy, encoded words where not ASCII
            # (its fold_binary would pass a short non-ASCII value through as it is).
            return _MODERN.header_factory(name, value).fold(policy=_MODERN).encode("ascii")
        return super().fold_binary(name, value)


_UNFOLDED = _Policy(max_line_length=0)
_UTF8_QP = Charset("utf-8")
_UTF8_QP.body_encoding = QP  # readable bodies in .eml files and logs, unlike base64
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")


class HeaderInjection(UsageError):
    """A header value would contain CR or LF."""


@dataclass
class Skip:
    """Nothing to deliver, and nothing will be: the reason is kept on the row."""

    reason: str


@dataclass(frozen=True)
class Mail:
    """A built message, kept only as its bytes: a batch of digests of a thousand changes
    each held 400 MB as MIME objects, about 20 MB as bytes. `message` parses it back."""

    recipient: str
    message_id: str
    data: bytes

    def as_bytes(self) -> bytes:
        return self.data

    @property
    def message(self) -> Message:
        return message_from_bytes(self.data, policy=compat32)

    def part(self, subtype: str) -> str:
        """The decoded text of the text/plain or text/html alternative."""
        for part in self.message.walk():
            if part.get_content_type() == f"text/{subtype}":
                payload = part.get_payload(decode=True)
                assert isinstance(payload, bytes)
                return payload.decode(part.get_content_charset() or "utf-8")
        raise LookupError(subtype)


@dataclass
class Hook:
    url: str
    msg_id: str
    body: bytes
    secrets: list[str]


@dataclass
class Context:
    """What building needs besides the database: settings, the link key, and caches.

    `preload` reads the subscribers and suppressions of a whole batch in two queries;
    events never change, so their cache may be shared by several batches."""

    mail_from: str
    public_url: str
    link_key: bytes
    now: datetime = field(default_factory=utcnow)
    events: dict[int, Row[Any]] = field(default_factory=dict)
    views: dict[int, dict[str, Any]] = field(default_factory=dict)
    _subscribers: dict[int, Row[Any] | None] = field(default_factory=dict)
    _suppressed: dict[str, Row[Any] | None] = field(default_factory=dict)

    @property
    def domain(self) -> str:
        return self.mail_from.rsplit("@", 1)[-1]

    def preload(self, conn: Connection, rows: list[Any]) -> None:
        ids = {r.subscriber_id for r in rows if r.subscriber_id is not None}
        found = conn.execute(sa.select(SUBSCRIBER).where(SUBSCRIBER.c.id.in_(ids)))
        self._subscribers = dict.fromkeys(ids)
        self._subscribers.update({r.id: r for r in found})
        emails = {r.recipient for r in rows if r.channel == "email"}
        blocked = conn.execute(sa.select(SUPPRESSION).where(SUPPRESSION.c.email.in_(emails)))
        self._suppressed = dict.fromkeys(emails)
        self._suppressed.update({r.email: r for r in blocked})

    def subscriber(self, conn: Connection, subscriber_id: int) -> Row[Any] | None:
        if subscriber_id not in self._subscribers:
            self._subscribers[subscriber_id] = conn.execute(
                sa.select(SUBSCRIBER).where(SUBSCRIBER.c.id == subscriber_id)
            ).first()
        return self._subscribers[subscriber_id]

    def suppression(self, conn: Connection, email: str) -> Row[Any] | None:
        if email not in self._suppressed:
            self._suppressed[email] = suppressed(conn, email)
        return self._suppressed[email]

    def event(self, conn: Connection, event_id: int) -> Row[Any]:
        if event_id not in self.events:
            self.events[event_id] = conn.execute(
                sa.select(EVENT).where(EVENT.c.id == event_id)
            ).one()
        return self.events[event_id]

    def open_reviews(self, conn: Connection, ids: set[int]) -> set[int]:
        """Which of the review items `ids` are still open (read when a digest is built,
        so a review closed since the page changed is not shown as waiting)."""
        if not ids:
            return set()
        q = sa.select(REVIEW_ITEM.c.id).where(
            REVIEW_ITEM.c.id.in_(sorted(ids)), REVIEW_ITEM.c.state == "open"
        )
        return set(conn.execute(q).scalars())

    def view(self, conn: Connection, event_id: int) -> dict[str, Any]:
        """The reader's view of an event, with its text and HTML blocks (`text`,
        `html`) rendered once: a digest names the same events for thousands of people,
        and rendering each block per person was most of the time spent building them."""
        view = self.views.get(event_id)
        if view is None:
            view = event_view(self.event(conn, event_id))
            env = environment()
            view["text"] = env.get_template("email/_event.txt").render(event=view)
            # Autoescaped output of the template: safe to insert as it is.
            view["html"] = Markup(env.get_template("email/_event.html").render(event=view))
            self.views[event_id] = view
        return view


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=jinja2.select_autoescape(enabled_extensions=("html",)),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _header(value: str, what: str) -> str:
    # Not only CR and LF: the email package also breaks header lines at VT, FF, FS, GS,
    # RS, NEL and U+2028/9 (str.splitlines), and then refuses the whole message.
    if "\r" in value or "\n" in value or len(value.splitlines()) > 1 or _CONTROL.search(value):
        raise HeaderInjection(
            f"{what} contains CR, LF or another line break (header injection refused)"
        )
    return value


def message_id(key: str, domain: str) -> str:
    return "<" + re.sub(r"[^A-Za-z0-9.\-_]", ".", key) + "@" + domain + ">"


def build(conn: Connection, out: Row[Any], ctx: Context) -> Mail | Hook | Skip:
    """The message for one outbox row. Raises HeaderInjection (the row is dead)."""
    if out.channel == "webhook":
        return _hook(conn, out, ctx)
    blocked = ctx.suppression(conn, out.recipient)
    if blocked is not None:
        return Skip(f"suppressed ({blocked.reason})")
    if out.purpose == "notice":
        payload = out.payload
        return _mail(out, ctx, "notice", payload["subject"], {"lines": payload["lines"]}, None)
    sub = ctx.subscriber(conn, out.subscriber_id)
    if sub is None:
        return Skip("subscriber removed")
    preferences = _link(ctx, "preferences", sub, tokens.PREFERENCES_TTL)
    if out.purpose == "confirm":
        if sub.status != "pending":
            return Skip(f"subscriber is {sub.status}: no confirmation needed")
        link = _link(ctx, "confirm", sub, tokens.CONFIRM_TTL)
        data = {
            "subscriber": sub,
            "link": link,
            "days": tokens.CONFIRM_TTL.days,
            "preferences": preferences,
        }
        return _mail(out, ctx, "confirm", "Confirm your kratom status alerts", data, sub)
    if sub.status != "active":
        return Skip(f"subscriber is {sub.status}")
    unsubscribe = _link(ctx, "unsubscribe", sub, tokens.UNSUBSCRIBE_TTL)
    if out.purpose == "manage":
        # Someone asked, on the subscribe form, to subscribe an address already active:
        # the owner gets a link to their preferences, and nothing changes by itself.
        data = {"subscriber": sub, "preferences": preferences, "unsubscribe": unsubscribe}
        return _mail(out, ctx, "manage", "Your kratom status alerts", data, sub, unsubscribe)
    if out.purpose == "alert":
        view = ctx.view(conn, out.event_id)
        data = {
            "event": view,
            "unsubscribe": unsubscribe,
            "subscriber": sub,
            "preferences": preferences,
        }
        return _mail(out, ctx, "alert", view["headline"], data, sub, unsubscribe)
    views = [ctx.view(conn, i) for i in out.payload["event_ids"]]
    reviews = {v["review_id"] for v in views if v.get("review_id")}
    sections = digest_sections(views, ctx.open_reviews(conn, reviews))
    shown = 0
    for g in (g for sec in sections for g in sec["groups"]):
        # In full while fewer than DIGEST_FULL are shown; the rest one line each.
        k = max(0, min(len(g["events"]), DIGEST_FULL - shown))
        g["full"], g["brief"] = g["events"][:k], g["events"][k:]
        shown += len(g["events"])
    label = "Weekly" if sub.cadence == "weekly" else "Daily"
    places = {g["place"] for sec in sections for g in sec["groups"]}
    waiting = sum(sec["count"] for sec in sections if sec["key"] == "review")
    subject = f"{label} kratom status digest: {len(views)} change(s) in {len(places)} place(s)"
    if waiting:
        subject += f", {waiting} under review"
    data = {
        "sections": sections,
        "count": len(views),
        "full": DIGEST_FULL,
        "period_start": out.payload.get("period_start"),
        "period_end": out.payload.get("period_end"),
        "unsubscribe": unsubscribe,
        "preferences": preferences,
        "subscriber": sub,
        "cadence": label.lower(),
    }
    return _mail(out, ctx, "digest", subject, data, sub, unsubscribe)


def _link(ctx: Context, action: str, sub: Row[Any], ttl: timedelta) -> str:
    """A signed link to /confirm, /unsubscribe or /preferences for `sub`."""
    token = tokens.make(ctx.link_key, action, sub.id, sub.email, ctx.now + ttl)
    return f"{ctx.public_url.rstrip('/')}/{action}?token={token}"


def _mail(
    out: Row[Any],
    ctx: Context,
    template: str,
    subject: str,
    data: dict[str, Any],
    sub: Row[Any] | None,
    unsubscribe: str | None = None,
) -> Mail:
    env = environment()
    # Page text (diff excerpts, titles) may carry terminal escapes or bidi overrides:
    # shown as visible escapes, never acted on by a mail reader.
    text = visible(env.get_template(f"email/{template}.txt").render(**data))
    html = visible(env.get_template(f"email/{template}.html").render(subject=subject, **data))
    # The compat32 MIME classes build a message about six times faster than
    # EmailMessage with a modern policy, which matters for a digest to 10,000 people.
    msg = MIMEMultipart("alternative")
    name = _header(sub.name or "", "subscriber name") if sub is not None else ""
    headers = [
        ("From", formataddr((SENDER_NAME, _header(ctx.mail_from, "mail_from")))),
        ("To", formataddr((visible(name), _header(out.recipient, "recipient")))),
        ("Subject", visible(_header(subject, "subject"))),
        ("Date", format_datetime(ctx.now)),
        ("Message-ID", message_id(out.key, ctx.domain)),
        ("List-Id", f"Kratom tracker alerts <alerts.{ctx.domain}>"),
        ("Auto-Submitted", "auto-generated"),
    ]
    if unsubscribe:
        headers.append(("List-Unsubscribe", f"<{unsubscribe}>"))
        headers.append(("List-Unsubscribe-Post", "List-Unsubscribe=One-Click"))
    for key, value in headers:
        msg[key] = value
    msg.attach(MIMEText(text, "plain", _UTF8_QP))  # type: ignore[arg-type]
    msg.attach(MIMEText(html, "html", _UTF8_QP))  # type: ignore[arg-type]
    # Serialized now, so that whatever the email package refuses is refused while the
    # message is built (one dead row), not while a batch is being sent. No folding: a
    # folded List-Unsubscribe would start with a space once unfolded.
    return Mail(out.recipient, msg["Message-ID"], msg.as_bytes(policy=_UNFOLDED))


def _hook(conn: Connection, out: Row[Any], ctx: Context) -> Hook | Skip:
    ep = conn.execute(sa.select(WEBHOOK).where(WEBHOOK.c.id == out.endpoint_id)).first()
    if ep is None:
        return Skip("webhook endpoint removed")
    if ep.status != "active":
        return Skip(f"webhook endpoint disabled ({ep.disabled_reason})")
    secrets = [ep.secret]
    if ep.old_secret and ep.old_secret_until and ep.old_secret_until > ctx.now:
        secrets.append(ep.old_secret)
    ev = ctx.event(conn, out.event_id)
    return Hook(ep.url, out.key.replace(":", "_"), webhook_body(ev), secrets)


def webhook_body(ev: Row[Any]) -> bytes:
    """`{type, timestamp, data}`: the same bytes on every attempt."""
    data = {
        "event_id": ev.id,
        "title": ev.title,
        "importance": ev.importance,
        "place": ev.place_code,
        "substance": ev.substance,
        **ev.payload,
    }
    body = {"type": ev.kind, "timestamp": ev.occurred_at.isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":"), sort_keys=True, default=str).encode()
