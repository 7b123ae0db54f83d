"""Watched sources: reviewed data in `jurisdictions/sources/*.yaml`, plus the operator's
own file `<data_dir>/sources.yaml` (written by `tracker sources add`, same format).

Each entry (see `jurisdictions/sources/README.md`):

    - key: us-ri-kratom-act-licensing      # unique, stable: names the source everywhere
      place: US-RI                         # any form `tracker status` accepts
      title: R.I. Gen. Laws 21-28.12-5
      url: https://webserver.rilegislature.gov/...
      kind: html                           # html | pdf | json | federal_register | feed
      select: [main]                       # html only; each must match something
      exclude: [.last-updated]             # html only
      ignore: ['Page generated .*']        # regexes; may match part of a line
      masks: [dates]                       # dates | times | tokens | counters
      keywords: [botanical]                # besides the kratom terms
      keep_furniture: false                # pdf only: keep page numbers, headers, footers
      every: 24h                           # or cron: "0 6 * * 1-5" (UTC); default_every
      verified: false                      # selectors checked against the live page?

The operator's file may also list keys to switch off, shipped ones included (`tracker
sources disable KEY`): `disabled: [key, ...]`; such sources are deactivated like removed
ones and come back with `tracker sources enable KEY`. The setting `shipped_sources =
false` leaves out every shipped file (staging, tests): only the operator's file counts.

A bad entry (unknown kind, invalid selector or pattern, unknown place) is reported as a
problem of that entry, with its file and line, and skipped; every other source is still
synced and checked, and nothing stored for the bad one is touched. Sources removed from a
file are deactivated (their history stays). Syncing is idempotent and cheap.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta
from functools import cached_property
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from tracker.errors import DataFileError, TrackerError
from tracker.law import datafile, places
from tracker.law.datafile import Entry
from tracker.storage.engine import Database
from tracker.storage.tables_core import DATA_FILE
from tracker.storage.tables_watch import SOURCE
from tracker.timeutil import interval, utcnow
from tracker.watch import policy
from tracker.watch.extract import KINDS
from tracker.watch.extract.html import compile_selector
from tracker.watch.hosts import host_key
from tracker.watch.normalize import Rules

_KEYS = {"key", "place", "title", "url", "kind", "select", "exclude", "ignore", "masks"}
_KEYS |= {"keywords", "every", "cron", "verified", "note", "keep_furniture"}
KEY_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{1,80}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f\x85\u2028\u2029]")
OPERATOR_FILE = "sources.yaml"
SYNC_KEY = "sources/*"  # the data_file row holding the digest of the last clean sync


@dataclass(frozen=True)
class Spec:
    """One validated source entry."""

    key: str
    place: str
    title: str
    url: str
    kind: str
    origin: str
    select: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    masks: tuple[str, ...] = ()
    keywords: tuple[str, ...] = ()
    every: str | None = None
    cron: str | None = None
    verified: bool = False
    note: str | None = None
    keep_furniture: bool = False
    where: str = field(default="", compare=False)

    def to_json(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self) if f.name != "where"}

    @cached_property
    def digest(self) -> str:
        return _sha(self.to_json())

    @cached_property
    def extraction_digest(self) -> str:
        """Digest of what shapes the normalized text; a new value means a new baseline."""
        parts: list[Any] = [self.kind, self.select, self.exclude, self.ignore, self.masks]
        # Only what departs from the first defaults is added, so the digest of every
        # source those do not touch stays as it was (no needless new baselines).
        version = KINDS[self.kind].version if self.kind in KINDS else 1
        if version > 1:
            parts.append(f"v{version}")
        if self.keep_furniture:
            parts.append("keep_furniture")
        return _sha(parts)

    @property
    def rules(self) -> Rules:
        return Rules(self.ignore, self.masks)


def _sha(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()[:32]


def spec_from_json(data: dict[str, Any]) -> Spec:
    fields: dict[str, Any] = {k: tuple(v) if isinstance(v, list) else v for k, v in data.items()}
    return Spec(**fields)


@dataclass(frozen=True)
class Problem:
    where: str
    key: str | None
    message: str

    def __str__(self) -> str:
        return f"{self.where}: {self.key + ': ' if self.key else ''}{self.message}"


def parse_every(text: str) -> timedelta:
    """A source interval (`interval`), at least the policy's `min_every`."""
    every = interval(text)
    minimum = policy.current().min_every
    if every < minimum:
        seconds = minimum.total_seconds()
        shortest = "one minute" if seconds == 60 else f"{seconds:g}s"
        raise ValueError(f"interval {text!r} is shorter than {shortest} (min_every)")
    return every


def parse_cron(text: str) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger.from_crontab(text, timezone="UTC")
    except ValueError as exc:
        raise ValueError(f"invalid cron expression {text!r}: {exc}") from None


