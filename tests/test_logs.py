from __future__ import annotations

import io
import json
import logging

import pytest

from tracker import logs


@pytest.fixture(autouse=True)
def restore_root_logger():  # type: ignore[no-untyped-def]
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_json_lines_when_not_a_terminal() -> None:
    stream = io.StringIO()
    logs.configure("INFO", "auto", stream)
    logging.getLogger("tracker.test").info("checked %d sources", 3, extra={"source_id": 7})
    logging.getLogger("tracker.test").debug("hidden")
    (line,) = stream.getvalue().splitlines()
    record = json.loads(line)
    assert record["msg"] == "checked 3 sources" and record["source_id"] == 7
    assert record["level"] == "INFO" and record["logger"] == "tracker.test"
    assert record["ts"].endswith("+00:00")


def test_text_when_asked() -> None:
    stream = io.StringIO()
    logs.configure("WARNING", "text", stream)
    logging.getLogger("tracker.test").warning("careful")
    assert "WARNING tracker.test: careful" in stream.getvalue()
