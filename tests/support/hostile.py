"""Helpers of the hostile-input tests: a guard that turns a hang into a failure, and a
check that rendered HTML carries no live markup that came from data.

    with no_hang(20):                      # fails with Hung after 20 s (a hang, not speed)
        extract("pdf", page)

    live_markup(html_text)                 # script elements, on* attributes, javascript:
                                           # URLs found in the parsed document
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import lxml.html

# Attributes whose value is fetched or followed as a URL.
URL_ATTRS = ("href", "src", "action", "formaction", "xlink:href", "data", "poster", "background")


class Hung(Exception):
    """The guarded code ran past its limit: a hang (the limit is far above normal)."""


@contextmanager
def no_hang(seconds: float) -> Iterator[None]:
    """Raise Hung in the guarded block after `seconds` (main thread only, SIGALRM)."""

    def expired(_signum: int, _frame: FrameType | None) -> None:
        raise Hung(f"still running after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def live_markup(html_text: str, *, own_scripts: int = 0) -> list[str]:
    """What in `html_text` a browser would run or follow as code: every `<script>` beyond
    the page's `own_scripts`, every `on...` attribute, every `javascript:`/`vbscript:`/
    `data:` URL, every `<iframe>`, `<object>`, `<embed>`, `<base>` and `<meta http-equiv>`
    refresh. Empty when the page is safe."""
    doc = lxml.html.document_fromstring(html_text)
    found: list[str] = []
    scripts = doc.xpath("//script")
    if len(scripts) > own_scripts:
        found.append(f"{len(scripts)} script elements (the page has {own_scripts} of its own)")
    for el in doc.iter():
        if not isinstance(el.tag, str):
            continue
        if el.tag in ("iframe", "object", "embed", "base", "frame", "frameset"):
            found.append(f"<{el.tag}> element")
        if el.tag == "meta" and (el.get("http-equiv") or "").lower() == "refresh":
            found.append("<meta http-equiv=refresh>")
        for name, value in el.attrib.items():
            if name.lower().startswith("on"):
                found.append(f"<{el.tag} {name}=...>")
            scheme = "".join(value.split()).lower()
            if name.lower() in URL_ATTRS and scheme.startswith(
                ("javascript:", "vbscript:", "data:")
            ):
                found.append(f"<{el.tag} {name}={value[:40]!r}>")
    return found


def roll_call(lines: int, *, flipped: bool = False) -> list[str]:
    """A roll call of `lines` lines: a member, then the vote, whose "Yea"/"Nay" lines
    alternate; `flipped` swaps every vote. difflib's matcher took 77 s on the 3,000-line
    pair (every other line repeats), a cubic blow-up."""
    out: list[str] = []
    for i in range(lines // 2):
        vote = ("Yea", "Nay")[(i + flipped) % 2]
        out += [f"Representative Member {i:05d} (District {i % 435 + 1})", vote]
    return out


def roll_call_page(lines: int, *, flipped: bool = False) -> str:
    """The roll call as an HTML page, one paragraph per line."""
    rows = "".join(f"<p>{line}</p>" for line in roll_call(lines, flipped=flipped))
    return f"<html><body><h1>Roll call on the kratom bill</h1>{rows}</body></html>"
