"""Headless Chromium for the browser tests: Debian's chromium driven by Playwright (its own
browser download does not work on these machines: ../shared/style.md), one browser per test module."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CHROMIUM = os.environ.get("CHROMIUM_PATH") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
SHOTS = Path(__file__).resolve().parents[1] / "test-artifacts" / "screenshots"



def launch_chromium() -> Iterator:
    """The browser for a module-scoped fixture; skips where Chromium or playwright is missing."""
    if not Path(CHROMIUM).exists():
        pytest.skip(f"no Chromium at {CHROMIUM}: install Debian's chromium (bash scripts/setup.sh --browser)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


def wait_until(page, expression: str, timeout: float = 15.0) -> None:
    """Poll a JS expression from Python: Playwright's wait_for_function evaluates with eval(), which
    the page's CSP (rightly) forbids, while page.evaluate runs outside the page's CSP."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {expression}")
        page.wait_for_timeout(50)


def shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)