def next_due(spec: Spec, after: datetime, default_every: str) -> datetime:
    """When the source is due again after a check at `after`: one interval later, plus
    a random part of it up to the policy's jitter (never earlier, so a source is never
    checked twice in one interval); for a cron source, its next fire time."""
    if spec.cron:
        fire = parse_cron(spec.cron).get_next_fire_time(None, after + timedelta(seconds=1))
        return fire if fire is not None else after + parse_every(default_every)
    every = parse_every(spec.every or default_every)
    jitter = policy.current().jitter
    if jitter:
        every += every * random.uniform(0.0, jitter)
    return after + every


# The first retry of a failing source comes this long after the failure, then twice as
# long after each further failure in a row, up to the source's own interval: a weekly
# source that fails is tried again within minutes, and `source_failing` (after
# `failure_alert_after` failures) is raised within the hour, not weeks later.
FAILURE_RETRY = timedelta(minutes=5)


def retry_due(spec: Spec, after: datetime, failures: int, default_every: str) -> datetime:
    """When a source that just failed for the `failures`-th time in a row is tried again:
    `FAILURE_RETRY` doubled per earlier failure, never sooner than `min_every` and never
    later than its regular next check (`next_due`)."""
    regular = next_due(spec, after, default_every)
    wait = max(FAILURE_RETRY * 2 ** min(max(failures - 1, 0), 20), policy.current().min_every)
    return min(regular, after + wait)


def _strings(entry: Entry, key: str) -> tuple[str, ...]:
    value = entry.get(key)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"{key!r} must be a list of non-empty strings")
    return tuple(v.strip() for v in value)


def _flag(entry: Entry, key: str) -> bool:
    value = entry.get(key, False)
    if not isinstance(value, bool):
        raise ValueError(f"{key!r} must be true or false")
    return value


def validate(entry: Entry, origin: str) -> Spec:
    """A Spec from one file entry. Raises ValueError naming what is wrong."""
    unknown = set(entry) - _KEYS
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(sorted(unknown))}")
    for required in ("key", "place", "url", "kind"):
        if not isinstance(entry.get(required), str) or not entry[required].strip():
            raise ValueError(f"missing {required!r}")
    key, kind = entry["key"].strip(), entry["kind"].strip()
    if not KEY_RE.match(key):
        raise ValueError(f"key {key!r} must be lowercase letters, digits, '.', '_' or '-'")
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; known kinds: {', '.join(sorted(KINDS))}")
    url = entry["url"].strip()
    if not re.match(r"^https?://[^/\s]+", url) or _CONTROL.search(url) or " " in url:
        raise ValueError(f"invalid url {url!r}; give an absolute http(s) URL")
    title = str(entry.get("title") or url)
    if _CONTROL.search(title):
        # The title is the subject of this source's alerts: a line break there would be
        # refused as header injection when each alert is built, and the alert lost.
        raise ValueError(f"title {title!r} must be one line (no line breaks or control characters)")
    spec = Spec(
        key=key,
        place=entry["place"].strip(),
        title=title,
        url=url,
        kind=kind,
        origin=origin,
        select=_strings(entry, "select"),
        exclude=_strings(entry, "exclude"),
        ignore=_strings(entry, "ignore"),
        masks=_strings(entry, "masks"),
        keywords=_strings(entry, "keywords"),
        every=str(entry["every"]) if entry.get("every") is not None else None,
        cron=str(entry["cron"]) if entry.get("cron") is not None else None,
        verified=bool(entry.get("verified", False)),
        note=str(entry["note"]) if entry.get("note") else None,
        keep_furniture=_flag(entry, "keep_furniture"),
        where=f"{entry.where}:{entry.line}",
    )
    if spec.keep_furniture and kind != "pdf":
        raise ValueError(f"keep_furniture applies to pdf documents only, not to kind {kind!r}")
    if (spec.select or spec.exclude) and not KINDS[kind].selectors:
        raise ValueError(f"select/exclude apply to html pages only, not to kind {kind!r}")
    for css in spec.select + spec.exclude:
        compile_selector(css)
    spec.rules  # noqa: B018  (compiles the patterns and masks; raises ValueError)
    if spec.every and spec.cron:
        raise ValueError("give either every or cron, not both")
    if spec.every:
        parse_every(spec.every)
    if spec.cron:
        parse_cron(spec.cron)
    return spec


def source_files(root: Path, data_dir: Path) -> list[tuple[Path, str]]:
    """(file, origin) pairs: the shipped files by name (unless the policy turned them
    off), then the operator's file."""
    shipped = [(p, f"shipped:sources/{p.name}") for p in sorted((root / "sources").glob("*.yaml"))]
    if not policy.current().shipped:
        shipped = []
    operator = data_dir / OPERATOR_FILE
    return shipped + ([(operator, "operator")] if operator.is_file() else [])


def _entries(path: Path, origin: str = "") -> list[Entry]:
    """The entries under `sources:` (the operator's file may have none). Raises
    DataFileError naming the file and line."""
    return datafile.load_yaml(path).list("sources", required=origin != "operator")


def disabled_keys(data_dir: Path) -> set[str]:
    """The keys the operator switched off (`disabled:` in the operator's file). Raises
    DataFileError for a file that cannot be read or a list that is not one of keys."""
    path = data_dir / OPERATOR_FILE
    if not path.is_file():
        return set()
    value = datafile.load_yaml(path).get("disabled") or []
    if not isinstance(value, list) or not all(isinstance(k, str) for k in value):
        raise DataFileError(str(path), None, "'disabled' must be a list of source keys")
    return set(value)


