"""Security headers on every answer, and CSRF protection for every form.

**Headers.** Every response gets `nosniff`, `Referrer-Policy: no-referrer` (links in
mail carry tokens in their query string; no page may leak them to another site), a
frame ban (`frame-ancestors 'none'`, `X-Frame-Options: DENY`) and a
Content-Security-Policy: scripts and styles only from this origin (`/static/`), never
inline script; `style-src` also allows inline style *attributes*, which the status map
uses to place its tiles (they cannot run code; every value in them is escaped data);
forms may only post to this origin; nothing else loads. With an https `public_url`,
`Strict-Transport-Security` too. The API (`/api/`) is readable from any origin
(`cors`).

**CSRF.** A form carries a token bound to a random per-browser cookie (`tracker_csrf`,
HttpOnly, SameSite=Strict) by an HMAC with the link signing key: a page on another site
can neither read the cookie nor compute the token, so a POST it forges is refused, and
changes nothing. Tokens carry their issue time and expire after `CSRF_TTL`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time

from tracker.web.app import Request, Response

CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
)
API_CSP = "default-src 'none'; frame-ancestors 'none'; sandbox"

COOKIE = "tracker_csrf"
CSRF_FIELD = "csrf"
CSRF_TTL = 24 * 3600  # seconds a form stays usable


def headers(public_url: str) -> dict[str, str]:
    """The headers every public response carries unless its route sets its own."""
    out = {
        "Content-Security-Policy": CSP,
        "X-Content-Type-Options": "nosniff",
        "X-Frame-Options": "DENY",
        "Referrer-Policy": "no-referrer",
        "Cross-Origin-Opener-Policy": "same-origin",
        "Cross-Origin-Resource-Policy": "same-origin",
        "Permissions-Policy": "camera=(), microphone=(), geolocation=(), interest-cohort=()",
    }
    if public_url.lower().startswith("https://"):
        out["Strict-Transport-Security"] = "max-age=31536000"
    return out


def cors(request: Request, response: Response) -> None:
    """Make an API answer readable from any origin (GET and HEAD only; no credentials)."""
    if not request.path.startswith("/api/"):
        return
    response.headers.update(
        {
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Expose-Headers": "ETag, Last-Modified",
            "Cross-Origin-Resource-Policy": "cross-origin",
            "Content-Security-Policy": API_CSP,
        }
    )


def preflight(request: Request) -> Response:
    """The answer to a CORS preflight (OPTIONS) under /api/; elsewhere 405."""
    if not request.path.startswith("/api/"):
        return Response(405, b"method not allowed\n", headers={"Allow": "GET, HEAD, POST"})
    return Response(
        204,
        headers={
            "Access-Control-Allow-Origin": "*",
            "Access-Control-Allow-Methods": "GET, HEAD, OPTIONS",
            "Access-Control-Allow-Headers": "If-None-Match, If-Modified-Since",
            "Access-Control-Max-Age": "86400",
        },
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _mac(key: bytes, browser: str, form: str, issued: int) -> str:
    msg = f"csrf|{browser}|{form}|{issued}".encode()
    return _b64(hmac.new(key, msg, hashlib.sha256).digest()[:24])


class Csrf:
    """Issues and checks form tokens (see the module doc). `secure` marks the cookie
    Secure (an https `public_url`)."""

    def __init__(self, key: bytes, secure: bool = False) -> None:
        self.key = key
        self.secure = secure

    def browser(self, request: Request, response: Response) -> str:
        """The browser's CSRF cookie value, set on `response` if it has none yet."""
        value = request.cookies.get(COOKIE, "")
        if len(value) < 20 or not value.replace("-", "").replace("_", "").isalnum():
            value = secrets.token_urlsafe(24)
            flags = "Path=/; HttpOnly; SameSite=Strict" + ("; Secure" if self.secure else "")
            response.cookies.append(f"{COOKIE}={value}; {flags}")
            request.headers["cookie"] = f"{COOKIE}={value}"  # later calls see it
        return value

    def token(self, request: Request, response: Response, form: str) -> str:
        """A token for the form named `form`, for this browser."""
        issued = int(time.time())
        return f"{issued}.{_mac(self.key, self.browser(request, response), form, issued)}"

    def check(self, request: Request, form: str) -> bool:
        """Whether the POSTed token is this browser's, for this form, and not expired."""
        browser = request.cookies.get(COOKIE, "")
        given = request.form.get(CSRF_FIELD, "")
        if not browser or "." not in given:
            return False
        issued_text, mac = given.split(".", 1)
        try:
            issued = int(issued_text)
        except ValueError:
            return False
        if not 0 <= time.time() - issued <= CSRF_TTL:
            return False
        try:
            expected = _mac(self.key, browser, form, issued)
        except (ValueError, binascii.Error):
            return False
        return hmac.compare_digest(mac.encode(), expected.encode())
