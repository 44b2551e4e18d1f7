"""The problems page in a real browser (Debian's Chromium, Playwright) against real nodes:
what it lists, its filters in the URL, and actions on selected rows."""

from __future__ import annotations

import re
import time
from typing import Any

import aiohttp
import pytest
from playwright.async_api import Browser, Locator, Page, expect

from engine.api.sessions import COOKIE, issue
from schemas.configuration import ServiceDefined
from schemas.event import Event
from schemas.monitoring import ServiceCheckResult
from schemas.types import ServiceState, StateType, now_us
from tests.support.api_deployment import Deployment, site_of
from tests.support.browser import ConsolePage, console_page

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def listed(page: Page) -> list[tuple[str, str, bool]]:
    """The rows of the problems list: (host, service, handled), in order."""
    rows: list[Any] = await page.eval_on_selector_all(
        "#problems tr[data-key]",
        "rows => rows.map(r => [r.dataset.host, r.dataset.service, r.dataset.handled === 'true'])",
    )
    return [(host, service, handled) for host, service, handled in rows]


async def api_problems(
    deployment: Deployment, session: aiohttp.ClientSession, node: str, token: str, **query: str
) -> list[tuple[str, str, bool]]:
    """The API's problems for ``token`` on ``node``: (host, service, handled), in order."""
    status, body = await deployment.get(
        session, node, "/api/v1/problems", token, limit="1000", **query
    )
    assert status == 200, body
    return [(i["host"], i["service"] or "", i["handled"]) for i in body["items"]]


async def test_the_list_is_the_apis_problems_for_the_tokens_sites(
    deployment: Deployment, browser: Browser, http_session: aiohttp.ClientSession
) -> None:
    for node, secret, token in (
        ("central", "operator", "operator"),
        ("central", "paris-operator", "paris-operator"),
        ("paris", "paris-local", "paris-local"),
    ):
        url = deployment.urls[node]
        async with console_page(
            browser, url, deployment.secrets[secret], name=f"list-{node}-{token}"
        ) as tab:
            api = await api_problems(deployment, http_session, node, token)
            # The first page of the console is the first 50 of the API's order.
            shown = await listed(tab.page)
            assert shown == api[:50]
            if token != "operator":
                assert all(host.startswith("p-") for host, _, _ in shown), shown
            if node == "central" and token == "operator":
                await tab.screenshot("problems")


def result(deployment: Deployment, host: str, service: str, state: int, output: str) -> Event:
    """A poller's result for a service, remembered as its latest."""
    payload = ServiceCheckResult(
        host_name=host,
        service_description=service,
        state=ServiceState(state),
        state_type=StateType.HARD,
        attempt=1,
        max_attempts=3,
        output=output,
        check_time=now_us(),
        poller=f"poller-{site_of(host)}",
    )
    deployment.latest[(host, service)] = payload
    return Event.create(
        payload, site=site_of(host), origin=f"poller-{site_of(host)}", clock=deployment.clock
    )


def row(page: Page, host: str, service: str) -> Locator:
    return page.locator(f'#problems tr[data-host="{host}"][data-service="{service}"]')


