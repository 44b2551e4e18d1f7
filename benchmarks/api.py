"""Latency and throughput of the API's main list query under concurrent clients.

``api_services``: ``GET /api/v1/services?limit=50`` (first page, default order) over a
projection of 100,000 services, 50 clients each sending its next request as soon as
the last is answered, from a separate load process. ``api_services_filtered`` adds
``state=CRITICAL,WARNING&site=paris``, and ``api_services_deep`` starts from a
cursor in the middle of the list.

Baselines in the same run, under the same load from the same process:
- ``raw aiohttp``: a bare aiohttp handler answering a prepared body of the same size
  (the HTTP floor: what any aiohttp API costs here);
- ``raw SQL``: the same SQL run by 50 tasks over a psycopg pool, without HTTP.
``ratio`` is requests/s against the raw aiohttp handler.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import statistics
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from contextlib import ExitStack
from typing import Any

import aiohttp
import orjson
from aiohttp import web
from psycopg_pool import AsyncConnectionPool

from benchmarks.harness import Result, broker, note
from engine.api import ApiServer, params
from engine.api import queries as api_queries
from engine.dev import EmbeddedPostgres
from engine.log.kafka import KafkaSettings
from engine.node.config import NodeConfig, NodeRole
from engine.node.node import Node
from engine.node.tokens import ApiToken, make_token
from projections import fold
from projections.postgres import PostgresSink
from projections.state import Changes, ProjectionState
from schemas.configuration import HostDefined, ServiceDefined
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import HostCheckResult, ServiceCheckResult
from schemas.types import HostState, ServiceState, StateType, now_us

HOSTS, SERVICES_PER_HOST = 10_000, 10
CLIENTS = 50
REQUESTS = 4_000
ROUNDS = 3
PAGE = 50


def _events() -> list[Event]:
    clock = HybridLogicalClock()
    now = now_us()
    events = []
    for h in range(HOSTS):
        site = ("paris", "lyon")[h % 2]
        host = f"host-{h:05d}"

        def add(payload: Any, site: str = site) -> None:
            events.append(Event.create(payload, site=site, origin="bench", clock=clock))

        add(HostDefined(host_name=host, site_name=site, groups=("all",)), "central")
        add(
            HostCheckResult(
                host_name=host,
                state=HostState.UP,
                state_type=StateType.HARD,
                attempt=1,
                max_attempts=3,
                output="PING OK - rta 0.4 ms",
                check_time=now,
            )
        )
        for s in range(SERVICES_PER_HOST):
            service = f"service-{s:02d}"
            add(ServiceDefined(host_name=host, service_description=service), "central")
            state = ServiceState((h * 7 + s) % 23 % 4)
            add(
                ServiceCheckResult(
                    host_name=host,
                    service_description=service,
                    state=state,
                    state_type=StateType.HARD,
                    attempt=1,
                    max_attempts=3,
                    output=f"{service} {state.name}: value {h + s}",
                    perfdata=f"value={h + s};80;90;0;100",
                    check_time=now,
                )
            )
    return events


def seed(dsn: str, schema: str) -> None:
    """The projection of 100,000 services, folded and written by the projection's code."""
    state = ProjectionState()
    sink = PostgresSink.connect(dsn, schema)
    try:
        sink.create_tables()
        events = _events()
        for start in range(0, len(events), 20_000):
            changes = Changes()
            for event in events[start : start + 20_000]:
                fold.apply(state, event, changes)
            sink.write(changes)
        sink.conn.execute(f'ANALYZE "{schema}".states')
        sink.conn.commit()
    finally:
        sink.close()


def node_config(dsn: str, schema: str, bootstrap: str, tokens: tuple[ApiToken, ...]) -> NodeConfig:
    """A central node over the seeded ``schema``, following the sites of the seed."""
    kafka = KafkaSettings(bootstrap)
    return NodeConfig(
        name="central-1",
        role=NodeRole.CENTRAL,
        site="central",
        dsn=dsn,
        schema=schema,
        listen="127.0.0.1:0",
        sites={s: kafka for s in ("central", "paris", "lyon")},
        tokens=tokens,
    )


def _load(url: str, headers: dict[str, str], clients: int, requests: int) -> list[float]:
    """Run in the load process: latencies (seconds) of ``requests`` GETs by ``clients``."""

    async def main() -> list[float]:
        latencies: list[float] = []
        remaining = requests
        connector = aiohttp.TCPConnector(limit=clients)
        async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

            async def client() -> None:
                nonlocal remaining
                while remaining > 0:
                    remaining -= 1
                    started = time.perf_counter()
                    async with session.get(url) as response:
                        await response.read()
                        if response.status != 200:
                            raise RuntimeError(f"{url}: HTTP {response.status}")
                    latencies.append(time.perf_counter() - started)

            await asyncio.gather(*(client() for _ in range(clients)))
        return latencies

    return asyncio.run(main())


