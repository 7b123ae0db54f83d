"""What an event looks like to a reader: one flat dict per event that the mail templates
(and later the status page) render, whatever its kind.

Keys: kind, label (the kind in words), title, importance, when (YYYY-MM-DD UTC), place,
place_name, substance, change (`banned -> regulated (21+)` or None), dates (label, value
pairs), citation, tier, note, diff (plain-text excerpt or None), keywords, links
(label, URL pairs; only http and https URLs are kept).
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


def event_view(ev: Any) -> dict[str, Any]:
    """The reader's view of one event row."""
    p: dict[str, Any] = dict(ev.payload or {})
    kind = ev.kind
    change = None
    if kind == "status_changed":
        old = "/".join(p.get("old_status") or ["unknown"])
        change = f"{old} -> {p.get('new_status')}{_age(p.get('min_age'))}"
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
    return {
        "kind": kind,
        "label": LABELS.get(kind, kind),
        "title": ev.title,
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
        "keywords": list(p.get("keywords") or []),
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
