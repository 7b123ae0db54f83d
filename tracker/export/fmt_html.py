"""`html`: a self-contained static status page (template `templates/status/page.html.j2`).

The page has a US tile-grid map (50 states and DC; territories, counties and cities
beside it), a world view, a legend that gives every status a letter and a pattern as
well as a colour, a searchable table, and for each place its chain, history timeline,
citations and source tier. It loads nothing: CSS and script are inline and a
Content-Security-Policy forbids every other source, so it works offline and from
`file://`. Every piece of data is escaped by Jinja2's autoescaping, links are emitted
only for http(s) URLs, and the CSP allows only the page's own script (by hash), so
markup in a citation or note can never become live.
"""

from __future__ import annotations

import base64
import hashlib
import logging
from functools import cache
from typing import TYPE_CHECKING, TextIO

from tracker.export.registry import register
from tracker.export.snapshot import Snapshot
from tracker.export.view import page_context

if TYPE_CHECKING:
    import jinja2

logger = logging.getLogger(__name__)

TEMPLATE = "status/page.html.j2"


@cache
def environment() -> jinja2.Environment:
    import jinja2

    from tracker.paths import templates_dir

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(templates_dir())),
        bytecode_cache=_bytecode_cache(),
        autoescape=True,  # the page is HTML: every piece of data is escaped, always
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _bytecode_cache() -> jinja2.BytecodeCache | None:
    """Jinja's own file cache of compiled templates (a private per-user folder under the
    temp dir, keyed by the template's checksum): compiling the page costs more than
    rendering it. The cache is only an optimisation, so it never makes an export fail."""
    import jinja2

    class QuietCache(jinja2.FileSystemBytecodeCache):
        def dump_bytecode(self, bucket: jinja2.bccache.Bucket) -> None:
            try:
                super().dump_bytecode(bucket)
            except OSError:
                logger.debug("compiled template not cached", exc_info=True)

    try:
        return QuietCache()
    except (OSError, RuntimeError):  # no private temp folder to be had
        logger.debug("no cache for compiled templates", exc_info=True)
        return None


def _asset(name: str) -> str:
    env = environment()
    assert env.loader is not None
    source, _, _ = env.loader.get_source(env, name)
    return source


def _csp_hash(text: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    return "'sha256-" + base64.b64encode(digest).decode("ascii") + "'"


@register("html", suffixes=(".html", ".htm"), needs=("history",))
def write_html(snapshot: Snapshot, out: TextIO, suffix: str) -> None:
    """A self-contained status page: US and world maps, legend, searchable table, details."""
    from markupsafe import Markup

    script, style = _asset("status/script.js"), _asset("status/style.css")
    page = environment().get_template(TEMPLATE)
    out.write(
        page.render(
            **page_context(snapshot),
            # Our own static files, not data: inserted as they are (the hash must match).
            script=Markup(script),
            style=Markup(style),
            script_hash=_csp_hash(script),
        )
    )
