"""`atom`: the recent events as an Atom feed (RFC 4287).

Entries are the latest `snapshot.events` (status changes, rules taking effect or
expiring, pending measures that moved, official pages that changed with kratom terms),
newest first. Entry ids are `urn:uuid:` UUIDs derived from the event's id and time, so
regenerating the feed never makes a reader show an entry twice. The feed's `updated` is
the time of its newest event, not of generation, so regenerating an unchanged feed writes
the same bytes. Text that XML 1.0 cannot carry (control
characters) is dropped rather than producing a feed readers reject.
"""

from __future__ import annotations

import re
import uuid
import xml.etree.ElementTree as ET
from datetime import datetime
from typing import Any, TextIO

from tracker.export.registry import register
from tracker.export.snapshot import Snapshot
from tracker.timeutil import as_utc

ATOM = "http://www.w3.org/2005/Atom"
# Fixed namespace for the UUIDs of feed and entry ids: changing it changes every id.
ID_NAMESPACE = uuid.UUID("6f1d2a4e-9c1b-5d7e-8a43-2b0c5e7f9d10")
IMPORTANCE_SCHEME = "urn:kratom-tracker:importance"
KIND_SCHEME = "urn:kratom-tracker:event-kind"

_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _text(value: Any) -> str:
    return _NOT_XML.sub("", str(value))


def _stamp(when: datetime) -> str:
    return as_utc(when).isoformat(timespec="seconds").replace("+00:00", "Z")


def entry_id(event: dict[str, Any]) -> str:
    """The stable id of an event's entry."""
    key = f"event:{event['id']}:{as_utc(event['occurred_at']).isoformat()}"
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, key)}"


def _summary(event: dict[str, Any]) -> str:
    p = event.get("payload") or {}
    lines = [_text(event["title"])]
    facts = (
        ("status", p.get("new_status") or p.get("status")),
        ("minimum age", p.get("min_age")),
        ("from", p.get("valid_from")),
        ("until", p.get("valid_to")),
        ("expires", p.get("expires")),
        ("stage", p.get("stage")),
        ("citation", p.get("citation")),
        ("measure", p.get("measure")),
        ("source", p.get("source_url") or p.get("source_document")),
        ("source tier", p.get("source_tier")),
        ("checked", p.get("checked")),
        ("unverified", "yes: sources conflict, or a lead only" if p.get("verify") else None),
        ("kratom terms", ", ".join(p.get("keywords") or []) or None),
        ("note", p.get("note")),
    )
    lines += [f"{name}: {_text(value)}" for name, value in facts if value not in (None, "")]
    if p.get("diff_excerpt"):
        lines += ["", _text(p["diff_excerpt"])]
    return "\n".join(lines)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, f"{{{ATOM}}}{tag}", attrs)
    if text is not None:
        el.text = text
    return el


def feed_xml(
    events: list[dict[str, Any]],
    *,
    key: str,
    title: str,
    subtitle: str,
    updated: datetime,
    self_url: str | None = None,
    alternate: str | None = None,
) -> str:
    """An Atom document of `events` (newest first). `key` names the feed (its id is a
    UUID derived from it); `updated` is used when there is no event; `self_url` and
    `alternate` add the `rel=self` and `rel=alternate` links of a feed served over HTTP."""
    ET.register_namespace("", ATOM)
    feed = ET.Element(f"{{{ATOM}}}feed")
    _sub(feed, "id", f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, key)}")
    _sub(feed, "title", _text(title))
    _sub(feed, "subtitle", _text(subtitle))
    if self_url:
        _sub(feed, "link", rel="self", type="application/atom+xml", href=_text(self_url))
    if alternate:
        _sub(feed, "link", rel="alternate", type="text/html", href=_text(alternate))
    newest = events[0]["occurred_at"] if events else updated
    _sub(feed, "updated", _stamp(newest))
    author = _sub(feed, "author")
    _sub(author, "name", "kratom tracker")
    _sub(feed, "generator", "kratom-tracker")
    for event in events:
        entry = _sub(feed, "entry")
        _sub(entry, "id", entry_id(event))
        _sub(entry, "title", _text(event["title"]))
        _sub(entry, "updated", _stamp(event["occurred_at"]))
        _sub(entry, "published", _stamp(event["occurred_at"]))
        _sub(entry, "category", term=event["kind"], scheme=KIND_SCHEME)
        _sub(entry, "category", term=event["importance"], scheme=IMPORTANCE_SCHEME)
        url = (event.get("payload") or {}).get("source_url")
        if isinstance(url, str) and url.startswith(("http://", "https://")):
            _sub(entry, "link", rel="related", href=_text(url))
        _sub(entry, "content", _summary(event), type="text")
    return '<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(feed, encoding="unicode") + "\n"


@register("atom", suffixes=(".atom", ".xml"), needs=("events",))
def write_atom(snapshot: Snapshot, out: TextIO, suffix: str) -> None:
    """Recent events (status changes, effective dates, page changes) as an Atom feed."""
    out.write(
        feed_xml(
            snapshot.events,
            key=f"feed:{snapshot.substance}",
            title=f"Kratom legal status: recent changes ({snapshot.substance})",
            subtitle="Status changes, rules taking effect or expiring, pending measures and "
            "official page changes recorded by the kratom tracker.",
            updated=snapshot.generated_at,
        )
    )