def _figures(latencies: list[float], elapsed: float) -> dict[str, float]:
    cuts = statistics.quantiles(latencies, n=100, method="inclusive")
    return {"rps": len(latencies) / elapsed, "p50_ms": cuts[49] * 1e3, "p99_ms": cuts[98] * 1e3}


async def _measure(
    pool: ProcessPoolExecutor, url: str, headers: dict[str, str]
) -> dict[str, float]:
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(pool, _load, url, headers, CLIENTS, 200)  # warm-up
    started = time.perf_counter()
    latencies = await loop.run_in_executor(pool, _load, url, headers, CLIENTS, REQUESTS)
    return _figures(latencies, time.perf_counter() - started)


async def _raw_sql(dsn: str, schema: str) -> dict[str, float]:
    select = api_queries.states(schema, now_us())
    select.filter("r.service_description <> ''")
    query = select.page(("host_name", "service_description"), False, None, PAGE)
    async with AsyncConnectionPool(
        dsn, min_size=10, max_size=10, kwargs={"autocommit": True}, open=False
    ) as pool:
        await pool.open(wait=True)
        latencies: list[float] = []
        remaining = REQUESTS

        async def client() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                async with pool.connection() as conn:
                    await (await conn.execute(query, select.params)).fetchall()
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(client() for _ in range(CLIENTS)))
        return _figures(latencies, time.perf_counter() - started)


async def _hello_server(body: bytes) -> web.AppRunner:
    async def hello(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="application/json")

    app = web.Application()
    app.router.add_get("/hello", hello)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    return runner


async def _run(dsn: str, bootstrap: str) -> list[Result]:
    schema = f"bench_api_{uuid.uuid4().hex[:8]}"
    note(f"api: seeding {HOSTS * SERVICES_PER_HOST:,} services")
    await asyncio.to_thread(seed, dsn, schema)
    secret, token = make_token("bench", ["read"])
    config = node_config(dsn, schema, bootstrap, (token,))
    headers = {"Authorization": f"Bearer {secret}"}
    spawn = multiprocessing.get_context("spawn")
    async with Node(config) as node, ApiServer(node) as api:
        base = f"{api.url}/api/v1/services?limit={PAGE}"
        async with aiohttp.ClientSession(headers=headers) as session, session.get(base) as got:
            page_body = await got.read()
        assert len(orjson.loads(page_body)["items"]) == PAGE
        middle = params.encode_cursor("name", (f"host-{HOSTS // 2:05d}", "service-00"))
        hello = await _hello_server(page_body)
        hello_url = f"http://127.0.0.1:{hello.addresses[0][1]}/hello"
        cases = {
            "api_services": base,
            "api_services_filtered": base + "&state=CRITICAL,WARNING&site=paris",
            "api_services_deep": f"{base}&cursor={middle}",
        }
        samples: dict[str, list[dict[str, float]]] = {name: [] for name in cases}
        samples["raw aiohttp"], samples["raw SQL"] = [], []
        try:
            with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                for round_no in range(ROUNDS):
                    note(f"api: round {round_no + 1}/{ROUNDS}")
                    for name, url in cases.items():
                        samples[name].append(await _measure(pool, url, headers))
                    samples["raw aiohttp"].append(await _measure(pool, hello_url, headers))
                    samples["raw SQL"].append(await _raw_sql(dsn, schema))
        finally:
            await hello.cleanup()

    def median(name: str, key: str) -> float:
        return statistics.median(s[key] for s in samples[name])

    results = []
    for name in cases:
        results.append(
            Result(
                name,
                median(name, "rps"),
                "req/s",
                median("raw aiohttp", "rps"),
                "raw aiohttp handler, same body",
                {
                    "p50_ms": round(median(name, "p50_ms"), 2),
                    "p99_ms": round(median(name, "p99_ms"), 2),
                    "baseline_p50_ms": round(median("raw aiohttp", "p50_ms"), 2),
                    "baseline_p99_ms": round(median("raw aiohttp", "p99_ms"), 2),
                    "raw_sql_rps": round(median("raw SQL", "rps"), 1),
                    "raw_sql_p99_ms": round(median("raw SQL", "p99_ms"), 2),
                    "services": HOSTS * SERVICES_PER_HOST,
                    "clients": CLIENTS,
                    "p99_target_ms": 20,
                },
            )
        )
    return results


def run() -> list[Result]:
    with ExitStack() as stack:
        dsn = stack.enter_context(EmbeddedPostgres()).dsn
        bootstrap = stack.enter_context(broker())
        return asyncio.run(_run(dsn, bootstrap))