async def test_filters_live_in_the_url_reload_and_back_restore_them(
    deployment: Deployment, browser: Browser, http_session: aiohttp.ClientSession
) -> None:
    url = deployment.urls["central"]
    async with console_page(browser, url, deployment.secrets["operator"], name="filters") as tab:
        page = tab.page
        await page.get_by_label("critical").check()
        await page.wait_for_url("**/?state=CRITICAL**")
        critical = await api_problems(
            deployment, http_session, "central", "operator", state="CRITICAL"
        )
        await expect(page.locator("#problems tr[data-key]")).to_have_count(min(50, len(critical)))
        assert await listed(page) == critical[:50]

        await page.get_by_label("Site", exact=True).select_option("paris")
        await page.wait_for_url("**site=paris**")
        in_paris = await api_problems(
            deployment, http_session, "central", "operator", state="CRITICAL", site="paris"
        )
        await expect(page.locator("#problems tr[data-key]")).to_have_count(len(in_paris))
        assert await listed(page) == in_paris

        await page.reload()
        assert await page.get_by_label("critical").is_checked()
        assert await page.get_by_label("Site", exact=True).input_value() == "paris"
        assert await listed(page) == in_paris

        await page.go_back()
        await page.wait_for_url(lambda u: "state=CRITICAL" in u and "site=" not in u)
        await expect(page.get_by_label("Site", exact=True)).to_have_value("")
        assert await page.get_by_label("critical").is_checked()
        await expect(page.locator("#problems tr[data-key]")).to_have_count(min(50, len(critical)))
        assert await listed(page) == critical[:50]

        # A malformed filter in the URL: a message on the page, not a traceback.
        await page.goto(f"{url}/?state=SUNNY")
        await expect(page.get_by_role("alert")).to_have_text(
            re.compile(r"Parameter 'state': 'SUNNY' is not one of DOWN, CRITICAL")
        )
        tab.forgive("?state=SUNNY")


async def test_shift_select_three_rows_and_acknowledge_them_in_place(
    deployment: Deployment, browser: Browser, http_session: aiohttp.ClientSession
) -> None:
    url = deployment.urls["paris"]
    async with console_page(browser, url, deployment.secrets["paris-local"], name="ack") as tab:
        page = tab.page
        await page.evaluate("window.notReloaded = true")
        unhandled = page.locator('#problems tr[data-handled="false"]')
        first, third = unhandled.nth(0), unhandled.nth(2)
        picked = [
            (
                await unhandled.nth(i).get_attribute("data-host"),
                await unhandled.nth(i).get_attribute("data-service"),
            )
            for i in range(3)
        ]
        await first.locator("input.pick").click()
        await third.locator("input.pick").click(modifiers=["Shift"])
        await expect(page.locator("#selected-count")).to_have_text("3 selected")
        await page.get_by_role("button", name="Acknowledge…").click()
        dialog = page.locator("#dialog-acknowledge")
        await dialog.get_by_label("Comment (required)").fill("disk swap planned")
        await dialog.get_by_role("button", name="Acknowledge").click()
        for host, service in picked:
            assert host is not None and service is not None
            await expect(row(page, host, service)).to_have_attribute(
                "data-handled", "true", timeout=2000
            )
        assert await page.evaluate("window.notReloaded") is True
        await expect(page.locator("#selected-count")).to_have_text("0 selected")

    want = {(h, s or None) for h, s in picked}
    for node, token in (("paris", "paris-local"), ("central", "reader")):
        if node == "central":
            await deployment.wait_projected()
        status, body = await deployment.get(
            http_session, node, "/api/v1/acknowledgements", token, limit="1000"
        )
        assert status == 200
        acks = {(a["host"], a["service"]): a for a in body["items"]}
        assert want <= set(acks), (node, want, set(acks))
        assert all(acks[k]["author"] == "paris-local" for k in want)
        assert all(acks[k]["comment"] == "disk swap planned" for k in want)


async def comment_then_session_ends(
    deployment: Deployment, tab: ConsolePage, text: str
) -> tuple[str, str]:
    """Open the comment dialog on an unhandled service problem and type ``text``; then the
    session ends while the form is open (a cookie that ended nine hours ago)."""
    page, url = tab.page, deployment.urls["paris"]
    token = next(t for t in deployment.paris.config.tokens if t.name == "paris-local")
    await expect(page.locator("#live")).to_have_attribute("data-state", "live")
    host, service = next((h, s) for h, s, done in await listed(page) if s and not done)
    await row(page, host, service).locator("input.pick").click()
    await page.get_by_role("button", name="Add comment…").click()
    await page.locator("#comment-text").fill(text)
    await tab.context.add_cookies(
        [
            {
                "name": COOKIE,
                "value": issue(token, time.time() - 9 * 3600),
                "url": url,
                "httpOnly": True,
                "sameSite": "Strict",
            }
        ]
    )
    return host, service


