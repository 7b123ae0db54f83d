"""Every `--json` output is held to its documentation: the shapes in the README section
"JSON output" are parsed (`{a, b: {c}, d: [thing...]}`, with "a **thing** is `{...}`"
lines) and compared key for key with what the commands really print, lists filled."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Templates, use_loaded_copy
from tests.support.pages import PageServer
from tests.support.receivers import WebhookReceiver
from tracker.cli.watch_common import OUTCOMES

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SECTION = README[README.index("### JSON output") : README.index("\n## Data\n")]
STATUTE = (Path(__file__).resolve().parent / "data" / "pages" / "statute.html").read_text()


def _split(text: str) -> list[str]:
    """Top-level comma-separated parts of a shape's inside."""
    parts, depth, current = [], 0, ""
    for ch in text:
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    return [p for p in [*parts, current.strip()] if p]


def parse(shape: str) -> dict[str, Any]:
    """`{a, b: {c}, d: [thing...]}` -> {a: None, b: {c: None}, d: ["thing"]}."""
    shape = shape.strip()
    assert shape.startswith("{") and shape.endswith("}"), shape
    out: dict[str, Any] = {}
    for part in _split(shape[1:-1]):
        key, _, value = part.partition(":")
        value = value.strip()
        if value.startswith("{"):
            out[key.strip()] = parse(value)
        elif value.startswith("["):
            inner = value[1:-1].replace("...", "").strip()
            out[key.strip()] = [parse(inner) if inner.startswith("{") else inner]
        else:
            out[key.strip()] = None
    return out


def documented() -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """(command -> shape, named shape -> shape) from the README's JSON output section."""
    text = " ".join(SECTION.split())
    commands: dict[str, dict[str, Any]] = {}
    named: dict[str, dict[str, Any]] = {}
    for m in re.finditer(r"- an? \*\*([\w ]+)\*\* is `(\{[^`]*\})`", text):
        named[m.group(1)] = parse(m.group(2))
    for m in re.finditer(r"- `([\w -]+)`: `(\{[^`]*\})`", text):
        commands[m.group(1)] = parse(m.group(2))
    for m in re.finditer(r"; `([\w -]+)`(?: and `[\w -]+`)?: `(\{[^`]*\})`", text):
        commands[m.group(1)] = parse(m.group(2))
    return commands, named


def check(real: Any, shape: dict[str, Any], named: dict[str, dict[str, Any]], where: str) -> None:
    assert isinstance(real, dict), where
    if len(shape) == 1 and next(iter(shape)).isupper():
        # `{LEVEL: {...}}`: a map whose keys are values (every level, every status).
        inner = next(iter(shape.values()))
        assert real, f"{where}: the test must fill this map"
        for key, value in real.items():
            if isinstance(inner, dict):
                check(value, inner, named, f"{where}.{key}")
            else:
                assert not isinstance(value, (dict, list)), f"{where}.{key}: not a plain value"
        return
    assert set(real) == set(shape), f"{where}: documented {sorted(shape)}, printed {sorted(real)}"
    for key, sub in shape.items():
        if isinstance(sub, dict) and real[key] is not None:
            check(real[key], sub, named, f"{where}.{key}")
        elif isinstance(sub, list) and (isinstance(sub[0], dict) or sub[0] in named):
            assert real[key], f"{where}.{key}: the test must fill this list"
            inner = sub[0] if isinstance(sub[0], dict) else named[sub[0]]
            check(real[key][0], inner, named, f"{where}.{key}[0]")
        elif isinstance(sub, list) and real[key]:
            first = real[key][0]
            assert not isinstance(first, dict), f"{where}.{key}: shape {sub[0]!r} not defined"


