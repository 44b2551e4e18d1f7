"""The console's landing page (``GET /``, the problems list) over 100,000 services.

The projection of ``benchmarks.api`` (10,000 hosts, 100,000 services, about 74,000 of them
problems), seeded into an embedded PostgreSQL and served by ``engine.web.NodeServer``, so
``/`` is the console. A read-and-operate token is signed in through ``/signin``; every
figure below is read with its session cookie. Four figures, each beside its same-run
baseline:

- ``console_landing``: time to first byte-complete answer of ``GET /`` (server time: one
  client on the same host, keep-alive, one request at a time), median of ``REPEATS``
  requests alternating with the baselines. Baseline: the API's list call, ``GET
  /api/v1/services?limit=50``, with ``GET /api/v1/problems?limit=50`` (the same query as
  the page) and the htmx fragment (``HX-Target: problems``) beside it. Target: 300 ms.
- ``console_browser_load``: Chromium (Playwright, ``tests.support.browser``) loading ``/``
  in a fresh context (cold cache), Navigation Timing's ``loadEventEnd`` (and
  ``domContentLoadedEventEnd``) from the navigation's start; median of ``BROWSER_ROUNDS``.
  Baseline: the same browser loading ``/api/v1/services?limit=50``. Target: 1 s.
- ``console_bytes``: bytes transferred by that cold load (Resource Timing's
  ``transferSize`` of the document and every subresource, and the bodies' sizes).
  Baseline: the bytes of the API's list answer.
- ``console_fetches``: with the page open, 200 check results per second (each a state
  change of a different service) are appended to the site logs for ``LOAD_SECONDS``;
  the page's fragment fetches (``HX-Target: problems``) are counted per second. The
  page's ``console.js`` allows at most one per second. Baseline: the results appended
  per second, measured; the fetches' own server time is given as well.
"""

from __future__ import annotations

import asyncio
import statistics
import time
import uuid
from collections.abc import Awaitable, Callable
from contextlib import ExitStack
from typing import Any

import aiohttp
from playwright.async_api import Browser, Request

from benchmarks.api import HOSTS, SERVICES_PER_HOST, node_config, seed
from benchmarks.harness import Result, broker, note
from engine.api.sessions import COOKIE
from engine.dev import EmbeddedPostgres
from engine.log.kafka import KafkaSettings
from engine.log.writer import SiteLogWriter
from engine.node.node import Node
from engine.node.tokens import make_token
from engine.web import NodeServer
from projections.tables import STATES
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import ServiceCheckResult
from schemas.types import ServiceState, StateType, now_us
from tests.support.browser import chromium, console_session

REPEATS = 30
BROWSER_ROUNDS = 7
EVENTS_PER_SECOND = 200
LOAD_SECONDS = 15.0
TICK = 0.1  # seconds between appends of EVENTS_PER_SECOND * TICK results
SERVER_TARGET_MS = 300.0
BROWSER_TARGET_MS = 1000.0
PAGE = 50

_NAVIGATION = """() => {
  const nav = performance.getEntriesByType("navigation")[0];
  const resources = performance.getEntriesByType("resource");
  return {
    load_ms: nav.loadEventEnd - nav.startTime,
    dom_ms: nav.domContentLoadedEventEnd - nav.startTime,
    response_ms: nav.responseEnd - nav.startTime,
    transfer: nav.transferSize + resources.reduce((n, r) => n + r.transferSize, 0),
    body: nav.encodedBodySize + resources.reduce((n, r) => n + r.encodedBodySize, 0),
    document_body: nav.encodedBodySize,
    resources: resources.length,
  };
}"""


def _p(samples: list[float], cut: int) -> float:
    """The ``cut``-th percentile (inclusive method; the median for 50)."""
    return statistics.quantiles(samples, n=100, method="inclusive")[cut - 1]


async def _server_times(url: str, cookie: str) -> dict[str, list[float]]:
    """Milliseconds per request of each case, REPEATS each, the cases alternating."""
    cases: dict[str, tuple[str, dict[str, str]]] = {
        "page": ("/", {}),
        "fragment": ("/", {"HX-Request": "true", "HX-Target": "problems"}),
        "api_problems": (f"/api/v1/problems?limit={PAGE}", {}),
        "api_services": (f"/api/v1/services?limit={PAGE}", {}),
    }
    times: dict[str, list[float]] = {name: [] for name in cases}
    sizes: dict[str, int] = {}
    headers = {"Cookie": f"{COOKIE}={cookie}"}
    async with aiohttp.ClientSession(headers=headers) as session:

        async def get(path: str, extra: dict[str, str]) -> tuple[float, int]:
            started = time.perf_counter()
            async with session.get(url + path, headers=extra, allow_redirects=False) as got:
                body = await got.read()
                if got.status != 200:
                    raise RuntimeError(f"{path}: HTTP {got.status}")
            return (time.perf_counter() - started) * 1e3, len(body)

        for path, extra in cases.values():  # warm-up: pools, caches, composed SQL
            for _ in range(3):
                await get(path, extra)
        for _ in range(REPEATS):
            for name, (path, extra) in cases.items():
                elapsed, size = await get(path, extra)
                times[name].append(elapsed)
                sizes[name] = size
    times["bytes"] = [float(sizes[name]) for name in cases]
    return times


