"""The operator's own sources file, `<data_dir>/sources.yaml` (`tracker sources add`).

Same format as `jurisdictions/sources/*.yaml`; the shipped data is never written. A new
entry is validated exactly as the shipped ones are, and appended as text, so comments and
hand edits in the file are kept.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import yaml
from sqlalchemy.engine import Connection

from tracker.errors import UsageError
from tracker.law import places
from tracker.law.datafile import Entry
from tracker.watch.sources import OPERATOR_FILE, Spec, load_specs, source_files, validate


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
) -> Spec:
    """Validate a new source and append it to `<data_dir>/sources.yaml`.

    Raises UsageError (exit 2) for a bad value; the file is left as it was. The key is
    derived from the place and the URL, so adding the same page twice is refused."""
    target = places.resolve(conn, place)
    code = places.short_code(target) if "/" in target.code else target.code
    key = re.sub(r"[^a-z0-9]+", "-", code.lower()).strip("-")[:40]
    key += "-" + hashlib.sha256(url.strip().encode()).hexdigest()[:8]
    entry = Entry(
        key=key,
        place=target.code,
        title=title or url.strip(),
        url=url.strip(),
        kind=kind,
        select=list(select),
        exclude=list(exclude),
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
    files = source_files(root, data_dir) if root else [(data_dir / OPERATOR_FILE, "operator")]
    known, _, _ = load_specs([f for f in files if f[0].is_file()])
    for other in known:
        if other.key == spec.key or (other.url == spec.url and other.place == target.code):
            raise UsageError(
                f"{url} is already watched for {target.code} as {other.key}",
                "`tracker sources` lists the sources.",
            )
    path = data_dir / OPERATOR_FILE
    data_dir.mkdir(parents=True, exist_ok=True)
    item = {k: v for k, v in entry.items() if v not in ([], None)}
    block = yaml.safe_dump([item], sort_keys=False, allow_unicode=True, width=1000)
    header = (
        ""
        if path.is_file()
        else (
            "# The operator's own sources (`tracker sources add`); same format as\n"
            "# jurisdictions/sources/*.yaml. Edit freely; checked on the next run.\n"
            "sources:\n"
        )
    )
    with path.open("a", encoding="utf-8") as fh:
        fh.write(header + "".join("  " + line + "\n" for line in block.splitlines()))
    return spec
