"""The subject detail page in a real browser (Debian's Chromium, Playwright), on real nodes:
the graph of a service draws its points, shows a gap where results were missing, zooms on
a drag, and switches to rollups for 7 days and says so; a downtime scheduled in a browser
set to Pacific/Auckland reaches the API with the right UTC instants, shows its progress
on the detail page, and is cancelled from there."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Browser, Page, expect

from schemas.event import Event
from schemas.monitoring import ServiceCheckResult
from schemas.types import ServiceState, StateType, now_us
from tests.support.api_deployment import Deployment
from tests.support.browser import console_page

pytestmark = pytest.mark.asyncio(loop_scope="session")

MINUTE = 60_000_000
AUCKLAND = ZoneInfo("Pacific/Auckland")


async def results_every_five_minutes(deployment: Deployment, host: str, service: str) -> int:
    """Seven days of results of ``load``, one every 5 minutes, but none for the 40 minutes
    from 100 to 60 minutes ago; the newest 2.5 minutes ago (so that no result sits on the
    edge of a preset range while the test runs). Returns how many the last 4 hours hold."""
    newest = now_us() - 150_000_000
    in_four_hours = 0
    events = []
    for k in reversed(range(7 * 24 * 12)):  # oldest first: the newest result is the state
        check_time = newest - k * 5 * MINUTE
        if 60 * MINUTE <= newest + 150_000_000 - check_time < 100 * MINUTE:
            continue  # the hole
        if newest + 150_000_000 - check_time < 4 * 60 * MINUTE:
            in_four_hours += 1
        load = round(2 + 1.5 * math.sin(k / 12), 3)
        payload = ServiceCheckResult(
            host_name=host,
            service_description=service,
            state=ServiceState.OK,
            state_type=StateType.HARD,
            attempt=1,
            max_attempts=3,
            output=f"LOAD OK {load}",
            perfdata=f"load={load};4;8;0;10",
            check_time=check_time,
            poller="poller-paris",
        )
        events.append(
            Event.create(payload, site="paris", origin="poller-paris", clock=deployment.clock)
        )
    await deployment.writers["paris"].append_many(events)
    await deployment.wait_projected()
    return in_four_hours


async def drag_across(page: Page, selector: str, start: float, end: float) -> None:
    """A mouse drag over the plot area, from ``start`` to ``end`` (fractions of its width)."""
    box = await page.locator(selector).bounding_box()
    assert box is not None
    y = box["y"] + box["height"] / 2
    await page.mouse.move(box["x"] + box["width"] * start, y)
    await page.mouse.down()
    await page.mouse.move(box["x"] + box["width"] * (start + end) / 2, y, steps=5)
    await page.mouse.move(box["x"] + box["width"] * end, y, steps=5)
    await page.mouse.up()


async def test_a_service_graph_draws_points_gaps_zooms_and_switches_to_rollups(
    deployment: Deployment, browser: Browser
) -> None:
    host, service = "p-005", "cpu"
    expected = await results_every_five_minutes(deployment, host, service)
    url = deployment.urls["paris"]
    async with console_page(
        browser,
        url,
        deployment.secrets["paris-local"],
        name="subject-graph",
        timezone="Pacific/Auckland",
    ) as tab:
        page = tab.page
        await page.goto(f"{url}/hosts/{host}/services/{service}")
        graph = page.locator('figure.graph[data-label="load"]')
        resolution = page.locator("p.resolution")
        # 4 hours: the raw points, the 40 minutes without results a gap between them.
        await expect(resolution).to_have_attribute("data-resolution", "raw")
        await expect(graph).to_have_attribute("data-points", str(expected))
        await expect(graph).to_have_attribute("data-gaps", "1")
        await expect(resolution).to_contain_text("raw points")
        await expect(page.locator('[data-range="4h"]')).to_have_attribute("aria-pressed", "true")
        # Thresholds drawn as lines: the legend lists them with their values on hover.
        legend = graph.locator(".u-legend")
        await expect(legend).to_contain_text("warn")
        await expect(legend).to_contain_text("crit")
        await page.locator('figure.graph[data-label="load"] .u-over').hover()
        await expect(legend.locator(".u-series").nth(1).locator(".u-value")).not_to_have_text(
            "\u2013"
        )  # uPlot's "no value"
        await tab.screenshot("service-detail")

        # Drag across 10%..50% of the plot: that span (96 minutes) is read again, raw.
        section = page.locator("#graphs")
        await drag_across(page, 'figure.graph[data-label="load"] .u-over', 0.1, 0.5)
        await expect(page.locator('[data-range="4h"]')).to_have_attribute("aria-pressed", "false")
        await page.wait_for_url("**from=*")
        # The URL changes at once; the graphs are drawn again once the zoomed span is read.
        await page.wait_for_function(
            "() => { const s = document.getElementById('graphs').dataset;"
            " return s.shownTo - s.shownFrom < 3 * 3600e6; }"
        )
        shown_from = int(await section.get_attribute("data-shown-from") or 0)
        shown_to = int(await section.get_attribute("data-shown-to") or 0)
        assert abs((shown_to - shown_from) - 96 * MINUTE) < 5 * MINUTE, (shown_from, shown_to)
        await expect(resolution).to_have_attribute("data-resolution", "raw")
        zoomed = int(await graph.get_attribute("data-points") or 0)
        assert 0 < zoomed < expected

        # 7 days: more than raw points may cover; the API answers rollups and the page says so.
        await page.get_by_role("button", name="7 days").click()
        await expect(resolution).to_have_attribute("data-resolution", "rollup")
        await expect(resolution).to_contain_text("5-minute averages (rollup, step 15 min)")
        await expect(graph).to_have_attribute("data-resolution", "rollup")
        await expect(graph).to_have_attribute("data-gaps", "1")
        windows = int(await graph.get_attribute("data-points") or 0)
        # 7 days of 15-minute windows, those of the hole missing.
        assert 7 * 24 * 4 - 6 <= windows <= 7 * 24 * 4 + 1, windows
        # The range is in the URL: a reload shows the same.
        assert "range=7d" in page.url
        await page.reload()
        await expect(resolution).to_have_attribute("data-resolution", "rollup")
        await expect(page.locator('[data-range="7d"]')).to_have_attribute("aria-pressed", "true")


def _micros(moment: datetime) -> int:
    return int(moment.timestamp()) * 1_000_000


async def test_a_downtime_scheduled_in_auckland_reaches_the_api_in_utc_shows_progress_and_cancels(
    deployment: Deployment, browser: Browser
) -> None:
    url = deployment.urls["paris"]
    wall = datetime.now(AUCKLAND).replace(second=0, microsecond=0)
    start, end = wall - timedelta(minutes=30), wall + timedelta(minutes=90)
    async with (
        console_page(
            browser,
            url,
            deployment.secrets["paris-local"],
            name="subject-downtime",
            timezone="Pacific/Auckland",
        ) as tab,
        aiohttp.ClientSession() as session,
    ):
        page = tab.page
        assert await page.evaluate("window.sitelog.zone") == "Pacific/Auckland"
        row = page.locator(
            "#problems tbody tr[data-key][data-service]:not([data-service=''])"
        ).first
        host = await row.get_attribute("data-host") or ""
        service = await row.get_attribute("data-service") or ""
        await row.locator("input.pick").click()
        await page.get_by_role("button", name="Schedule downtime…").click()
        dialog = page.locator("#dialog-schedule-downtime")
        await expect(dialog.locator(".tz").first).to_have_text("Pacific/Auckland")
        # What a person in Auckland types: their wall-clock times.
        await dialog.get_by_label("Start", exact=True).fill(start.strftime("%Y-%m-%dT%H:%M"))
        await dialog.get_by_label("End", exact=True).fill(end.strftime("%Y-%m-%dT%H:%M"))
        await dialog.get_by_label("Comment", exact=True).fill("Auckland maintenance")
        await dialog.get_by_role("button", name="Schedule").click()
        await expect(dialog).to_be_hidden()

        status, listed = await deployment.get(
            session, "paris", "/api/v1/downtimes", token="paris-reader", host=host, service=service
        )
        assert status == 200, listed
        (downtime,) = [d for d in listed["items"] if d["comment"] == "Auckland maintenance"]
        assert downtime["start_time"] == _micros(start.astimezone(UTC))
        assert downtime["end_time"] == _micros(end.astimezone(UTC))
        assert downtime["author"] == "paris-local"

        await page.goto(f"{url}/hosts/{host}/services/{service}")
        shown = page.locator(f'tr[data-downtime="{downtime["downtime_id"]}"]')
        # 30 of 120 minutes gone (a minute more at most while the test runs).
        await expect(shown.locator(".progress-text")).to_have_text(
            re.compile(r"in progress, 2[56]%, 1 h (29|30) min left")
        )
        await expect(shown).to_have_attribute("data-phase", "running")
        start_time = shown.locator("time").first
        expected_iso = start.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        await expect(start_time).to_have_attribute("datetime", expected_iso)
        await expect(start_time).to_have_attribute("title", re.compile(r"\(Pacific/Auckland\)$"))
        await expect(page.locator(".flag.downtime")).to_have_text("IN DOWNTIME")

        await shown.get_by_role("button", name="Cancel downtime…").click()
        confirm = page.locator("#dialog-cancel-downtime")
        await expect(confirm).to_contain_text("Auckland maintenance")
        await confirm.get_by_role("button", name="Cancel the downtime").click()
        await expect(confirm).to_be_hidden()
        await expect(shown).to_have_count(0)
        await expect(page.locator(".downtimes .empty")).to_have_text("No downtime scheduled.")
        status, listed = await deployment.get(
            session, "paris", "/api/v1/downtimes", token="paris-reader", host=host, service=service
        )
        assert status == 200 and listed["items"] == []