async def test_an_expired_session_says_so_on_a_stale_form_and_on_the_next_refresh(
    deployment: Deployment, browser: Browser
) -> None:
    url = deployment.urls["paris"]
    async with console_page(browser, url, deployment.secrets["paris-local"], name="expired") as tab:
        page = tab.page
        host, service = await comment_then_session_ends(deployment, tab, "written before lunch")
        dialog = page.locator("#dialog-add-comment")
        await dialog.get_by_role("button", name="Add comment").click()
        await expect(dialog.get_by_role("alert")).to_have_text(
            "Your session expired: sign in again (reload the page)"
        )
        tab.forgive("/actions/add-comment")
        assert await page.locator("#comment-text").input_value() == "written before lunch"
        await dialog.get_by_role("button", name="Cancel").click()
        # The next live refresh takes the page to the sign-in form, saying why.
        await deployment.writers["paris"].append_many(
            [result(deployment, host, service, deployment.latest[(host, service)].state, "later")]
        )
        await page.wait_for_url(f"{url}/signin?reason=expired")
        await expect(page.get_by_role("alert")).to_have_text("Your session expired: sign in again.")
        # The stream, refused with the ended session, is the one expected error.
        tab.forgive("/api/v1/stream")


async def test_a_refresh_with_an_ended_session_waits_for_the_open_dialog(
    deployment: Deployment, browser: Browser
) -> None:
    url = deployment.urls["paris"]
    async with console_page(browser, url, deployment.secrets["paris-local"], name="held") as tab:
        page = tab.page
        # Answers that told the page to go and sign in, and whether the page held them.
        await page.evaluate(
            """() => { window.held = [];
                document.addEventListener('htmx:beforeOnLoad', e => {
                    if (e.detail.xhr.getResponseHeader('HX-Redirect'))
                        window.held.push(e.defaultPrevented);
                }); }"""
        )
        host, service = await comment_then_session_ends(deployment, tab, "half a sentence")
        # A poller's result makes the page refresh its list with the ended session.
        await deployment.writers["paris"].append_many(
            [result(deployment, host, service, deployment.latest[(host, service)].state, "x")]
        )
        await page.wait_for_function("window.held.length > 0", timeout=10_000)
        assert await page.evaluate("window.held") == [True] * len(
            await page.evaluate("window.held")
        )
        assert page.url.startswith(f"{url}/?") or page.url == f"{url}/"
        assert await page.locator("#comment-text").input_value() == "half a sentence"
        # Closing the dialog lets the page go where the refresh said.
        await page.locator("#dialog-add-comment").get_by_role("button", name="Cancel").click()
        await page.wait_for_url(f"{url}/signin?reason=expired")
        await expect(page.get_by_role("alert")).to_have_text("Your session expired: sign in again.")
        tab.forgive("/api/v1/stream")


async def test_a_service_whose_name_holds_a_slash_links_to_its_page(
    deployment: Deployment, browser: Browser
) -> None:
    host, service = "p-003", "Disk /var & co"
    await deployment.central.write_path.configure(
        ServiceDefined(host_name=host, service_description=service)
    )
    await deployment.writers["paris"].append_many(
        [result(deployment, host, service, ServiceState.CRITICAL, "92% used")]
    )
    await deployment.wait_projected()
    url = deployment.urls["paris"]
    async with console_page(browser, url, deployment.secrets["paris-local"], name="slash") as tab:
        page = tab.page
        await page.goto(f"{url}/?q=co")
        await row(page, host, service).get_by_role("link", name=service).click()
        await expect(page.get_by_role("heading", level=1)).to_contain_text(service)
        assert "Disk%20%2Fvar%20%26%20co" in page.url
