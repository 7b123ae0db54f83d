"""Rendering public pages: one Jinja2 environment over `templates/` (autoescaped, so
every piece of data is text, never markup) and the static files under `/static/`."""

from __future__ import annotations

import hashlib
from functools import cache
from typing import Any

import jinja2

from tracker.paths import templates_dir
from tracker.web.app import Request, Response

# name under /static/ -> (template file, content type)
STATIC = {
    "web.css": ("web/web.css", "text/css; charset=utf-8"),
    "status.css": ("status/style.css", "text/css; charset=utf-8"),
    "status.js": ("status/script.js", "text/javascript; charset=utf-8"),
}


@cache
def environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def page(template: str, status: int = 200, **context: Any) -> Response:
    html = environment().get_template(template).render(**context)
    return Response.html(html, status)


@cache
def _static(name: str) -> tuple[bytes, str, str]:
    path, content_type = STATIC[name]
    body = (templates_dir() / path).read_bytes()
    return body, content_type, '"' + hashlib.sha256(body).hexdigest()[:24] + '"'


def static(request: Request) -> Response:
    """GET /static/NAME: our own stylesheets and script (never data)."""
    name = request.path.removeprefix("/static/")
    if name not in STATIC:
        return Response.text("not found\n", 404)
    body, content_type, etag = _static(name)
    if etag in request.headers.get("if-none-match", ""):
        return Response(304, b"", headers={"ETag": etag})
    return Response(200, body, content_type, {"ETag": etag, "Cache-Control": "max-age=3600"})
