"""Browser fixtures: Debian's Chromium driven by Playwright (it cannot download its own browser here)."""

from __future__ import annotations

import os

import pytest

from tests.conftest import REPO

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--no-first-run", "--disable-sync"]


@pytest.fixture
def chromium(monkeypatch):
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(f"Browser tests need Chromium at {CHROMIUM}: run `make chromium` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    # Playwright's sync API keeps an event loop running in this thread; the ORM calls the test
    # makes meanwhile are ordinary synchronous ones, which Django refuses unless told.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def no_pending_tasks():
    """The write paths enqueue recomputes on commit; no worker runs here, so clear them afterwards."""
    yield
    from tests.conftest import _purge_queue

    _purge_queue()


@pytest.fixture
def browser_page(chromium):
    """A page at the ward tablet's size (1024 x 768)."""
    page = chromium.new_page(viewport={"width": 1024, "height": 768})
    page.set_default_timeout(15_000)
    yield page
    page.close()
