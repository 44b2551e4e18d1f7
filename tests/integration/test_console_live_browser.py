"""The console follows the node live, in a real browser (Debian's Chromium, Playwright):
rows change in place as pollers report, an open dialog and what it holds survive a storm
of updates, a cut stream or a restarted node loses nothing, a stale page says so, two
tabs agree; and what a token may not do, or a node refuses, shows on the page."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import re
import time
import uuid

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from engine.node.node import Node
from engine.web import NodeServer
from schemas.types import ServiceState
from tests.integration.test_console_problems_browser import listed, result, row
from tests.support.api_deployment import Deployment
from tests.support.browser import console_page
from tests.support.tcp_proxy import TcpProxy

pytestmark = pytest.mark.asyncio(loop_scope="session")


async def service_problems(page: Page, handled: bool = False) -> list[tuple[str, str]]:
    """(host, service) of the listed service problems, in order."""
    return [(h, s) for h, s, done in await listed(page) if s and done is handled]


def flipped(deployment: Deployment, host: str, service: str) -> ServiceState:
    """A problem state other than the subject's current one."""
    current = deployment.latest[(host, service)].state
    return ServiceState.WARNING if current == ServiceState.CRITICAL else ServiceState.CRITICAL


async def test_rows_change_in_place_and_an_open_dialog_survives_twenty_updates(
    deployment: Deployment, browser: Browser
) -> None:
    url = deployment.urls["paris"]
    secret = deployment.secrets["paris-local"]
    async with console_page(browser, url, secret, name="live", viewport=(1280, 500)) as tab:
        page = tab.page
        await expect(page.locator("#live")).to_have_attribute("data-state", "live")
        subjects = await service_problems(page)
        host, service = subjects[0]
        state = flipped(deployment, host, service)
        await deployment.writers["paris"].append_many(
            [result(deployment, host, service, state, "changed by the poller")]
        )
        target = row(page, host, service)
        await expect(target.locator("td.output")).to_have_text(
            "changed by the poller", timeout=3000
        )
        await expect(target.locator(".state")).to_have_text(state.name)

        # Select two rows, scroll, open a dialog and type; then twenty results arrive.
        for h, s in subjects[1:3]:
            await row(page, h, s).locator("input.pick").click()
        await page.evaluate("window.scrollTo(0, 250)")
        scrolled = await page.evaluate("window.scrollY")
        assert scrolled > 0
        # What the operator is looking at: a selected row, where it stands in the window.
        watched = row(page, *subjects[2])
        top = await watched.evaluate("r => r.getBoundingClientRect().top")
        await page.get_by_role("button", name="Add comment…").click()
        box = page.locator("#comment-text")
        await box.fill("half-typed note about the disks")
        storm = subjects[3:23] if len(subjects) >= 23 else (subjects * 20)[:20]
        events = [
            result(deployment, h, s, deployment.latest[(h, s)].state, f"storm {i}")
            for i, (h, s) in enumerate(storm)
        ]
        await deployment.writers["paris"].append_many(events)
        last_h, last_s = storm[-1]
        await expect(row(page, last_h, last_s).locator("td.output")).to_have_text(
            "storm 19", timeout=5000
        )
        assert await page.locator("#dialog-add-comment").evaluate("d => d.open")
        assert await box.input_value() == "half-typed note about the disks"
        assert await page.evaluate("document.activeElement.id") == "comment-text"
        # The rows stay where they were on the screen (the browser may move the scroll
        # offset by a few pixels to keep them there, when a line above changes height).
        assert abs(await watched.evaluate("r => r.getBoundingClientRect().top") - top) <= 2
        assert abs(await page.evaluate("window.scrollY") - scrolled) <= 20
        await expect(page.locator("#selected-count")).to_have_text("2 selected")
        for h, s in subjects[1:3]:
            await expect(row(page, h, s).locator("input.pick")).to_be_checked()
        await page.get_by_role("button", name="Cancel", exact=True).click()
    await deployment.wait_projected()


