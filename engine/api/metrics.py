"""Prometheus metrics of a node: replication per site, and the API's own latency.

Replication figures are read from the projector's status at scrape time (a custom
collector), so they are never stale. Events per second is
``rate(sitelog_events_applied_total[1m])``, the Prometheus way of deriving a rate.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Iterator

from aiohttp import web
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.node.node import Node

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class ReplicationCollector(Collector):
    def __init__(self, node: Node) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        lag = GaugeMetricFamily(
            "sitelog_site_lag_events", "Records in the site log not yet projected", labels=["site"]
        )
        connected = GaugeMetricFamily(
            "sitelog_site_connected", "1 while the site log is reachable", labels=["site"]
        )
        applied = CounterMetricFamily(
            "sitelog_events_applied", "Events projected since the node started", labels=["site"]
        )
        letters = CounterMetricFamily(
            "sitelog_dead_letters", "Undecodable records since the node started", labels=["site"]
        )
        last = GaugeMetricFamily(
            "sitelog_site_last_event_time_seconds",
            "Event time of the last projected event",
            labels=["site"],
        )
        for site, status in sorted(self.node.status.items()):
            lag.add_metric([site], status.lag)
            connected.add_metric([site], 1.0 if status.state == "running" else 0.0)
            applied.add_metric([site], status.events)
            letters.add_metric([site], status.dead_letters)
            if status.last_event_time is not None:
                last.add_metric([site], status.last_event_time / 1e6)
        yield from (lag, connected, applied, letters, last)


class ApiMetrics:
    def __init__(self, node: Node) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(ReplicationCollector(node))
        self.requests = Counter(
            "sitelog_api_requests",
            "API requests answered",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sitelog_api_request_seconds",
            "API request latency",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10),
        )

    def observe(self, request: web.Request, status: int, started: float) -> None:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "unmatched"
        self.latency.labels(request.method, route).observe(time.perf_counter() - started)
        self.requests.labels(request.method, route, str(status)).inc()

    async def serve(self, request: web.Request) -> web.Response:
        return web.Response(
            body=generate_latest(self.registry), headers={"Content-Type": CONTENT_TYPE}
        )
