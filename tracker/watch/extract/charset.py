"""Decoding a body: the charset is decided from the bytes, not trusted from the header.

- Valid UTF-8 (after an optional UTF-8 byte-order mark) is UTF-8, whatever the header or
  a `<meta>` says: a declared single-byte charset is often wrong, and real Latin-1 text
  is almost never valid UTF-8 once it has any non-ASCII byte. This is the fast path
  (a strict decode, microseconds): nearly every page takes it.
- Anything else goes to BeautifulSoup's `bs4.dammit.EncodingDetector`, which proposes,
  in order: the encoding of a byte-order mark; the charset of the Content-Type header
  (passed as a user encoding); the charset a `<meta>` tag or XML declaration names; a
  statistical guess (charset-normalizer); UTF-8; Windows-1252. The first that decodes
  the bytes without error wins.
- One rule of ours on top: a statistical guess that names a single-byte encoding is not
  trusted. On short text such guesses are coin flips between Latin-1, Latin-2, ...:
  charset-normalizer reads the Latin-1 "año" of `tests/data/pages/wrong_charset.html`
  as Windows-1250 "ańo". Multi-byte guesses (Shift_JIS, GB18030, ...) are kept: they
  rarely decode by accident. The detector's later candidates then decide, ending with
  Windows-1252, WHATWG's fallback for unlabelled pages and right for most sources.
- When nothing decodes strictly, Windows-1252 with replacement characters, so a page is
  never refused only for its encoding.
"""

from __future__ import annotations

import codecs
from functools import lru_cache

_UTF8_BOM = codecs.BOM_UTF8
FALLBACK = "windows-1252"


def utf8(body: bytes) -> str | None:
    """The text of a body that is valid UTF-8 (a UTF-8 byte-order mark is dropped);
    None otherwise."""
    try:
        return body.decode("utf-8-sig" if body.startswith(_UTF8_BOM) else "utf-8")
    except UnicodeDecodeError:
        return None


def decode(body: bytes, header_charset: str | None = None) -> tuple[str, str]:
    """(text, encoding used); see the module docstring for the order."""
    text = utf8(body)
    if text is not None:
        return text, "utf-8"
    # Imported here: only pages that are not UTF-8 need it.
    from bs4.dammit import EncodingDetector

    hints = [header_charset.strip("\"' ")] if header_charset else None
    detector = EncodingDetector(body, is_html=True, user_encodings=hints)
    for name in detector.encodings:
        if name == detector.chardet_encoding and _single_byte(name):
            continue
        try:
            # `markup` is the body without its byte-order mark, if it had one.
            return detector.markup.decode(name), name
        except (ValueError, LookupError):
            # ValueError covers UnicodeDecodeError, and also what a charset named by the
            # server can do besides: `charset=undefined` names a codec that always
            # raises UnicodeError, a NUL in the name raises ValueError.
            continue
    return detector.markup.decode(FALLBACK, "replace"), FALLBACK


@lru_cache(maxsize=64)
def _single_byte(name: str) -> bool:
    """Whether `name` is a single-byte encoding: every byte decodes to one character."""
    try:
        return len(bytes(range(256)).decode(name, "replace")) == 256
    except LookupError:
        return False
