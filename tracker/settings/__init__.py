"""Settings, declared once: name, type, default, help, and whether it is a secret.

Precedence, lowest first: the declared default, the TOML file, then `TRACKER_<NAME>`
environment variables. Secrets are read only from the environment: a secret in the TOML
file is an error, so a settings file can be shared or committed without leaking anything.

The TOML file is `$TRACKER_CONFIG` when set (it must then exist), else
`<user config dir>/tracker.toml` when that exists. Keys are the setting names, flat:

    database_url = "postgresql+psycopg://tracker@db/tracker"
    http_port = 8750

`Settings.origin(name)` says where each value came from (`default`, `file:PATH`,
`env:TRACKER_NAME`), which `tracker config` prints.

Every value is validated when it is read, by its declaration: its type, `choices`, and
`check` (a range or a format, `tracker.valuecheck`). A bad value stops every command
before it does anything: ConfigError (exit 2) naming the setting and where it was set.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

from tracker.errors import ConfigError
from tracker.settings import daemon, delivery, general, watching
from tracker.settings.base import Setting
from tracker.valuecheck import Settings, config_file_path, convert, has_password

__all__ = ["DECLARED", "Setting", "Settings", "config_file_path", "declare", "load_settings"]


# Defaults that depend on the machine are callables, evaluated when settings are loaded.
# The declarations live by section (`general`, `delivery`, `watching`, `daemon`); their
# order here is the order of `tracker config` and of the README's settings table.
DECLARED: tuple[Setting, ...] = (
    *general.DECLARED,
    *delivery.DECLARED,
    *watching.DECLARED,
    *daemon.DECLARED,
)

_BY_NAME: dict[str, Setting] = {s.name: s for s in DECLARED}


def declare(*settings: Setting) -> None:
    """Add settings from another module (notifiers, fetch, ...); names must be new."""
    global DECLARED
    for s in settings:
        if s.name in _BY_NAME:
            raise ValueError(f"setting {s.name} declared twice")
        _BY_NAME[s.name] = s
    DECLARED = tuple(_BY_NAME.values())


def load_settings(env: Mapping[str, str] | None = None) -> Settings:
    """Defaults, then the TOML file, then the environment. Raises ConfigError."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    origins: dict[str, str] = {}
    for s in DECLARED:
        default = s.default() if isinstance(s.default, Callable) else s.default  # type: ignore[arg-type]
        values[s.name], origins[s.name] = default, "default"

    path = config_file_path(env)
    if path is not None:
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read settings file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(
                f"settings file {path} is not valid TOML: {exc}",
                "Fix the line named above; settings are flat `name = value` pairs.",
            ) from None
        for key, raw in data.items():
            setting = _BY_NAME.get(key)
            if setting is None:
                raise ConfigError(
                    f"{path}: unknown setting {key!r}",
                    "Run `tracker config` to list the settings.",
                )
            if setting.secret or has_password(raw):
                raise ConfigError(
                    f"{path}: {key} is a secret and is read only from the environment",
                    f"Remove it from the file and set {setting.env} instead.",
                )
            values[key], origins[key] = convert(setting, raw, str(path)), f"file:{path}"

    for s in DECLARED:
        if s.env in env:
            values[s.name] = convert(s, env[s.env], s.env)
            origins[s.name] = f"env:{s.env}"
    return Settings(values, origins, DECLARED)
