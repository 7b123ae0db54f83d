"""The values of settings: conversion, checks, masking, and the effective `Settings`.

`tracker.settings` declares the settings and loads them; this module holds what does
not depend on the list of declarations, so the declarations stay one short module.

A check takes the converted value and returns what is wrong with it, as the end of a
sentence ("must be between 1 and 65535"), or None when the value is fine. They are
small and pure so that a new setting states its rule in its declaration:
`Setting("smtp_port", int, 587, "...", check=between(1, 65535))`.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit

from tracker.errors import ConfigError
from tracker.timeutil import interval

Check = Callable[[Any], str | None]


class Declared(Protocol):
    """What conversion needs of a declaration (`tracker.settings.Setting`)."""

    @property
    def name(self) -> str: ...
    @property
    def kind(self) -> type: ...
    @property
    def help(self) -> str: ...
    @property
    def secret(self) -> bool: ...
    @property
    def choices(self) -> tuple[str, ...]: ...
    @property
    def check(self) -> Check | None: ...


def between(low: float, high: float) -> Check:
    """A finite number from `low` to `high` (both included)."""

    def check(value: float) -> str | None:
        if not math.isfinite(value) or not low <= value <= high:
            return f"must be between {low:g} and {high:g}"
        return None

    return check


def one_interval(value: str) -> str | None:
    """An interval such as 30m, 6h, 1d, 2h30m."""
    try:
        interval(value)
    except ValueError as exc:
        return f"is not valid: {exc}"
    return None


def intervals(value: str) -> str | None:
    """Empty, or intervals separated by commas (5s,5m,30m,2h)."""
    for part in value.split(",") if value.strip() else []:
        problem = one_interval(part)
        if problem:
            return problem
    return None


def one_line(value: str) -> str | None:
    """Printable text on one line: no CR, LF or other control character."""
    if not value.isprintable():
        return "must be one line of printable text (no CR, LF or control characters)"
    return None


_ADDRESS = re.compile(r"[^@\s<>()\[\],;:\"]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*")


def address(value: str) -> str | None:
    """Empty, or a plain mail address (local@domain), as headers need it."""
    if value and (one_line(value) or not _ADDRESS.fullmatch(value)):
        return "must be a plain mail address such as tracker@example.org"
    return None


def http_url(value: str) -> str | None:
    """An absolute http:// or https:// URL with a host (and a valid port, if any)."""
    try:
        parts = urlsplit(value)
        port = parts.port  # a bad port raises ValueError
    except ValueError as exc:
        return f"is not a valid URL ({exc})"
    if parts.scheme not in ("http", "https") or not parts.hostname or one_line(value):
        return "must be an absolute http:// or https:// URL"
    del port
    return None


_HOST = re.compile(r"[A-Za-z0-9._-]+|\[?[0-9A-Fa-f:.]+\]?")


def host(value: str) -> str | None:
    """Empty, or a host name or an IP address (no scheme, no port)."""
    if value and not _HOST.fullmatch(value):
        return "must be a host name or an IP address (no scheme, no port)"
    return None


_KIND_NAMES = {int: "a whole number", float: "a number", bool: "true or false", str: "text"}


def convert(setting: Declared, raw: Any, where: str) -> Any:
    """`raw` (text from the environment, or a TOML value) as the setting's type, checked.
    Raises ConfigError naming the setting and `where` it was set."""
    try:
        if setting.kind is bool:
            if isinstance(raw, bool):
                value: Any = raw
            elif str(raw).strip().lower() in ("1", "true", "yes", "on"):
                value = True
            elif str(raw).strip().lower() in ("0", "false", "no", "off", ""):
                value = False
            else:
                raise ValueError(raw)
        elif setting.kind is int:
            if isinstance(raw, bool):
                raise ValueError(raw)
            value = int(raw)
        elif setting.kind is float:
            value = float(raw)
        else:
            if not isinstance(raw, str | int | float):
                raise ValueError(raw)
            value = str(raw)
    except (TypeError, ValueError):
        kind = _KIND_NAMES.get(setting.kind, setting.kind.__name__)
        raise ConfigError(
            f"{where}: {setting.name} = {raw!r} is not a valid {setting.kind.__name__}",
            f"Set {setting.name} to {kind}. {setting.help}",
        ) from None
    if setting.choices and value not in setting.choices:
        raise ConfigError(
            f"{where}: {setting.name} = {value!r} is not one of {', '.join(setting.choices)}",
            setting.help,
        )
    problem = setting.check(value) if setting.check else None
    if problem:
        raise ConfigError(f"{where}: {setting.name} = {raw!r} {problem}", setting.help)
    return value


class Settings:
    """Effective settings; read them as attributes (`settings.database_url`)."""

    def __init__(
        self,
        values: Mapping[str, Any],
        origins: Mapping[str, str],
        declared: Sequence[Declared] = (),
    ) -> None:
        self._values = dict(values)
        self._origins = dict(origins)
        self._declared = tuple(declared)

    def __getattr__(self, name: str) -> Any:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(name) from None

    def origin(self, name: str) -> str:
        return self._origins[name]

    def replace(self, **changes: Any) -> Settings:
        values = {**self._values, **changes}
        origins = {**self._origins, **{k: "override" for k in changes}}
        return Settings(values, origins, self._declared)

    def describe(self) -> list[tuple[str, str, str]]:
        """(name, shown value, origin) for every setting, secrets masked."""
        rows = []
        for s in self._declared:
            value = self._values.get(s.name)
            shown = mask(value) if s.secret or has_password(value) else repr(value)
            rows.append((s.name, shown, self._origins.get(s.name, "default")))
        return rows

    @property
    def data_path(self) -> Path:
        return Path(self._values["data_dir"]).expanduser()

    @property
    def effective_database_url(self) -> str:
        url = self._values.get("database_url") or ""
        if url:
            return str(url)
        return "sqlite:///" + str(self.data_path / "tracker.db")


def has_password(value: Any) -> bool:
    """True for a URL that carries credentials (`scheme://user:secret@host`)."""
    if not isinstance(value, str) or "://" not in value:
        return False
    netloc = value.split("://", 1)[1].split("/", 1)[0]
    return "@" in netloc and ":" in netloc.rsplit("@", 1)[0]


def mask(value: Any) -> str:
    if not value:
        return "(unset)"
    text = str(value)
    if "://" in text and "@" in text:  # keep the host of a URL, hide its credentials
        scheme, rest = text.split("://", 1)
        return f"{scheme}://***@{rest.rsplit('@', 1)[1]}"
    return "*** (set)"


def config_file_path(env: Mapping[str, str]) -> Path | None:
    explicit = env.get("TRACKER_CONFIG")
    if explicit:
        path = Path(explicit).expanduser()
        if not path.is_file():
            raise ConfigError(
                f"settings file {path} (from TRACKER_CONFIG) does not exist",
                "Create it, or unset TRACKER_CONFIG to use the defaults.",
            )
        return path
    import platformdirs

    default = Path(platformdirs.user_config_dir("tracker", appauthor=False)) / "tracker.toml"
    return default if default.is_file() else None
