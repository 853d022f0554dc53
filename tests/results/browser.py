"""Headless Chromium for the results pages: Debian's chromium driven by Playwright.

Where chromium or Playwright is missing the browser tests skip with the reason, except under
``CI=true``, where a missing browser fails them (CI installs both: ``apt-get install chromium``
and the ``playwright`` Python package; ``playwright install`` is never run).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu",
                 "--disable-background-networking", "--disable-component-update",
                 "--no-first-run"]


def missing_browser() -> str | None:
    """Why no browser can run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is absent (apt-get install -y chromium)"
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "the playwright Python package is absent (pip install playwright)"
    return None


def require_browser() -> None:
    """Skip (fail under CI=true) when the browser is missing."""
    reason = missing_browser()
    if reason is None:
        return
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI=true needs the headless browser: {reason}")
    pytest.skip(reason)


def image_states(*page_paths: Path) -> list[list[dict[str, Any]]]:
    """Open local pages in one headless Chromium; per page, for every ``<img>``: its ``src``,
    whether it finished loading and its natural width (0 when the image did not load)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True,
                                             args=CHROMIUM_ARGS)
        try:
            page = browser.new_page()
            found = []
            for path in page_paths:
                page.goto(path.resolve().as_uri(), wait_until="load")
                found.append(page.eval_on_selector_all(
                    "img", "images => images.map(image => ({src: image.getAttribute('src'), "
                    "complete: image.complete, width: image.naturalWidth}))"))
        finally:
            browser.close()
    return found
