"""Debian's headless Chromium through selenium, for the page tests.

    with chromium(tmp_path) as browser:       # a selenium WebDriver
        browser.get(url)
        errors(browser)                       # console errors (CSP violations among them)
        shot(browser, "name")                 # a screenshot in $TRACKER_TEST_ARTIFACTS

Screenshots go outside the source tree: $TRACKER_TEST_ARTIFACTS, or
<temp dir>/tracker-test-artifacts.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
# Read at import: the isolated_env fixture clears TRACKER_* variables before each test.
ARTIFACTS = Path(
    os.environ.get("TRACKER_TEST_ARTIFACTS")
    or Path(tempfile.gettempdir()) / "tracker-test-artifacts"
)


@contextmanager
def chromium(tmp_path: Path, height: int = 1600) -> Iterator[Any]:
    for binary in (CHROMIUM, CHROMEDRIVER):
        if not shutil.which(binary):
            pytest.fail(f"{binary} is missing: run tests/run (it installs chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        f"--user-data-dir={tmp_path / 'chromium-profile'}",
        f"--window-size=1280,{height}",
    ):
        options.add_argument(arg)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(60)
    try:
        yield driver
    finally:
        driver.quit()


def errors(browser: Any) -> list[dict[str, Any]]:
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "ERROR")]


def shot(browser: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    assert browser.save_screenshot(str(path)) and path.stat().st_size > 5_000
    return path