async def test_a_cut_stream_and_a_restarted_node_lose_nothing(
    deployment: Deployment, browser: Browser, http_session: aiohttp.ClientSession
) -> None:
    # A paris node of this test's own, so it can be restarted; behind a proxy the test cuts.
    config = dataclasses.replace(
        deployment.paris.config, schema=f"live_{uuid.uuid4().hex[:8]}", name="paris-2"
    )
    node = Node(config)
    await node.start()
    server = NodeServer(node)
    await server.start()
    try:
        async with TcpProxy(server.port) as proxy:
            secret = deployment.secrets["paris-local"]
            async with console_page(
                browser, proxy.url, secret, name="stream-cut", check_errors=False
            ) as tab:
                page = tab.page
                await expect(page.locator("#live")).to_have_attribute("data-state", "live")
                subjects = await service_problems(page)
                proxy.cut()
                await expect(page.locator("#live")).not_to_have_attribute("data-state", "live")
                missed = subjects[:3]
                await deployment.writers["paris"].append_many(
                    [
                        result(deployment, h, s, flipped(deployment, h, s), f"missed {i}")
                        for i, (h, s) in enumerate(missed)
                    ]
                )
                await deployment.wait_projected()
                proxy.restore()
                for i, (h, s) in enumerate(missed):
                    await expect(row(page, h, s).locator("td.output")).to_have_text(
                        f"missed {i}", timeout=10_000
                    )

                # The node restarts (a new feed: the page is told to reload its list).
                proxy.cut()
                await server.stop()
                await node.stop()
                later = subjects[3:6]
                await deployment.writers["paris"].append_many(
                    [
                        result(deployment, h, s, flipped(deployment, h, s), f"while down {i}")
                        for i, (h, s) in enumerate(later)
                    ]
                )
                node = Node(config)
                await node.start()
                server = NodeServer(node)
                await server.start()
                proxy.restore(server.port)
                for i, (h, s) in enumerate(later):
                    await expect(row(page, h, s).locator("td.output")).to_have_text(
                        f"while down {i}", timeout=15_000
                    )
                await expect(page.locator("#live")).to_have_attribute("data-state", "live")
                headers = deployment.headers("paris-local")
                async with http_session.get(
                    f"{server.url}/api/v1/problems", params={"limit": "50"}, headers=headers
                ) as answer:
                    api = [
                        (i["host"], i["service"] or "", i["handled"])
                        for i in (await answer.json())["items"]
                    ]
                assert await listed(page) == api
    finally:
        await server.stop()
        await node.stop()


async def test_a_page_without_heartbeat_for_35_s_says_stale_and_polls(
    deployment: Deployment, browser: Browser
) -> None:
    node = deployment.paris
    async with TcpProxy(int(deployment.urls["paris"].rsplit(":", 1)[1])) as proxy:
        secret = deployment.secrets["paris-local"]
        async with console_page(
            browser, proxy.url, secret, name="stale", check_errors=False
        ) as tab:
            page = tab.page
            await page.clock.install()
            await page.reload()
            await expect(page.locator("#live")).to_have_attribute("data-state", "live")
            proxy.cut()
            await page.clock.fast_forward(36_000)
            await page.clock.run_for(2000)
            await expect(page.locator("#live")).to_have_text(re.compile(r"^stale, as of \d\d:\d\d"))
            assert node is deployment.paris
            proxy.restore()
            # Polling: within the next polling period the list is fetched again.
            async with page.expect_request(lambda r: r.headers.get("hx-target") == "problems"):
                await page.clock.run_for(11_000)


async def test_an_acknowledgement_made_in_one_tab_appears_in_another(
    deployment: Deployment, browser: Browser
) -> None:
    url = deployment.urls["central"]
    async with console_page(browser, url, deployment.secrets["operator"], name="tabs") as tab:
        other = await tab.context.new_page()
        await other.goto(f"{url}/")
        await expect(other.locator("#live")).to_have_attribute("data-state", "live")
        host, service = (await service_problems(tab.page))[0]
        await row(tab.page, host, service).locator("input.pick").click()
        await tab.page.get_by_role("button", name="Acknowledge…").click()
        await tab.page.locator("#ack-comment").fill("seen from the first tab")
        await (
            tab.page.locator("#dialog-acknowledge")
            .get_by_role("button", name="Acknowledge")
            .click()
        )
        await expect(row(other, host, service)).to_have_attribute(
            "data-handled", "true", timeout=5000
        )
        await other.close()


