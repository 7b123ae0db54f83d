"""deploy/ stays honest: the systemd unit verifies, the compose file and the environment
example name only real settings. (No container engine runs here: the image is not built.)"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

from tracker.settings import DECLARED

DEPLOY = Path(__file__).resolve().parent.parent / "deploy"
KNOWN = {s.env for s in DECLARED} | {"TRACKER_CONFIG"}  # the settings file itself


def test_systemd_unit_verifies(tmp_path: Path) -> None:
    unit = (DEPLOY / "tracker.service").read_text()
    for needed in (
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "StateDirectory=tracker",
        "NoNewPrivileges=yes",
        "KillSignal=SIGTERM",
        "RestartPreventExitStatus=2",
    ):
        assert needed in unit, needed
    # Verify the unit as it would run here: ExecStart pointed at this install's tracker.
    tracker = Path(sys.executable).with_name("tracker")
    local = tmp_path / "tracker.service"
    local.write_text(unit.replace("/opt/tracker/bin/tracker", str(tracker)))
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is missing (Debian package systemd)"
    result = subprocess.run([analyze, "verify", str(local)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_compose_runs_postgres_and_two_replicas() -> None:
    doc = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
    services = doc["services"]
    replicas = [name for name in services if name.startswith("tracker-")]
    assert "db" in services and len(replicas) == 2
    ports = set()
    for name in replicas:
        service = services[name]
        env = service["environment"]
        assert env["TRACKER_DATABASE_URL"].startswith("postgresql+psycopg://")
        assert "@db:" in env["TRACKER_DATABASE_URL"]
        assert set(env) <= KNOWN
        assert service["depends_on"]["db"]["condition"] == "service_healthy"
        ports.update(service["ports"])
    assert len(ports) == 2  # one HTTP port per replica


def test_environment_example_names_real_settings() -> None:
    text = (DEPLOY / "tracker.env.example").read_text()
    names = set(re.findall(r"^#?(TRACKER_[A-Z_]+)=", text, re.M))
    assert names and names <= KNOWN, names - KNOWN
    for needed in (
        "TRACKER_SMTP_HOST",
        "TRACKER_SMTP_PASSWORD",
        "TRACKER_CHECK_LEASE",
        "TRACKER_DISPATCH_LEASE",
        "TRACKER_DB_RETRY_FOR",
    ):
        assert needed in names, needed
