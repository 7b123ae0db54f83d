"""`tracker export` bad input (exit 2 with a message and a hint) and atomic files: a
failed export never leaves a previous one half-written, `regenerate_exports` writes every
export into the export folder."""

from __future__ import annotations

import json
import os
import time
from datetime import date
from pathlib import Path
from typing import Any, TextIO

import pytest

from tracker.errors import UsageError
from tracker.export import EXPORT_FILES, export, export_folder, regenerate_exports
from tracker.export import registry as registry_mod
from tracker.export.registry import Format, formats
from tracker.settings import load_settings
from tracker.storage.engine import Database

pytestmark = pytest.mark.parametrize("loaded_url", ["sqlite"], indirect=True)


@pytest.fixture
def db_env(loaded_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("TRACKER_DATABASE_URL", loaded_url)
    return loaded_url


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--format", "pdf"], "unknown export format: 'pdf'"),
        (["--format", "json", "--as-of", "2999-01-01"], "is in the future"),
        (["--format", "json", "--as-of", "1999-12-31"], "is before any record"),
        (["--format", "json", "--as-of", "yesterday-ish"], "invalid --as-of"),
        (["--format", "json", "--substance", "coffee"], "not a substance"),
        ([], "missing --format"),
        (["--all", "--format", "json"], "--all writes every format"),
    ],
)
def test_bad_input_exits_2_with_a_hint(
    cli: Any, db_env: str, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "status.json"
    r = cli("export", *args, "-o", str(out))
    assert r.code == 2, (r.out, r.err)
    assert message in r.err
    assert len(r.err.strip().splitlines()) == 2  # the message, then what to do
    assert not out.exists()


def test_unknown_format_lists_the_formats(cli: Any, db_env: str) -> None:
    r = cli("export", "--format", "pdf")
    assert "Accepted formats: json, ndjson, csv, shipping, atom, html." in r.err
    assert list(formats()) == ["json", "ndjson", "csv", "shipping", "atom", "html"]
    assert all(f.help for f in formats().values())


def test_unwritable_output_paths(cli: Any, db_env: str, tmp_path: Path) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("not a folder")
    cases = {
        tmp_path / "missing" / "status.json": "No such file or directory",
        a_file / "status.json": "Not a directory",
        tmp_path: "it is a folder",
    }
    for path, reason in cases.items():
        r = cli("export", "--format", "json", "-o", str(path))
        assert r.code == 2, path
        assert f"cannot write {path}: {reason}" in r.err
    assert a_file.read_text() == "not a folder"
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]
    assert not (tmp_path / "missing").exists()


def _failing(fmt: Format) -> Format:
    def write(snapshot: Any, out: TextIO, suffix: str) -> None:
        fmt.write(snapshot, out, suffix)
        raise RuntimeError("disk went away half-way")

    return Format(fmt.name, fmt.help, write, fmt.suffixes, fmt.needs)


def test_a_failed_export_leaves_the_previous_file_whole(
    loaded_db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "status.json"
    export(loaded_db, "json", out)
    before = out.read_bytes()
    json.loads(before)
    os.chmod(out, 0o640)
    # A crash in the middle of writing cannot be produced for real: inject it.
    monkeypatch.setitem(registry_mod._FORMATS, "json", _failing(formats()["json"]))
    with pytest.raises(RuntimeError, match="half-way"):
        export(loaded_db, "json", out)
    assert out.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    monkeypatch.undo()
    with pytest.raises(UsageError):
        export(loaded_db, "json", out, as_of=date(1900, 1, 1))
    assert out.read_bytes() == before
    export(loaded_db, "csv", out.with_suffix(".csv"))
    export(loaded_db, "json", out)
    assert out.read_bytes() != before and oct(out.stat().st_mode & 0o777) == "0o640"


def test_regenerate_writes_every_export_atomically(loaded_db: Database, tmp_path: Path) -> None:
    folder = tmp_path / "exports" / "public"
    stale = folder / ".status.json.abc.tmp"
    folder.mkdir(parents=True)
    stale.write_text("left by a crash")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    written = regenerate_exports(loaded_db, folder)
    names = sorted(p.name for p in folder.iterdir())
    expected = [name for _, name in EXPORT_FILES]
    expected += [n.replace(".", "-7-oh.", 1) for n in expected]
    assert sorted(p.name for p in written) == sorted(expected) == names
    doc = json.loads((folder / "status-7-oh.json").read_text(encoding="utf-8"))
    fl = next(p for p in doc["places"] if p["place"]["code"] == "US-FL")
    assert doc["substance"] == "7-OH" and fl["substance"] == "7-OH"
    assert (folder / "status.html").read_text(encoding="utf-8").startswith("<!DOCTYPE html>")


def test_export_all_uses_the_export_dir_setting(
    cli: Any, db_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert export_folder(load_settings()) == tmp_path / "data" / "exports"
    target = tmp_path / "public"
    monkeypatch.setenv("TRACKER_EXPORT_DIR", str(target))
    assert export_folder(load_settings()) == target
    r = cli("export", "--all")
    assert r.code == 0, r.err
    assert sorted(Path(line).name for line in r.out.splitlines()) == sorted(
        p.name for p in target.iterdir()
    )
    assert (target / "shipping.csv").read_text(encoding="utf-8").startswith("list,code,")