@pytest.fixture
def filled(
    cli: Any, templates: Templates, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Any]:
    """One of everything: a source with a relevant change (and its review item), a dead
    outbox row, a webhook endpoint, a stale record."""
    use_loaded_copy(
        templates,
        tmp_path,
        monkeypatch,
        allow_loopback="1",
        host_delay="0",
        fetch_retries="0",
        shipped_sources="false",
        stale_days="0",
        retry_delays="1s",
        smtp_host="127.0.0.1",
        smtp_port="9",  # nothing listens: the mail is retried, then dead
        smtp_tls="none",
    )
    with PageServer() as site, WebhookReceiver() as rx:
        site.page("/ri", STATUTE)
        assert cli("sources", "add", "US-RI", site.url("/ri"), "--key", "ri").code == 0
        cli("check")
        site.page("/ri", STATUTE.replace("twenty-one (21)", "eighteen (18)"))
        assert cli("check").code == 0
        cli("webhooks", "add", rx.url, "--place", "US-RI")
        cli("subscribe", "x@example.org", "--confirmed")
        cli("record", "TH", "legal", "--from", "2021-08-24", "--citation", "Act", "--source",
            "https://th.example/act")  # fmt: skip
        cli("outbox", "send")
        yield cli


COMMANDS: dict[str, list[str]] = {
    "check": ["check", "ri", "--json"],
    "changes": ["changes", "--json"],
    "sources": ["sources", "--json"],
    "outbox": ["outbox", "--json"],
    "webhooks list": ["webhooks", "list", "--json"],
    "review": ["review", "--json"],
    "review ITEM": ["review", "1", "--json"],
    "review --stale": ["review", "--stale", "--json"],
    "record": [
        "record",
        "US-RI",
        "banned",
        "--from",
        "2026-12-01",
        "--citation",
        "X",
        "--change",
        "1",
        "--json",
    ],
    "coverage": ["coverage", "--json"],
}


def test_the_readme_documents_every_shape_tested_here() -> None:
    commands, named = documented()
    assert set(COMMANDS) <= set(commands), sorted(set(COMMANDS) - set(commands))
    assert {"check result", "change", "source", "outbox row", "endpoint", "review item"} <= set(
        named
    )


def test_every_json_output_has_its_documented_shape(filled: Any) -> None:
    commands, named = documented()
    for name, args in COMMANDS.items():
        result = filled(*args)
        assert result.code in (0, 1), (name, result.err)
        check(json.loads(result.out), commands[name], named, name)


def test_status_answers_carry_under_review(filled: Any) -> None:
    (answer,) = json.loads(filled("status", "US-RI", "--json").out)["results"]
    found = re.search(r"`under_review` \(null, or `(\{[^`]*\})`", " ".join(SECTION.split()))
    assert found is not None
    check(answer["under_review"], parse(found.group(1)), {}, "status.under_review")


def test_errors_with_json_are_json_on_stderr(filled: Any) -> None:
    commands, _ = documented()
    failed = filled("status", "Nowhereland", "--json")
    assert failed.code == 2 and failed.out == ""
    doc = json.loads(failed.err)
    check(
        doc,
        commands["an error"]
        if "an error" in commands
        else parse(
            re.search(r"standard error: `(\{.*?\})`", " ".join(SECTION.split())).group(1)  # type: ignore[union-attr]
        ),
        {},
        "error",
    )
    assert "unknown place" in doc["error"]["message"] and doc["error"]["exit_code"] == 2
    usage = filled("review", "--bogus", "--json")
    assert usage.code == 2 and json.loads(usage.err)["error"]["exit_code"] == 2


def test_every_check_outcome_is_documented() -> None:
    text = " ".join(README[README.index("**Check outcomes**") :].split())[:2000]
    for outcome in OUTCOMES:
        assert f"`{outcome}`" in text, outcome


def test_tables_are_not_cut_when_piped(filled: Any) -> None:
    # Standard output is captured (not a terminal): long cells come out whole.
    long = "x" * 150
    done = filled("record", "FR", "legal", "--from", "2020-01-01", "--citation", long,
                  "--source", "https://fr.example/a")  # fmt: skip
    assert done.code == 0
    assert long in filled("status", "FR").out and long in filled("history", "FR").out