def load_specs(files: list[tuple[Path, str]]) -> tuple[list[Spec], list[Problem], set[str]]:
    """(valid specs, problems, origins whose file was read whole)."""
    specs: dict[str, Spec] = {}
    problems: list[Problem] = []
    complete: set[str] = set()
    for path, origin in files:
        try:
            entries = _entries(path, origin)
        except DataFileError as exc:
            problems.append(Problem(str(path), None, str(exc)))
            continue
        complete.add(origin)
        for entry in entries:
            key = entry.get("key") if isinstance(entry.get("key"), str) else None
            try:
                spec = validate(entry, origin)
            except ValueError as exc:
                problems.append(Problem(f"{entry.where}:{entry.line}", key, str(exc)))
                continue
            if spec.key in specs:
                problems.append(
                    Problem(
                        spec.where, key, f"key already used at {specs[spec.key].where}; skipped"
                    )
                )
                continue
            specs[spec.key] = spec
    return list(specs.values()), problems, complete


@dataclass
class SyncReport:
    problems: list[Problem] = field(default_factory=list)
    added: int = 0
    updated: int = 0
    deactivated: int = 0


def files_digest(files: list[tuple[Path, str]]) -> str:
    h = hashlib.sha256()
    for path, origin in files:
        h.update(f"{origin}\0{path}\0".encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def sync(db: Database, root: Path, data_dir: Path, now: datetime | None = None) -> SyncReport:
    """Bring the `source` table in line with the files. Never raises for a bad entry.

    When the files are byte for byte those of the last clean sync (recorded in
    `data_file` under `sources/*`), nothing is parsed: a cycle over 1,000 sources does not
    pay for reading them again. Files with problems are read every time, so the problems
    are reported every time."""
    now = now or utcnow()
    files = source_files(root, data_dir)
    digest = files_digest(files)
    with db.read() as conn:
        stored = conn.execute(
            sa.select(DATA_FILE.c.sha256).where(DATA_FILE.c.path == SYNC_KEY)
        ).scalar()
    if stored == digest:
        return SyncReport()
    specs, problems, complete = load_specs(files)
    try:
        off = disabled_keys(data_dir)
    except DataFileError as exc:
        off = set()
        problems.append(Problem(str(data_dir / OPERATOR_FILE), None, str(exc)))
    specs = [spec for spec in specs if spec.key not in off]
    report = SyncReport(problems=problems)
    with db.write() as conn:
        existing = {r.key: r for r in conn.execute(sa.select(SOURCE))}
        if not policy.current().shipped:  # every shipped file counts as read, and empty
            complete |= {r.origin for r in existing.values() if r.origin.startswith("shipped:")}
        resolved: dict[str, str | TrackerError] = {}
        new_rows: list[dict[str, Any]] = []
        for spec in specs:
            if spec.place not in resolved:
                try:
                    resolved[spec.place] = places.resolve(conn, spec.place).code
                except TrackerError as exc:
                    resolved[spec.place] = exc
            code = resolved[spec.place]
            if isinstance(code, TrackerError):
                report.problems.append(Problem(spec.where, spec.key, str(code)))
                existing.pop(spec.key, None)  # keep its row as it is
                continue
            _upsert(conn, spec, code, existing.pop(spec.key, None), now, report, new_rows)
        if new_rows:
            conn.execute(SOURCE.insert(), new_rows)
        for row in existing.values():  # in no file any more (or in a file now broken)
            if row.active and row.origin in complete:
                conn.execute(SOURCE.update().where(SOURCE.c.id == row.id).values(active=False))
                report.deactivated += 1
        conn.execute(DATA_FILE.delete().where(DATA_FILE.c.path == SYNC_KEY))
        if not report.problems:
            conn.execute(DATA_FILE.insert().values(path=SYNC_KEY, sha256=digest, loaded_at=now))
    return report


def _upsert(
    conn: Connection,
    spec: Spec,
    place_code: str,
    row: Any,
    now: datetime,
    report: SyncReport,
    new_rows: list[dict[str, Any]],
) -> None:
    values = {
        "origin": spec.origin,
        "place_code": place_code,
        "title": spec.title,
        "url": spec.url,
        "host": host_key(spec.url),
        "kind": spec.kind,
        "spec": spec.to_json(),
        "spec_hash": spec.digest,
        "active": True,
    }
    if row is None:
        new_rows.append(
            dict(key=spec.key, next_check_at=now, failures=0, failing=False, created_at=now)
            | values
        )
        report.added += 1
    elif row.spec_hash != spec.digest or not row.active or row.place_code != place_code:
        if row.url != spec.url:  # validators of another URL mean nothing
            values.update(etag=None, last_modified=None, body_sha=None)
        conn.execute(SOURCE.update().where(SOURCE.c.id == row.id).values(**values))
        report.updated += 1
