"""The console in a real browser (Debian's Chromium, Playwright): a person signs in with a
token, lands on the console, and signs out; no request leaves the node's origin and the
browser's console shows no error."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser

from tests.support.api_deployment import Deployment

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def test_sign_in_land_and_sign_out_in_chromium(
    deployment: Deployment, browser: Browser
) -> None:
    url = deployment.urls["paris"]
    context = await browser.new_context()
    page = await context.new_page()
    requests: list[str] = []
    errors: list[str] = []
    page.on("request", lambda request: requests.append(request.url))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    try:
        await page.goto(f"{url}/")
        assert page.url == f"{url}/signin"  # not signed in: sent to the sign-in page
        await page.get_by_label("API token").fill("slt_wrong")
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("alert").filter(has_text="Unknown token.").wait_for()

        await page.get_by_label("API token").fill(deployment.secrets["paris-local"])
        await page.get_by_role("button", name="Sign in").click()
        await page.get_by_role("heading", name="Problems").wait_for()
        assert page.url == f"{url}/"
        cookies = await context.cookies()
        (session,) = [c for c in cookies if c["name"] == "sitelog_session"]
        assert session["httpOnly"] and session["sameSite"] == "Strict"
        # Not in the browser's storage either: the page cannot read the cookie.
        assert await page.evaluate("document.cookie") == ""
        # (htmx keeps the current path in sessionStorage; nothing else is stored.)
        stored = await page.evaluate("JSON.stringify([{...localStorage}, {...sessionStorage}])")
        secret = deployment.secrets["paris-local"]
        assert secret not in stored and "slt_" not in stored, stored
        assert all(secret not in r for r in requests), "the token went into a URL"

        await page.get_by_role("button", name="Sign out").click()
        await page.get_by_role("alert").filter(has_text="Signed out.").wait_for()
        await page.goto(f"{url}/")
        assert page.url == f"{url}/signin"
    finally:
        await context.close()
    assert requests and all(r.startswith(url) for r in requests), requests
    assert errors == [], errors
