from __future__ import annotations

from pathlib import Path

import pytest

from tracker.errors import ConfigError
from tracker.settings import DECLARED, load_settings


def test_defaults_then_file_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "tracker.toml"
    config.write_text('http_port = 9000\nlog_level = "DEBUG"\n')
    env = {"TRACKER_CONFIG": str(config), "TRACKER_HTTP_PORT": "9100"}
    s = load_settings(env)
    assert s.http_port == 9100 and s.origin("http_port") == "env:TRACKER_HTTP_PORT"
    assert s.log_level == "DEBUG" and s.origin("log_level") == f"file:{config}"
    assert s.http_host == "127.0.0.1" and s.origin("http_host") == "default"


def test_default_database_is_sqlite_in_the_data_dir(tmp_path: Path) -> None:
    s = load_settings({"TRACKER_DATA_DIR": str(tmp_path)})
    assert s.effective_database_url == f"sqlite:///{tmp_path}/tracker.db"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("http_port = [\n", "not valid TOML"),
        ("http_port = 'eighty'\n", "not a valid int"),
        ("colour = 'red'\n", "unknown setting"),
        ("log_level = 'LOUD'\n", "not one of"),
        ("database_url = 'postgresql://u:secret@db/x'\n", "environment"),
    ],
)
def test_bad_settings_file(tmp_path: Path, content: str, message: str) -> None:
    config = tmp_path / "tracker.toml"
    config.write_text(content)
    with pytest.raises(ConfigError) as err:
        load_settings({"TRACKER_CONFIG": str(config)})
    assert message in str(err.value) and err.value.exit_code == 2


def test_missing_settings_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings({"TRACKER_CONFIG": str(tmp_path / "nope.toml")})


def test_secrets_are_masked() -> None:
    s = load_settings({"TRACKER_DATABASE_URL": "postgresql+psycopg://u:hunter2@db/x"})
    shown = dict((name, value) for name, value, _ in s.describe())
    assert "hunter2" not in shown["database_url"] and "db/x" in shown["database_url"]


def test_every_setting_has_help() -> None:
    for setting in DECLARED:
        assert setting.help.strip(), setting.name


def test_config_command_shows_origins_and_masks_secrets(
    cli, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("TRACKER_HTTP_PORT", "9999")
    monkeypatch.setenv("TRACKER_DATABASE_URL", "postgresql+psycopg://u:hunter2@db/x")
    r = cli("config")
    assert r.code == 0
    line = next(ln for ln in r.out.splitlines() if ln.startswith("http_port"))
    assert "9999" in line and "env:TRACKER_HTTP_PORT" in line
    assert "hunter2" not in r.out and "***@db/x" in r.out
    monkeypatch.setenv("TRACKER_HTTP_PORT", "eighty")
    bad = cli("config")
    assert bad.code == 2 and "a whole number" in bad.err
