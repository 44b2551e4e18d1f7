"""The perfdata API's time for a 31-day and a 365-day graph of one metric.

A year of one service's three metrics (``Disk /var``: ``used``, ``free``, ``inodes``), a
point every 5 minutes, is written through the real ``PostgresSink.write`` (so the tiers
are the ones the sink maintains); no expiry runs, so the raw points of the whole year
stay for the baseline (and the node runs with every retention window "forever").
A node's API (``engine.api.ApiServer``, as ``benchmarks.api``
starts it) answers ``GET /api/v1/hosts/{host}/services/{service}/perfdata?label=used``
over the last 31 and 365 days; it picks the tier and says which.

Baseline, same run: the raw points of that metric over the same span, read by one
psycopg query (no HTTP, no JSON): what a graph without tiers would have to read.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
import uuid
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import quote

import aiohttp
import psycopg

from benchmarks.api import node_config
from benchmarks.harness import broker, note
from benchmarks.storage_data import DAY, EPOCH, SECOND, first_changes, point_changes, site_metrics
from engine.api import ApiServer
from engine.node.node import Node
from engine.node.tokens import make_token
from projections.postgres import PostgresSink
from projections.retention import RetentionPolicy

INTERVAL = 300  # seconds between points of the graphed metric
LABEL = "used"
_RAW = (
    "SELECT p.check_time, p.value FROM {s}.perfdata_metrics m"
    " JOIN {s}.perfdata_points p USING (metric_id)"
    " WHERE m.host_name = %s AND m.service_description = %s AND m.label = %s"
    " AND p.check_time >= %s AND p.check_time < %s ORDER BY p.check_time"
)


@dataclass(frozen=True)
class Graph:
    days: int
    api_ms: float  # median
    api_p90_ms: float
    raw_ms: float  # median of the baseline query
    values: int  # windows answered for the label
    raw_points: int  # points the baseline read
    resolution: str
    tier: str | None
    step: int | None


def _seed(dsn: str, schema: str, days: int) -> tuple[str, str, int]:
    """A year of the first service's metrics; its host, service and the year's end."""
    metrics = site_metrics(1, INTERVAL)
    rng = random.Random(17)
    step = INTERVAL * SECOND
    with PostgresSink.connect(dsn, schema) as sink:
        sink.create_tables()
        sink.write(first_changes(metrics, "paris", EPOCH))
        for day in range(days):
            start = EPOCH + day * DAY
            sink.write(point_changes(metrics, range(start, start + DAY, step), rng))
        with sink.conn.cursor() as cur:
            cur.execute(f'ANALYZE "{schema}".perfdata_points')
        sink.conn.commit()
    return metrics[0].host, metrics[0].service, EPOCH + days * DAY


async def _time_api(
    session: aiohttp.ClientSession, url: str, repeats: int
) -> tuple[list[float], dict[str, Any]]:
    samples, body = [], {}
    for _ in range(repeats + 1):  # the first one warms the pool and the caches
        started = time.perf_counter()
        async with session.get(url) as response:
            body = await response.json()
            if response.status != 200:
                raise RuntimeError(f"{url}: HTTP {response.status}: {body}")
        samples.append(time.perf_counter() - started)
    return samples[1:], body


def _time_raw(
    dsn: str, schema: str, args: tuple[Any, ...], repeats: int
) -> tuple[list[float], int]:
    query = _RAW.format(s=f'"{schema}"')
    samples, count = [], 0
    with psycopg.connect(dsn, autocommit=True) as conn:
        for _ in range(repeats + 1):
            started = time.perf_counter()
            count = len(conn.execute(query, args).fetchall())
            samples.append(time.perf_counter() - started)
    return samples[1:], count


async def _measure(dsn: str, bootstrap: str, schema: str, repeats: int) -> list[Graph]:
    host, service, end = await asyncio.to_thread(_seed, dsn, schema, 365)
    secret, token = make_token("bench", ["read"])
    # Retention kept for ever: the node's maintenance, which expires by the wall clock,
    # must leave the simulated year whole for the raw baseline.
    forever = RetentionPolicy(*(None,) * len(fields(RetentionPolicy)))
    config = replace(node_config(dsn, schema, bootstrap, (token,)), retention=forever)
    headers = {"Authorization": f"Bearer {secret}"}
    graphs = []
    async with (
        Node(config) as node,
        ApiServer(node) as api,
        aiohttp.ClientSession(headers=headers) as session,
    ):
        for days in (31, 365):
            start = end - days * DAY
            url = (
                f"{api.url}/api/v1/hosts/{quote(host, safe='')}/services/"
                f"{quote(service, safe='')}/perfdata?label={LABEL}&from={start}&to={end}"
            )
            api_s, body = await _time_api(session, url, repeats)
            raw_s, raw_points = await asyncio.to_thread(
                _time_raw, dsn, schema, (host, service, LABEL, start, end), repeats
            )
            series = body.get("series") or [{}]
            graphs.append(
                Graph(
                    days,
                    statistics.median(api_s) * 1e3,
                    statistics.quantiles(api_s, n=10)[-1] * 1e3,
                    statistics.median(raw_s) * 1e3,
                    len(series[0].get("points", [])),
                    raw_points,
                    str(body.get("resolution")),
                    body.get("tier"),
                    body.get("step"),
                )
            )
            g = graphs[-1]
            note(
                f"storage api: {days}-day graph {g.api_ms:.1f} ms ({g.values} values,"
                f" {g.resolution} {g.tier}), raw query {g.raw_ms:.1f} ms"
                f" ({raw_points:,} points)"
            )
    return graphs


def run(dsn: str, repeats: int) -> list[Graph]:
    note("storage api: writing a year of one service's perfdata, a point every 5 minutes")
    with broker() as bootstrap:
        return asyncio.run(_measure(dsn, bootstrap, f"bench_api_{uuid.uuid4().hex[:6]}", repeats))
