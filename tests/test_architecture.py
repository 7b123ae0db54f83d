"""The package's shape: layers that import only downwards, no import circles, small
modules, and read-only commands that load only what they use.

The layer contracts live in `pyproject.toml` (`[tool.importlinter]`) and are run here with
import-linter, so a change that imports up the layers or closes a circle fails the suite.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "tracker"
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")
LAYERS = ["cli", "service", "web", "export", "watch", "law", "alerts", "storage"]


def _lint(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=cwd,
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_import_contracts_are_kept() -> None:
    done = _lint(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout, done.stdout


def test_the_contracts_catch_an_upward_import_and_a_circle(tmp_path: Path) -> None:
    """The same contract types on a toy package with one upward import and one circle."""
    pkg = tmp_path / "toy"
    for sub in ("low", "high"):
        (pkg / sub).mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "low" / "__init__.py").write_text("")
    (pkg / "high" / "__init__.py").write_text("")
    (pkg / "low" / "a.py").write_text("from toy.high import c\nfrom toy.low import b\n")
    (pkg / "low" / "b.py").write_text("def f():\n    from toy.low import a\n")
    (pkg / "high" / "c.py").write_text("from toy.low import b\n")
    (tmp_path / ".importlinter").write_text(
        textwrap.dedent(
            """
            [importlinter]
            root_package = toy
            [importlinter:contract:layers]
            name = layers
            type = layers
            layers =
                toy.high
                toy.low
            [importlinter:contract:circles]
            name = circles
            type = acyclic_siblings
            ancestors = toy
            """
        )
    )
    done = _lint(tmp_path, {"PYTHONPATH": str(tmp_path)})
    assert done.returncode == 1, done.stdout + done.stderr
    assert "toy.low.a -> toy.high.c" in done.stdout
    assert "Contracts: 0 kept, 2 broken." in done.stdout


def test_every_layer_says_what_it_owns_and_may_import() -> None:
    readme = (ROOT / "README.md").read_text()
    for layer in LAYERS:
        doc = ast.get_docstring(ast.parse((PACKAGE / layer / "__init__.py").read_text()))
        assert doc, layer
        if layer != "cli":
            assert "May import:" in doc, layer
        assert f"`tracker/{layer}/`" in readme, f"README Architecture misses {layer}"


def test_no_module_over_500_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if "versions" not in p.parts and (n := len(p.read_text().splitlines())) > 500
    }
    assert not long, long


HEAVY = [
    "jinja2",
    "requests",
    "urllib3",
    "bs4",
    "lxml",
    "apscheduler",
    "alembic",
    "aiosmtplib",
    "yaml",
    "sqlalchemy.dialects.postgresql",
]

# What `tracker status` leaves out besides: the write side of the history and its events,
# the record-file parser, and (with nothing under review) the watch tables.
NOT_FOR_STATUS = [
    "tracker.alerts.events",
    "tracker.law.history",
    "tracker.law.recordfile",
    "tracker.storage.tables_watch",
    "tracker.watch.changes",
    "difflib",
]


@pytest.mark.parametrize(
    "argv",
    [["status", "US-AL"], ["history", "US-RI"], ["list", "--in", "US"], ["--help"]],
    ids=lambda a: " ".join(a),
)
def test_read_only_commands_load_only_what_they_use(
    argv: list[str], tmp_path: Path, loaded_sqlite_dir: Path
) -> None:
    """After a first start has prepared the database, a read-only command imports no
    template engine, no HTTP stack, no scheduler and no migration tool; `status`, the
    command asked most, not even the parts of the package that only write."""
    unwanted = HEAVY + (NOT_FOR_STATUS if argv[0] == "status" else [])
    probe = textwrap.dedent(
        f"""
        import json, sys
        from tracker.cli import main
        code = 0
        try:
            main({argv!r})
        except SystemExit as exc:
            code = exc.code
        heavy = sorted(m for m in {unwanted!r} if m in sys.modules)
        print("\\nPROBE" + json.dumps({{"code": code, "heavy": heavy}}))
        """
    )
    env = {**os.environ, "TRACKER_DATA_DIR": str(loaded_sqlite_dir)}
    env.pop("TRACKER_DATABASE_URL", None)
    done = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
    )
    report = json.loads(done.stdout.rsplit("PROBE", 1)[1])
    assert report["code"] in (0, None), done.stdout + done.stderr
    assert report["heavy"] == [], report


def test_the_program_skips_the_collections_at_exit_and_main_does_not(
    loaded_sqlite_dir: Path,
) -> None:
    """`program` (the console script, `python -m tracker`) freezes what is alive when the
    command ends, so the interpreter's collections at exit skip it; `main`, which the
    tests and other long-lived callers use, leaves the collector as it was."""
    env = {**os.environ, "TRACKER_DATA_DIR": str(loaded_sqlite_dir)}
    env.pop("TRACKER_DATABASE_URL", None)
    # Frozen by this process, beyond what the interpreter froze at start (Python 3.12
    # starts with a few hundred objects in the permanent generation, 3.11 with none).
    report = "print('FROZEN', gc.get_freeze_count() - BASE)"
    probes = {
        "main": (
            "import gc\nBASE = gc.get_freeze_count()\n"
            f"from tracker.cli import main\nmain(['status', 'US-AL'])\n{report}"
        ),
        "program": (
            "import atexit, gc, sys\nBASE = gc.get_freeze_count()\n"
            f"atexit.register(lambda: {report})\n"
            "sys.argv = ['tracker', 'status', 'US-AL']\n"
            "from tracker.cli import program\nprogram()\n"
        ),
    }
    frozen = {}
    for name, probe in probes.items():
        done = subprocess.run(
            [sys.executable, "-c", probe], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 0, done.stdout + done.stderr
        assert "Alabama (US-AL)" in done.stdout, done.stdout
        frozen[name] = int(done.stdout.rsplit("FROZEN", 1)[1])
    assert frozen["main"] == 0
    assert frozen["program"] > 10_000