async def test_a_read_only_token_has_no_controls_and_a_refused_command_says_why(
    deployment: Deployment, browser: Browser
) -> None:
    url = deployment.urls["paris"]
    async with console_page(
        browser, url, deployment.secrets["paris-reader"], name="read-only"
    ) as tab:
        await expect(tab.page.locator("#problems tr[data-key]").first).to_be_visible()
        await expect(tab.page.locator("input.pick")).to_have_count(0)
        await expect(tab.page.get_by_role("button", name="Acknowledge…")).to_have_count(0)
        await expect(tab.page.locator("dialog")).to_have_count(0)

    ends = await deployment.log_ends()
    async with console_page(browser, url, deployment.secrets["paris-local"], name="refused") as tab:
        page = tab.page
        host, service = (await service_problems(page))[0]
        await row(page, host, service).locator("input.pick").click()
        await page.get_by_role("button", name="Acknowledge…").click()
        dialog = page.locator("#dialog-acknowledge")
        await dialog.get_by_label("Comment (required)").fill("   ")
        await dialog.get_by_role("button", name="Acknowledge").click()
        await expect(dialog.get_by_role("alert")).to_have_text(
            "Field 'comment': an acknowledgement needs a comment"
        )
        tab.forgive("/actions/acknowledge")
        await dialog.get_by_role("button", name="Cancel").click()

        await page.get_by_role("button", name="Schedule downtime…").click()
        dialog = page.locator("#dialog-schedule-downtime")
        await dialog.get_by_label("Start", exact=True).fill("2030-05-01T10:00")
        await dialog.get_by_label("End", exact=True).fill("2030-05-01T09:00")
        await dialog.get_by_role("button", name="Schedule").click()
        await expect(dialog.get_by_role("alert")).to_have_text(
            "Field 'end_time': must be after start_time"
        )
        tab.forgive("/actions/schedule-downtime")
        await expect(row(page, host, service)).to_have_attribute("data-handled", "false")
    assert await deployment.log_ends() == ends


#: Headless Chromium keeps every tab visible; this hides or shows the tab the way the
#: browser reports it to a page (visibilityState and a visibilitychange event).
SET_VISIBILITY = """state => {
    Object.defineProperty(document, 'visibilityState', {value: state, configurable: true});
    document.dispatchEvent(new Event('visibilitychange'));
}"""


async def test_a_background_tab_pauses_and_catches_up_when_shown(
    deployment: Deployment, browser: Browser
) -> None:
    url = deployment.urls["paris"]
    async with console_page(browser, url, deployment.secrets["paris-local"], name="hidden") as tab:
        page = tab.page
        await expect(page.locator("#live")).to_have_attribute("data-state", "live")
        fetches: list[str] = []
        page.on(
            "request",
            lambda r: fetches.append(r.url) if r.headers.get("hx-target") == "problems" else None,
        )
        await page.evaluate(SET_VISIBILITY, "hidden")
        await expect(page.locator("#live")).to_have_text("paused")
        host, service = (await service_problems(page))[0]
        await deployment.writers["paris"].append_many(
            [result(deployment, host, service, flipped(deployment, host, service), "while hidden")]
        )
        await deployment.wait_projected()
        # Hidden: the stream is closed and nothing is fetched, whatever changes (an
        # absence can only be watched over a window: 1.5 s, past the 1 s refresh gap).
        await page.wait_for_timeout(1500)
        assert fetches == []
        async with page.expect_request(lambda r: "/api/v1/stream" in r.url):
            await page.evaluate(SET_VISIBILITY, "visible")
        await expect(row(page, host, service).locator("td.output")).to_have_text(
            "while hidden", timeout=3000
        )
        await expect(page.locator("#live")).to_have_attribute("data-state", "live")


async def test_a_storm_of_events_refreshes_the_list_at_most_once_a_second(
    deployment: Deployment, browser: Browser
) -> None:
    url = deployment.urls["paris"]
    async with console_page(browser, url, deployment.secrets["paris-local"], name="storm") as tab:
        page = tab.page
        await expect(page.locator("#live")).to_have_attribute("data-state", "live")
        # When the page starts each refresh of its live parts, by its own clock, and
        # how many list requests went out.
        await page.evaluate(
            """() => { window.refreshedAt = []; window.listFetches = 0;
                document.addEventListener(
                    'sitelog:refresh', e => window.refreshedAt.push(e.detail.at));
                document.addEventListener('htmx:beforeRequest', e => {
                    if (e.detail.target.id === 'problems') window.listFetches += 1;
                }); }"""
        )
        subjects = await service_problems(page)
        started = time.monotonic()
        for burst in range(12):  # 12 bursts of 10 results, a quarter of a second apart
            await deployment.writers["paris"].append_many(
                [
                    result(deployment, h, s, deployment.latest[(h, s)].state, f"burst {burst}")
                    for h, s in subjects[:10]
                ]
            )
            await asyncio.sleep(0.25)  # pacing the producer, not waiting for the page
        h, s = subjects[0]
        await expect(row(page, h, s).locator("td.output")).to_have_text("burst 11", timeout=5000)
        elapsed = time.monotonic() - started
        refreshed: list[float] = await page.evaluate("window.refreshedAt")
        assert refreshed, "the storm caused no refresh at all"
        gaps = [b - a for a, b in itertools.pairwise(refreshed)]
        # The page allows itself one refresh a second: measured where it decides, since
        # the request itself may leave a few ms later on a loaded machine.
        assert all(gap >= 995 for gap in gaps), gaps  # timers are clamped to a few ms
        fetches: int = await page.evaluate("window.listFetches")
        assert 1 <= fetches <= len(refreshed) <= elapsed + 1
