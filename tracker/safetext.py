"""Text from watched pages made safe to show on a terminal or in mail.

Pages are hostile input. Their text is stored as it was fetched (an invisible character
that changes is still a change), but wherever it is shown, `tracker diff` and mail run
it through `visible`, which makes these characters visible instead of letting them act:

- C0 and C1 control characters and DEL, except tab and line feed: ESC starts terminal
  escape sequences (colours, cursor moves, window titles), BEL rings, CR rewrites the
  line; each becomes `\\x1b`-style text;
- bidi embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which reorder
  the text around them on screen (the "Trojan Source" trick): each becomes `<U+202E>`.
  The plain direction marks (U+200E, U+200F, U+061C) stay: right-to-left text needs them.
"""

from __future__ import annotations

_CONTROLS = [*range(0x00, 0x09), *range(0x0B, 0x20), 0x7F, *range(0x80, 0xA0)]
_BIDI = [*range(0x202A, 0x202F), *range(0x2066, 0x206A)]
_TABLE: dict[int, str] = {c: f"\\x{c:02x}" for c in _CONTROLS} | {c: f"<U+{c:04X}>" for c in _BIDI}


def visible(text: str) -> str:
    """`text` with control and bidi characters replaced by a visible escape."""
    return text.translate(_TABLE)
