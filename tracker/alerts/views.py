"""What an event looks like to a reader: one flat dict per event that the mail templates
(and later the status page) render, whatever its kind.

Keys: kind, label (the kind in words), title, headline (the subject of an alert and the
first line of its block: label, importance, for a page change the kratom terms, then the
title), importance, when (YYYY-MM-DD UTC), place, place_name, substance, change
(`regulated (21+) -> banned` or None), dates (label, value pairs), citation, tier, note,
diff (plain-text excerpt or None), keywords, document (a Federal Register document in
words), reverts (the change a reversal undid), review_id (the review item a page change
opened), links (label, URL pairs; only http and https URLs are kept).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

LABELS = {
    "status_changed": "Status changed",
    "effective": "Takes effect",
    "expiring": "Expiring soon",
    "page_changed": "Official page changed",
    "pending_measure": "Pending measure moved",
    "source_failing": "Source failing",
}


def _age(value: Any) -> str:
    return f" ({value}+)" if value else ""


def _links(pairs: Iterable[tuple[str, Any]]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for label, url in pairs:
        fine = isinstance(url, str) and url.startswith(("https://", "http://"))
        if fine and url not in [u for _, u in out]:
            out.append((label, url))
    return out


def headline(kind: str, importance: str, title: str, keywords: list[str]) -> str:
    """`Official page changed (relevant; mentions kratom, 7-OH): Rhode Island: ...`:
    what changed and how much it matters, readable in a subject line alone, so a minor
    change never reads like a relevant one."""
    what = importance
    if kind == "page_changed":
        what += "; " + (f"mentions {', '.join(keywords)}" if keywords else "no kratom terms")
    return f"{LABELS.get(kind, kind)} ({what}): {title}"


def event_view(ev: Any) -> dict[str, Any]:
    """The reader's view of one event row."""
    p: dict[str, Any] = dict(ev.payload or {})
    kind = ev.kind
    change = None
    if kind == "status_changed":
        old = "/".join(p.get("old_status") or ["unknown"])
        change = (
            f"{old}{_age(p.get('old_min_age'))} -> {p.get('new_status')}{_age(p.get('min_age'))}"
        )
    elif kind in ("effective", "expiring"):
        change = f"{p.get('status')}{_age(p.get('min_age'))}"
    elif kind == "pending_measure":
        before = p.get("previous_stage")
        change = f"{before} -> {p.get('stage')}" if before else p.get("stage")
    dates = [
        (label, str(p[key]))
        for key, label in (
            ("valid_from", "from"),
            ("valid_to", "until"),
            ("expires", "expires"),
            ("days_left", "days left"),
            ("published", "published"),
            ("comments_close", "comments close"),
        )
        if p.get(key) not in (None, "")
    ]
    keywords = list(p.get("keywords") or [])
    return {
        "kind": kind,
        "label": LABELS.get(kind, kind),
        "title": ev.title,
        "headline": headline(kind, ev.importance, ev.title, keywords),
        "importance": ev.importance,
        "when": ev.occurred_at.date().isoformat(),
        "place": ev.place_code or p.get("place"),
        "place_name": p.get("place_name") or ev.place_code or "",
        "substance": ev.substance,
        "change": change,
        "dates": dates,
        "citation": p.get("citation") or p.get("measure"),
        "tier": p.get("source_tier"),
        "note": p.get("note") or p.get("last_error"),
        "diff": p.get("diff_excerpt"),
        "too_large": bool(p.get("too_large")),
        "keywords": keywords,
        "document": p.get("document"),
        "reverts": p.get("reverts_change_id"),
        "review_id": p.get("review_id"),
        "links": _links(
            [
                ("source", p.get("source_url")),
                ("official page", p.get("instrument_url")),
                ("snapshot before", p.get("snapshot_old")),
                ("snapshot after", p.get("snapshot_new")),
            ]
        ),
    }


def group_by_place(views: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Events grouped by place (places by name, events oldest first); events without a
    place come last under "Other"."""
    groups: dict[str, dict[str, Any]] = {}
    for v in views:
        code = v["place"] or ""
        g = groups.setdefault(
            code, {"place": code, "name": v["place_name"] or "Other", "events": []}
        )
        g["events"].append(v)
    return sorted(groups.values(), key=lambda g: (g["place"] == "", g["name"].lower()))


# The sections of a digest, in order: what was recorded, what awaits review, the rest.
SECTIONS = (
    ("recorded", "Status changes recorded"),
    ("review", "Under review: an official page changed, no status recorded yet"),
    ("other", "Other changes"),
)
RECORDED_KINDS = ("status_changed", "effective", "expiring")


def digest_sections(views: list[dict[str, Any]], open_reviews: set[int]) -> list[dict[str, Any]]:
    """The events of a digest in sections (`SECTIONS`), each grouped by place: recorded
    status changes apart from page changes whose review item is still open when the
    digest is built (`open_reviews`); empty sections are left out."""
    parts: dict[str, list[dict[str, Any]]] = {key: [] for key, _ in SECTIONS}
    for v in views:
        if v["kind"] in RECORDED_KINDS:
            parts["recorded"].append(v)
        elif v.get("review_id") in open_reviews:
            parts["review"].append(v)
        else:
            parts["other"].append(v)
    return [
        {"key": key, "title": title, "count": len(parts[key]), "groups": group_by_place(parts[key])}
        for key, title in SECTIONS
        if parts[key]
    ]
