"""A real browser for the console's tests: Debian's Chromium driven by Playwright.

Playwright never downloads a browser here: it drives ``/usr/bin/chromium`` (``make test``
installs Debian's package where it can). Headless, with a fresh profile (Playwright's
own per launch), and with the background networking that would try to reach the outside
turned off.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from playwright.async_api import Browser, BrowserContext, Page, async_playwright

from engine.api.sessions import COOKIE
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


#: Where tests save screenshots of failures (and of the main pages when asked).
ARTIFACTS = Path(os.environ.get("SITELOG_TEST_ARTIFACTS", "test-artifacts"))
#: The README's screenshots, rewritten when SITELOG_UPDATE_SCREENSHOTS=1.
README_SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"


@dataclass
class ConsolePage:
    """A signed-in console tab, and what it asked for and complained about."""

    url: str
    context: BrowserContext
    page: Page
    requests: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    #: Answers of 400 and above: "url status".
    refused: list[str] = field(default_factory=list)

    def forgive(self, url_part: str) -> None:
        """Forget the refused answers whose URL holds ``url_part``, and the console error
        the browser logs for each (a test that asked for a 4xx on purpose)."""
        for entry in [r for r in self.refused if url_part in r]:
            self.refused.remove(entry)
            status = entry.rsplit(" ", 1)[1]
            logged = next(e for e in self.errors if f"status of {status}" in e)
            self.errors.remove(logged)

    async def screenshot(self, name: str) -> Path:
        """A full-page screenshot: into the README's when asked, else among the artifacts."""
        if os.environ.get("SITELOG_UPDATE_SCREENSHOTS") == "1":
            target = README_SCREENSHOTS / f"{name}.png"
        else:
            target = ARTIFACTS / "screenshots" / f"{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        await self.page.screenshot(path=str(target), full_page=True)
        return target


async def console_session(url: str, secret: str) -> str:
    """The value of a console session cookie for ``secret``, signed in over HTTP as the
    sign-in form does (a same-origin POST)."""
    async with (
        aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http,
        http.post(
            f"{url}/signin",
            data={"token": secret},
            headers={"Origin": url},
            allow_redirects=False,
        ) as answer,
    ):
        assert answer.status == 303, await answer.text()
        return answer.cookies[COOKIE].value


async def session_cookie(url: str, secret: str) -> dict[str, str]:
    """The ``Cookie`` header of a console session for ``secret``."""
    return {"Cookie": f"{COOKIE}={await console_session(url, secret)}"}


async def sign_in(page: Page, url: str, secret: str) -> None:
    await page.goto(f"{url}/signin")
    await page.get_by_label("API token").fill(secret)
    await page.get_by_role("button", name="Sign in").click()
    await page.wait_for_url(f"{url}/")


@asynccontextmanager
async def console_page(
    browser: Browser,
    url: str,
    secret: str,
    *,
    name: str,
    timezone: str | None = None,
    viewport: tuple[int, int] = (1280, 900),
    check_errors: bool = True,
) -> AsyncIterator[ConsolePage]:
    """A new browser context signed in to the console at ``url``.

    On the way out, it checks that no request left the node's origin and that the
    browser's console logged no error (unless ``check_errors`` is off, for tests that
    cut the node away on purpose); when the block fails, a screenshot named ``name``
    is saved among the artifacts first.
    """
    width, height = viewport
    context = await browser.new_context(
        timezone_id=timezone, viewport={"width": width, "height": height}
    )
    page = await context.new_page()
    tab = ConsolePage(url, context, page)
    page.on("request", lambda request: tab.requests.append(request.url))
    page.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: tab.errors.append(str(exc)))
    page.on(
        "response",
        lambda r: tab.refused.append(f"{r.url} {r.status}") if r.status >= 400 else None,
    )
    try:
        await sign_in(page, url, secret)
        yield tab
    except BaseException:
        target = ARTIFACTS / "screenshots" / f"failed-{name}.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(Exception):
            await page.screenshot(path=str(target), full_page=True)
        raise
    finally:
        await context.close()
    off_origin = [r for r in tab.requests if not r.startswith(url)]
    assert not off_origin, off_origin
    if check_errors:
        assert tab.errors == [], (tab.errors, tab.refused)