async def _browser_loads(browser: Browser, url: str, cookie: str) -> list[dict[str, Any]]:
    """Per round, a cold load of ``/`` then of the API's list, in a fresh context."""
    rounds = []
    for _ in range(BROWSER_ROUNDS):
        context = await browser.new_context(viewport={"width": 1280, "height": 900})
        try:
            await context.add_cookies([{"name": COOKIE, "value": cookie, "url": url}])
            page = await context.new_page()
            await page.goto(f"{url}/", wait_until="load")
            if await page.locator("h1").inner_text() != "Problems":
                raise RuntimeError("the landing page did not render")
            console = await page.evaluate(_NAVIGATION)
            await page.goto(f"{url}/api/v1/services?limit={PAGE}", wait_until="load")
            api = await page.evaluate(_NAVIGATION)
            rounds.append({"console": console, "api": api})
        finally:
            await context.close()
    return rounds


def _results_for(tick: int) -> list[tuple[str, ServiceCheckResult]]:
    """EVENTS_PER_SECOND * TICK results, each a state change of a service not yet touched
    (its seeded state plus one), with their hosts' sites."""
    per_tick = int(EVENTS_PER_SECOND * TICK)
    now = now_us()
    out: list[tuple[str, ServiceCheckResult]] = []
    for i in range(tick * per_tick, (tick + 1) * per_tick):
        h, s = (i * 7919) % HOSTS, (i // HOSTS) % SERVICES_PER_HOST
        site = ("paris", "lyon")[h % 2]
        state = ServiceState(((h * 7 + s) % 23 % 4 + 1) % 4)
        result = ServiceCheckResult(
            host_name=f"host-{h:05d}",
            service_description=f"service-{s:02d}",
            state=state,
            state_type=StateType.HARD,
            attempt=1,
            max_attempts=3,
            output=f"service-{s:02d} {state.name}: under load",
            perfdata="value=50;80;90;0;100",
            check_time=now,
        )
        out.append((site, result))
    return out


async def _fetches_under_load(
    browser: Browser, url: str, cookie: str, kafka: KafkaSettings, node: Node
) -> dict[str, float]:
    """Fragment fetches per second of an open ``/`` while results are appended."""
    clock = HybridLogicalClock()
    fetches: list[float] = []  # when each fragment fetch was sent (loop time)
    fetch_ms: list[float] = []
    loop = asyncio.get_running_loop()
    counting = False

    def is_fragment(request: Request) -> bool:
        return request.headers.get("hx-target") == "problems"

    def sent(request: Request) -> None:
        if counting and is_fragment(request):
            fetches.append(loop.time())

    def finished(request: Request) -> None:
        if counting and is_fragment(request):
            timing = request.timing
            fetch_ms.append(timing["responseEnd"] - timing["requestStart"])

    context = await browser.new_context(viewport={"width": 1280, "height": 900})
    try:
        await context.add_cookies([{"name": COOKIE, "value": cookie, "url": url}])
        page = await context.new_page()
        page.on("request", sent)
        page.on("requestfinished", finished)
        await page.goto(f"{url}/", wait_until="load")
        await page.wait_for_function("document.getElementById('live').dataset.state === 'live'")
        await asyncio.sleep(2.0)  # the refresh the stream's hello asks for
        async with SiteLogWriter("paris", kafka) as paris, SiteLogWriter("lyon", kafka) as lyon:
            writers = {"paris": paris, "lyon": lyon}
            counting = True
            started = loop.time()
            appended, tick = 0, 0
            while (now := loop.time()) - started < LOAD_SECONDS:
                by_site: dict[str, list[Event]] = {"paris": [], "lyon": []}
                for site, result in _results_for(tick):
                    by_site[site].append(
                        Event.create(result, site=site, origin="bench-poller", clock=clock)
                    )
                for site, events in by_site.items():
                    await writers[site].append_many(events)
                    appended += len(events)
                tick += 1
                await asyncio.sleep(max(0.0, started + tick * TICK - loop.time()))
            elapsed = now - started
            await asyncio.sleep(1.5)  # the last throttled refresh
            counting = False
        projected = await node.projector.wait_until(lambda: _changed(node, tick), timeout=30)
    finally:
        await context.close()
    in_window = [t for t in fetches if t - started < elapsed]
    return {
        "fetches_per_s": len(in_window) / elapsed,
        "events_per_s": appended / elapsed,
        "fetches": float(len(fetches)),
        "fetch_p50_ms": statistics.median(fetch_ms) if fetch_ms else float("nan"),
        "fetch_p90_ms": _p(fetch_ms, 90) if len(fetch_ms) > 1 else float("nan"),
        "projected": float(projected),
    }


def _changed(node: Node, ticks: int) -> bool:
    """Whether the projection holds the last result appended (the load was followed)."""
    _, last = _results_for(ticks - 1)[-1]
    row = node.projector.state.get(STATES, (last.host_name, last.service_description))
    return row is not None and row.state == last.state.value


async def _timed(what: str, step: Callable[[], Awaitable[Any]]) -> Any:
    note(f"console: {what}")
    return await step()


async def _run(dsn: str, bootstrap: str) -> list[Result]:
    schema = f"bench_console_{uuid.uuid4().hex[:8]}"
    note(f"console: seeding {HOSTS * SERVICES_PER_HOST:,} services")
    await asyncio.to_thread(seed, dsn, schema)
    secret, token = make_token("bench", ["read", "operate"])
    config = node_config(dsn, schema, bootstrap, (token,))
    async with Node(config) as node, NodeServer(node) as server, chromium() as browser:
        url = server.url
        cookie = await console_session(url, secret)
        times = await _timed("server times", lambda: _server_times(url, cookie))
        loads = await _timed("browser loads", lambda: _browser_loads(browser, url, cookie))
        load = await _timed(
            f"{EVENTS_PER_SECOND} results/s for {LOAD_SECONDS:.0f} s",
            lambda: _fetches_under_load(browser, url, cookie, KafkaSettings(bootstrap), node),
        )

    page_ms, api_ms = statistics.median(times["page"]), statistics.median(times["api_services"])
    console_load = [r["console"]["load_ms"] for r in loads]
    api_load = [r["api"]["load_ms"] for r in loads]
    cold = loads[0]["console"]
    page_bytes, fragment_bytes, problems_bytes, services_bytes = times["bytes"]
    services = HOSTS * SERVICES_PER_HOST
    return [
        Result(
            "console_landing",
            page_ms,
            "ms",
            api_ms,
            f"GET /api/v1/services?limit={PAGE}, same run",
            {
                "p90_ms": round(_p(times["page"], 90), 1),
                "baseline_p90_ms": round(_p(times["api_services"], 90), 1),
                "api_problems_ms": round(statistics.median(times["api_problems"]), 1),
                "ratio_to_api_problems": round(
                    page_ms / statistics.median(times["api_problems"]), 3
                ),
                "fragment_ms": round(statistics.median(times["fragment"]), 1),
                "repeats": REPEATS,
                "services": services,
                "target_ms": SERVER_TARGET_MS,
                "target_met": page_ms < SERVER_TARGET_MS,
            },
        ),
        Result(
            "console_browser_load",
            statistics.median(console_load),
            "ms",
            statistics.median(api_load),
            f"Chromium loading /api/v1/services?limit={PAGE}, same run",
            {
                "p90_ms": round(_p(console_load, 90), 1),
                "dom_content_loaded_ms": round(
                    statistics.median(r["console"]["dom_ms"] for r in loads), 1
                ),
                "response_end_ms": round(
                    statistics.median(r["console"]["response_ms"] for r in loads), 1
                ),
                "rounds": BROWSER_ROUNDS,
                "services": services,
                "target_ms": BROWSER_TARGET_MS,
                "target_met": statistics.median(console_load) < BROWSER_TARGET_MS,
            },
        ),
        Result(
            "console_bytes",
            float(cold["transfer"]),
            "bytes",
            services_bytes,
            f"body of GET /api/v1/services?limit={PAGE}",
            {
                "body_bytes": cold["body"],
                "document_bytes": cold["document_body"],
                "resources": cold["resources"],
                "fragment_bytes": int(fragment_bytes),
                "api_problems_bytes": int(problems_bytes),
                "page_bytes_uncompressed": int(page_bytes),
            },
        ),
        Result(
            "console_fetches",
            load["fetches_per_s"],
            "fetches/s",
            load["events_per_s"],
            "check results appended per second, same run",
            {
                "ceiling_per_s": 1.0,
                "fetches": int(load["fetches"]),
                "seconds": LOAD_SECONDS,
                "fetch_p50_ms": round(load["fetch_p50_ms"], 1),
                "fetch_p90_ms": round(load["fetch_p90_ms"], 1),
                "load_followed": bool(load["projected"]),
            },
        ),
    ]


def run() -> list[Result]:
    with ExitStack() as stack:
        dsn = stack.enter_context(EmbeddedPostgres()).dsn
        bootstrap = stack.enter_context(broker())
        return asyncio.run(_run(dsn, bootstrap))
