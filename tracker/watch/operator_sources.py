"""The operator's own sources file, `<data_dir>/sources.yaml` (`tracker sources add`,
`disable`, `enable`).

Same format as `jurisdictions/sources/*.yaml`; the shipped data is never written. A new
entry is validated exactly as the shipped ones are, and appended as text, so comments and
hand edits in the file are kept. Its key and title are derived from the place and the
URL unless given (`us-ri-21-28.12-5`, "21-28.12-5.htm (webserver.rilegislature.gov)").

Switching a source off (shipped or not) writes its key into one line of the same file,
`disabled: [key, ...]`, placed before `sources:`; switching it on again removes it.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

import yaml
from sqlalchemy.engine import Connection

from tracker.errors import UsageError
from tracker.law import places
from tracker.law.datafile import Entry
from tracker.storage.tables_core import Place
from tracker.watch.sources import (
    KEY_RE,
    OPERATOR_FILE,
    Spec,
    disabled_keys,
    load_specs,
    source_files,
    validate,
)

_HEADER = (
    "# The operator's own sources (`tracker sources add`); same format as\n"
    "# jurisdictions/sources/*.yaml. Edit freely; checked on the next run.\n"
)


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9.]+", "-", text.lower()).strip("-.")


def derive_key(place: Place, url: str, taken: set[str]) -> str:
    """A readable, unused key: the place code and the last meaningful part of the URL
    (`us-ri-21-28.12-5`), with `-2`, `-3` ... when that is taken."""
    code = places.short_code(place) if "/" in place.code else place.code
    parts = urlsplit(url)
    segments = [unquote(x) for x in parts.path.split("/") if x]
    tail = (
        re.sub(r"\.(html?|php|aspx?|pdf|json|xml)$", "", segments[-1], flags=re.I)
        if segments
        else ""
    )
    base = _slug(f"{code}-{tail or parts.hostname or 'page'}")[:70].strip("-.") or "source"
    key, n = base, 1
    while key in taken or not KEY_RE.match(key):
        n += 1
        key = f"{base}-{n}"
    return key


def derive_title(url: str) -> str:
    """`21-28.12-5.htm (webserver.rilegislature.gov)`: alerts put the place before it."""
    parts = urlsplit(url)
    segments = [unquote(x) for x in parts.path.split("/") if x]
    what = segments[-1] if segments else "home page"
    return f"{what} ({parts.hostname})"


def add_operator_source(
    conn: Connection,
    data_dir: Path,
    place: str,
    url: str,
    *,
    kind: str = "html",
    title: str | None = None,
    select: tuple[str, ...] = (),
    exclude: tuple[str, ...] = (),
    every: str | None = None,
    cron: str | None = None,
    root: Path | None = None,
    key: str | None = None,
    ignore: tuple[str, ...] = (),
    keywords: tuple[str, ...] = (),
) -> Spec:
    """Validate a new source and append it to `<data_dir>/sources.yaml`.

    Raises UsageError (exit 2) for a bad value (an invalid regex in `ignore` too), a key
    already used, or a page already watched for the place; the file is left as it was.
    Without `key` and `title` both are derived (see the module doc)."""
    target = places.resolve(conn, place)
    files = source_files(root, data_dir) if root else [(data_dir / OPERATOR_FILE, "operator")]
    known, _, _ = load_specs([f for f in files if f[0].is_file()])
    if key is not None and not KEY_RE.match(key):
        raise UsageError(
            f"invalid --key {key!r}",
            "Use 2 to 81 lowercase letters, digits, '.', '_' or '-', starting with a letter "
            "or digit.",
        )
    taken = {other.key for other in known}
    if key is not None and key in taken:
        raise UsageError(f"the key {key} is already used", "Choose another --key.")
    entry = Entry(
        key=key or derive_key(target, url.strip(), taken),
        place=target.code,
        title=title or derive_title(url.strip()),
        url=url.strip(),
        kind=kind,
        select=list(select),
        exclude=list(exclude),
        ignore=list(ignore),
        keywords=list(keywords),
    )
    if every:
        entry["every"] = every
    if cron:
        entry["cron"] = cron
    entry.where, entry.line = "command line", 0
    try:
        spec = validate(entry, "operator")
    except ValueError as exc:
        raise UsageError(str(exc), "Fix the option named above.") from None
    for other in known:
        if other.url == spec.url and other.place == target.code:
            raise UsageError(
                f"{url} is already watched for {target.code} as {other.key}",
                "`tracker sources` lists the sources.",
            )
    path = data_dir / OPERATOR_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    item = {k: v for k, v in entry.items() if v not in ([], None)}
    block = yaml.safe_dump([item], sort_keys=False, allow_unicode=True, width=1000)
    header = "" if path.is_file() else _HEADER + "sources:\n"
    if path.is_file() and not re.search(r"^sources:", path.read_text(encoding="utf-8"), re.M):
        header = "sources:\n"  # a file with only `disabled:` so far
    with path.open("a", encoding="utf-8") as fh:
        fh.write(header + "".join("  " + line + "\n" for line in block.splitlines()))
    return spec


def set_enabled(data_dir: Path, key: str, enabled: bool, known: set[str]) -> bool:
    """Switch source `key` on or off in the operator's file; returns False when it was
    so already. Raises UsageError for a key no source file has."""
    off = disabled_keys(data_dir)
    if key not in known and key not in off:
        raise UsageError(f"no source {key!r}", "`tracker sources` lists the keys.")
    if (key not in off) == enabled:
        return False
    off = off - {key} if enabled else off | {key}
    path = data_dir / OPERATOR_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    text = path.read_text(encoding="utf-8") if path.is_file() else _HEADER
    line = "disabled: " + yaml.safe_dump(sorted(off), default_flow_style=True, width=10_000).strip()
    if re.search(r"^disabled:.*$", text, re.M):
        text = re.sub(r"^disabled:.*$", lambda _: line, text, count=1, flags=re.M)
    elif re.search(r"^sources:", text, re.M):
        # Before `sources:`, which `add` appends entries under (it must stay last).
        text = re.sub(r"^sources:", lambda m: line + "\n" + m.group(0), text, count=1, flags=re.M)
    else:
        text = text + ("" if text.endswith("\n") else "\n") + line + "\n"
    tmp = path.with_suffix(".yaml.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)
    return True
