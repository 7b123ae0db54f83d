"""What the status page shows, prepared from a snapshot as plain values for the template.

Every value here is data or text made from data, and the template escapes all of it;
URLs are kept only when they are http(s), so a `javascript:` link can never be emitted.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from tracker.export.snapshot import Entry, Snapshot
from tracker.export.tiles import US_COLS, US_GRID, US_ROWS, WORLD_COLS, WORLD_ROWS, world_layout
from tracker.export.verified import latest
from tracker.law.places import label, level_name, short_code
from tracker.vocab import STATUSES, TIER_LABELS, TIERS

# Letter, name and meaning of each status: the legend shows all three, so no reader
# depends on colour (the page adds a distinct pattern per status too).
STATUS_INFO: dict[str, tuple[str, str, str]] = {
    "banned": ("X", "Banned", "controlled substance, or sale and possession prohibited"),
    "restricted": ("!", "Restricted", "no full ban, but a material limit on sale"),
    "regulated": ("R", "Regulated", "legal under a framework: age limit, labelling, licensing"),
    "legal": ("L", "Legal", "no kratom-specific law"),
    "unknown": ("?", "Unknown", "no record for a level whose law could decide"),
}
TIER_INFO: dict[str, str] = TIER_LABELS
_STATES = ("state", "district")


def safe_url(url: Any) -> str | None:
    """`url` if it is an http(s) URL, else None (never a javascript: or data: link)."""
    if isinstance(url, str) and re.match(r"^https?://[^\s]+$", url.strip(), re.I):
        return url.strip()
    return None


def _when(value: str | datetime | None) -> str:
    if value is None:
        return "never"
    when = datetime.fromisoformat(value) if isinstance(value, str) else value
    return when.strftime("%Y-%m-%d %H:%M UTC")


def _verified(checked: str | None, confirmed: datetime | None) -> str:
    """The last verification as a person reads it: the tracker's confirmation (a day) when
    it is later than the `checked` period, else the checked date at its precision, else
    `unknown` (an undated page nobody confirmed)."""
    day = latest(checked, confirmed)
    if day is None:
        return "unknown"
    if confirmed is not None and confirmed.date() == day:
        return day.isoformat()
    return checked or day.isoformat()


def _anchors(entries: list[Entry]) -> dict[str, str]:
    out: dict[str, str] = {}
    used: set[str] = set()
    for e in entries:
        base = "p-" + re.sub(r"[^A-Za-z0-9]+", "-", e.code).strip("-")
        anchor, n = base, 1
        while anchor in used:
            n += 1
            anchor = f"{base}-{n}"
        used.add(anchor)
        out[e.code] = anchor
    return out


def citation(rec: dict[str, Any] | None) -> str:
    """The citation of a record, or the seed document it comes from."""
    if not rec:
        return ""
    inst, src = rec["instrument"], rec["source"]
    if inst.get("citation"):
        return str(inst["citation"])
    if src.get("document"):
        return f"seed document: {src.get('title') or src['document']}"
    return ""


def _span(rec: dict[str, Any]) -> str:
    if rec.get("no_period"):
        return "no period (undated document: answers for no date)"
    return f"{rec['valid_from'] or 'unknown start'} to {rec['valid_to'] or 'no end'}"


def _record(rec: dict[str, Any]) -> dict[str, Any]:
    inst, src = rec["instrument"], rec["source"]
    return {
        "substance": rec["substance"],
        "status": rec["status"],
        "mark": STATUS_INFO[rec["status"]][0],
        "min_age": rec["min_age"],
        "span": _span(rec),
        "since": rec["valid_from"] or "unknown",
        "expires": rec["expires"],
        "citation": citation(rec),
        "instrument_type": inst.get("type"),
        "title": inst.get("title"),
        "url": safe_url(inst.get("url")),
        "source_url": safe_url(src.get("url")),
        "source_text": src.get("url") if not safe_url(src.get("url")) else None,
        "quote": src.get("quote"),
        "tier": src["tier"],
        "verify": rec["verify"],
        "checked": rec["checked"] or "undated",
        "none": inst.get("type") == "none",
        "note": rec["note"],
        "conditions": rec["conditions"],
        "recorded": _when(rec["recorded_at"]),
        "superseded": _when(rec["superseded_at"]) if rec["superseded_at"] else None,
    }


def _international(rec: dict[str, Any]) -> dict[str, Any]:
    """A statement about no place (the UN conventions), for one line on the world view."""
    inst, src = rec["instrument"], rec["source"]
    return {
        "code": rec["code"],
        "status": rec["status"],
        "mark": STATUS_INFO[rec["status"]][0],
        "title": inst.get("title"),
        "citation": inst.get("citation") or "",
        "url": safe_url(inst.get("url")),
        "source_title": src.get("title") or src.get("url") or "source",
        "source_url": safe_url(src.get("url")),
        "tier": src["tier"],
        "checked": rec["checked"] or "undated",
        "verify": rec["verify"],
    }


def _place(e: Entry, snap: Snapshot, anchors: dict[str, str]) -> dict[str, Any]:
    a, rec = e.answer, e.answer.record
    history = snap.history.get(e.code, [])
    decider = a.decided_by
    named = {lvl.place.code: short_code(lvl.place) for lvl in a.levels}
    texts = [e.code, a.place.name, label(a.place), a.place.ocd_id or "", a.status]
    texts.append(citation(rec))
    if e.under_review:
        texts.append("under review")
    return {
        "anchor": anchors[e.code],
        "code": e.code,
        "short": short_code(a.place),
        "label": label(a.place),
        "name": a.place.name,
        "abbr": a.place.abbr,
        "kind": a.place.kind,
        "level": level_name(a.place),
        "status": a.status,
        "mark": STATUS_INFO[a.status][0],
        "status_name": STATUS_INFO[a.status][1],
        "min_age": a.min_age,
        "decided_by": (
            {
                "label": label(decider),
                "anchor": anchors.get(decider.code),
                "level": level_name(decider),
            }
            if decider
            else None
        ),
        "record": _record(rec) if rec else None,
        "last_verified": _verified(rec["checked"] if rec else None, e.last_verified),
        "chain": [
            {
                "label": label(lvl.place),
                "anchor": anchors.get(lvl.place.code),
                "level": level_name(lvl.place),
                "status": lvl.status,
                "mark": STATUS_INFO[lvl.status][0],
                "record": _record(lvl.record) if lvl.record else None,
                "expired": [_record(x) for x in lvl.expired],
                "decides": decider is not None and lvl.place.code == decider.code,
            }
            for lvl in a.levels
        ],
        "timeline": [_record(r) for r in history if r["superseded_at"] is None],
        "superseded": [_record(r) for r in history if r["superseded_at"] is not None],
        "related": [_record(r) for r in a.related],
        # Pending measures of local levels are shown by name (`Dana Point, CA`), not by
        # their OCD id.
        "pending": [{**m, "where": named.get(m["place"], m["place"])} for m in e.pending],
        "search": " ".join(t for t in texts if t).lower(),
        # Nothing recorded anywhere in the chain: the details say so in one line.
        "empty": not history and not any(lvl.record or lvl.expired for lvl in a.levels),
        "review": _review(e.under_review),
    }


def _review(under: dict[str, Any] | None) -> dict[str, Any] | None:
    """An open review of the place (or its deciding level), as the page shows it."""
    if not under:
        return None
    return {
        "since": _when(under["since"]),
        # Not `items`: the template would find the dict method of that name.
        "changes": [
            {"id": i["id"], "change": i["change"], "source": i["source"] or "a watched page"}
            for i in under["items"]
        ],
    }


def page_context(snap: Snapshot) -> dict[str, Any]:
    """Everything `templates/status/page.html.j2` renders."""
    anchors = _anchors(snap.entries)
    # Readers look places up by name: the table and the details go alphabetically.
    places = sorted(
        (_place(e, snap, anchors) for e in snap.entries), key=lambda p: p["label"].casefold()
    )
    by_code = {p["code"]: p for p in places}
    states = [p for p in places if p["kind"] in _STATES and p["abbr"] in US_GRID]
    for p in states:
        p["row"], p["col"] = US_GRID[p["abbr"]]
    countries = [p for p in places if p["kind"] == "country"]
    placed, unplaced = world_layout(p["code"] for p in countries)
    world = []
    for code, (row, col) in placed.items():
        world.append({**by_code[code], "row": row, "col": col})
    counts = {s: sum(1 for p in places if p["status"] == s) for s in STATUSES}
    return {
        "substance": snap.substance,
        "as_of": snap.as_of.isoformat(),
        "generated": _when(snap.generated_at),
        "international": [_international(r) for r in snap.international],
        "statuses": [(s, *STATUS_INFO[s]) for s in STATUSES],
        "tiers": [(t, TIER_INFO[t]) for t in TIERS],
        "counts": counts,
        "places": places,
        "us_states": sorted(states, key=lambda p: (p["row"], p["col"])),
        "us_rows": US_ROWS,
        "us_cols": US_COLS,
        "territories": sorted(
            (p for p in places if p["kind"] == "territory"), key=lambda p: p["name"]
        ),
        "local": sorted(
            (p for p in places if p["kind"] in ("county", "city")), key=lambda p: p["label"]
        ),
        "world": sorted(world, key=lambda p: (p["row"], p["col"])),
        "world_rows": WORLD_ROWS,
        "world_cols": WORLD_COLS,
        "world_unplaced": [by_code[c] for c in unplaced],
    }
