"""The console is plain and accessible, in a real browser (Debian's Chromium, Playwright):
operable with the keyboard alone, every control named, states in text as well as colour,
and readable on a phone without sideways scrolling."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.support.api_deployment import Deployment
from tests.support.browser import console_page

pytestmark = pytest.mark.asyncio(loop_scope="session")

#: A control's accessible name as a person with a screen reader hears it (enough of it).
NAME = """el => (el.labels && el.labels.length
    ? Array.from(el.labels).map(l => l.textContent).join(' ') : '')
    || el.getAttribute('aria-label') || el.textContent || el.getAttribute('title') || ''"""


async def test_acknowledge_with_the_keyboard_alone(
    deployment: Deployment, browser: Browser
) -> None:
    url = deployment.urls["paris"]
    async with console_page(browser, url, deployment.secrets["paris-local"], name="keys") as tab:
        page = tab.page
        first = page.locator('#problems tr[data-handled="false"]').first
        key = await first.get_attribute("data-key")
        await first.locator("input.pick").focus()
        await page.keyboard.press("Space")
        await expect(page.locator("#selected-count")).to_have_text("1 selected")
        button = page.get_by_role("button", name="Acknowledge…")
        await button.focus()
        await page.keyboard.press("Enter")
        dialog = page.locator("#dialog-acknowledge")
        await expect(dialog).to_be_visible()
        # The dialog takes the focus; Escape closes it, and it opens again.
        await page.keyboard.press("Escape")
        await expect(dialog).to_be_hidden()
        await button.focus()
        await page.keyboard.press("Enter")
        await page.keyboard.type("typed, not clicked")
        assert await page.evaluate("document.activeElement.id") == "ack-comment"
        while await page.evaluate("document.activeElement.type") != "submit":
            await page.keyboard.press("Tab")
        await page.keyboard.press("Enter")
        await expect(page.locator(f'#problems tr[data-key="{key}"]')).to_have_attribute(
            "data-handled", "true", timeout=3000
        )


async def test_every_control_is_named_and_every_state_is_written(
    deployment: Deployment, browser: Browser
) -> None:
    url = deployment.urls["central"]
    async with console_page(browser, url, deployment.secrets["operator"], name="named") as tab:
        page = tab.page
        controls = page.locator("main input, main select, main textarea, main button")
        assert await controls.count() > 20
        names = [await c.evaluate(NAME) for c in await controls.all()]
        assert all(n.strip() for n in names), names
        states = await page.locator("#problems .state").all_text_contents()
        assert states and all(
            s in {"DOWN", "CRITICAL", "WARNING", "UNREACHABLE", "UNKNOWN"} for s in states
        )
        assert await page.locator("h1").count() == 1


async def test_readable_on_a_phone(deployment: Deployment, browser: Browser) -> None:
    url = deployment.urls["paris"]
    async with console_page(
        browser, url, deployment.secrets["paris-local"], name="phone", viewport=(390, 844)
    ) as tab:
        page = tab.page
        await expect(page.locator("#problems tr[data-key]").first).to_be_visible()
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{overflow}px of sideways scrolling at 390 px"
        await tab.screenshot("problems-phone")
