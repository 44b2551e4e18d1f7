"""A real browser for the console's tests: Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium`` (``make test``
installs Debian's package where it can). Headless, with a fresh profile (Playwright's
own per launch), and with the background networking that would try to reach the outside
turned off.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from playwright.async_api import Browser, async_playwright

from tests.support.services import require_program

FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@asynccontextmanager
async def chromium() -> AsyncIterator[Browser]:
    """Chromium, started for the block and stopped (with its driver) after it."""
    executable = require_program("chromium", "Debian's chromium; make test installs it")
    async with async_playwright() as playwright:
        # Playwright gives each launch a fresh, temporary profile of its own.
        browser = await playwright.chromium.launch(
            executable_path=executable, headless=True, args=FLAGS
        )
        try:
            yield browser
        finally:
            await browser.close()
