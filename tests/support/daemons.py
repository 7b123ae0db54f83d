"""Real daemon processes for tests: `python -m tracker run`, observed and always stopped.

    with DaemonGroup(tmp_path) as group:
        d = group.start("a", env)          # a subprocess; stdout and stderr go to files
        d.wait_ready()                     # the banner: its HTTP addresses and replica id
        d.get("/healthz")                  # (status, body, headers); operations paths
                                           # (/healthz, /livez, /readyz, /metrics,
                                           # /status.json, /snapshots/) go to the ops port
        d.stop(signal.SIGTERM)             # exit status, after a clean stop
        d.kill()                           # SIGKILL
        d.logs()                           # the JSON log lines it wrote to stderr

Every process still running when the group closes is killed (SIGKILL), even when the
test failed, so no daemon outlives its test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

_HTTP = re.compile(r"^\s+http\s+(http://\S+)", re.M)
_OPS = re.compile(r"^\s+ops\s+(http://\S+)", re.M)
# Served on the operations address (`ops_host`:`ops_port`), not the public one.
OPS_PATHS = ("/healthz", "/livez", "/readyz", "/metrics", "/status.json", "/snapshots/")
_OWNER = re.compile(r"^\s+replica\s+(\S+)", re.M)


def daemon_env(**settings: Any) -> dict[str, str]:
    """This process's environment (the isolated test one) plus TRACKER_* settings."""
    env = dict(os.environ)
    env.update({f"TRACKER_{k.upper()}": str(v) for k, v in settings.items()})
    env.setdefault("TRACKER_LOG_FORMAT", "json")
    env.setdefault("TRACKER_HTTP_PORT", "0")
    env.setdefault("TRACKER_OPS_PORT", "0")
    # Shipped sources are real sites: a daemon of the tests or the benchmarks never
    # checks them (nothing but 127.0.0.1 is contacted), unless a caller turns them on.
    env.setdefault("TRACKER_SHIPPED_SOURCES", "false")
    return env


class Daemon:
    def __init__(self, folder: Path, name: str, env: dict[str, str]) -> None:
        self.name = name
        self.out_path = folder / f"{name}.out"
        self.err_path = folder / f"{name}.err"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tracker", "run"],
                env=env,
                stdout=out,
                stderr=err,
                stdin=subprocess.DEVNULL,
                cwd=folder,
            )
        self.base = ""
        self.ops = ""
        self.owner = ""

    @property
    def pid(self) -> int:
        return self.proc.pid

    def output(self) -> str:
        return self.out_path.read_text(errors="replace")

    def errors(self) -> str:
        return self.err_path.read_text(errors="replace")

    def wait_ready(self, timeout: float = 180.0) -> Daemon:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            out = self.output()
            http, ops, owner = _HTTP.search(out), _OPS.search(out), _OWNER.search(out)
            if http and ops and owner:
                self.base, self.ops, self.owner = http.group(1), ops.group(1), owner.group(1)
                return self
            if self.proc.poll() is not None:
                raise AssertionError(
                    f"daemon {self.name} exited with {self.proc.returncode}:\n"
                    f"{out}\n{self.errors()[-3000:]}"
                )
            time.sleep(0.05)
        raise AssertionError(
            f"daemon {self.name} not ready in {timeout} s:\n{self.errors()[-3000:]}"
        )

    def get(self, path: str, method: str = "GET") -> tuple[int, bytes, dict[str, str]]:
        base = self.ops if path.startswith(OPS_PATHS) else self.base
        request = urllib.request.Request(base + path, method=method)
        try:
            with urllib.request.urlopen(request, timeout=10) as r:
                return r.status, r.read(), dict(r.headers)
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read(), dict(exc.headers)

    def json(self, path: str) -> Any:
        status, body, _ = self.get(path)
        assert status == 200, (path, status, body)
        return json.loads(body)

    def send(self, sig: int) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)

    def wait(self, timeout: float = 180.0) -> int:
        return self.proc.wait(timeout)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 180.0) -> int:
        """Send `sig` and wait for the exit status. A daemon still running after `timeout`
        fails the test with its thread stacks (SIGUSR1 makes it write them)."""
        self.send(sig)
        try:
            return self.wait(timeout)
        except subprocess.TimeoutExpired:
            self.send(signal.SIGUSR1)
            time.sleep(2)
            stacks = self.errors()[-8000:]
            self.kill()
            raise AssertionError(
                f"daemon {self.name} still running {timeout} s after {sig!r}:\n{stacks}"
            ) from None

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)

    def logs(self) -> list[dict[str, Any]]:
        lines = []
        for line in self.errors().splitlines():
            if line.startswith("{"):
                try:
                    lines.append(json.loads(line))
                except ValueError:
                    continue
        return lines


class DaemonGroup:
    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.daemons: list[Daemon] = []

    def start(self, name: str, env: dict[str, str]) -> Daemon:
        d = Daemon(self.folder, name, env)
        self.daemons.append(d)
        return d

    def __enter__(self) -> DaemonGroup:
        return self

    def __exit__(self, *exc: object) -> None:
        for d in self.daemons:
            d.kill()


def sqlite_data_dir(tmp_path: Path, template: Path) -> Path:
    """A data folder holding a copy of the session's loaded SQLite template (no minute
    spent loading places and records in each test)."""
    data = tmp_path / "data"
    data.mkdir(parents=True, exist_ok=True)
    shutil.copy(template, data / "tracker.db")
    return data


def write_sources(data_dir: Path, entries: list[dict[str, str]]) -> None:
    """The operator's sources file, one entry per dict (plain string values)."""
    lines = ["sources:"]
    for entry in entries:
        first = True
        for key, value in entry.items():
            lines.append(f"  {'- ' if first else '  '}{key}: {value}")
            first = False
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "sources.yaml").write_text("\n".join(lines) + "\n")
