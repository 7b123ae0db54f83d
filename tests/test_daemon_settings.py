"""Bad settings stop `tracker run` before it touches anything (exit 2, a message naming
the setting and what to do); fixed settings start it. The scheduling policy (min_every,
check_jitter) is the same for every command."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.support.daemons import DaemonGroup, daemon_env
from tracker.service.daemon_config import apply_policy
from tracker.settings import load_settings
from tracker.watch import policy
from tracker.watch.sources import Spec, next_due, parse_every


@pytest.mark.parametrize(
    ("env", "toml", "message"),
    [
        ({"TRACKER_CONFIG": "{tmp}/missing.toml"}, None, "does not exist"),
        ({}, "http_port = [", "is not valid TOML"),
        ({}, "check_pol = 1", "unknown setting 'check_pol'"),
        ({}, "smtp_password = 'x'", "read only from the environment"),
        ({"TRACKER_CHECK_POLL": "soon"}, None, "check_poll = 'soon' is not a valid float"),
        ({"TRACKER_CHECK_POLL": "5", "TRACKER_CHECK_LEASE": "6"}, None, "shorter than twice"),
        ({"TRACKER_DISPATCH_BATCH": "0"}, None, "dispatch_batch = '0' must be between 1 and 10000"),
        ({"TRACKER_MIN_EVERY": "often"}, None, "min_every = 'often' is not valid"),
        ({"TRACKER_CHECK_JITTER": "2"}, None, "check_jitter = '2' must be between 0 and 1"),
        ({"TRACKER_HTTP_PORT": "70000"}, None, "http_port = '70000' must be between 0 and 65535"),
        ({"TRACKER_RETRY_DELAYS": "5s,soon"}, None, "invalid interval 'soon'"),
        (
            {"TRACKER_SMTP_HOST": "mail.example.org", "TRACKER_SMTP_TLS": "none"},
            None,
            "mail would cross the network in the clear",
        ),
    ],
)
def test_bad_settings_stop_run_before_anything(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, env, toml, message
) -> None:  # type: ignore[no-untyped-def]
    if toml is not None:
        (tmp_path / "tracker.toml").write_text(toml + "\n")
        monkeypatch.setenv("TRACKER_CONFIG", str(tmp_path / "tracker.toml"))
    for name, value in env.items():
        monkeypatch.setenv(name, value.format(tmp=tmp_path))
    result = cli("run")
    assert result.code == 2, result
    assert message in result.err
    assert not (tmp_path / "data").exists()  # nothing was created


def test_a_fixed_settings_file_starts_the_daemon(tmp_path: Path) -> None:
    settings = tmp_path / "tracker.toml"
    settings.write_text("check_poll = 'often'\n")
    env = daemon_env(data_dir=tmp_path / "data", config=settings)
    with DaemonGroup(tmp_path) as group:
        bad = group.start("bad", env)
        assert bad.wait(180) == 2
        assert "check_poll = 'often' is not a valid float" in bad.errors()
        settings.write_text("check_poll = 0.5\nhttp_host = '127.0.0.1'\n")
        good = group.start("good", env).wait_ready()
        assert f"data dir  {tmp_path / 'data'}" in good.output()
        assert "tracker.db" in good.output() and "mail" in good.output()
        assert good.json("/healthz")["status"] == "ok"
        assert good.stop() == 0


def test_min_every_and_jitter_shape_every_next_check(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = Spec(
        key="k",
        place="US-RI",
        title="t",
        url="https://x.test/",
        kind="html",
        origin="operator",
        every="10s",
    )
    try:
        monkeypatch.setenv("TRACKER_MIN_EVERY", "1m")
        apply_policy(load_settings())
        with pytest.raises(ValueError, match="shorter than one minute"):
            parse_every("10s")
        monkeypatch.setenv("TRACKER_MIN_EVERY", "5s")
        monkeypatch.setenv("TRACKER_CHECK_JITTER", "0.5")
        apply_policy(load_settings())
        after = datetime(2026, 1, 1, tzinfo=UTC)
        dues = [next_due(spec, after, "24h") - after for _ in range(200)]
        assert min(dues) >= timedelta(seconds=10) and max(dues) <= timedelta(seconds=15)
        assert len(set(dues)) > 100  # spread, not one value
    finally:
        policy.configure(min_every=policy.MIN_EVERY, jitter=0.0)
