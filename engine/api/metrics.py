"""Prometheus metrics of a node: replication per site, the projector and its database,
the write path, the API's own requests, and the process.

Replication figures, queue depth and database availability are read from the node at
scrape time (a custom collector), so they are never stale; a lag that is not known yet
is left out rather than reported as 0. Rates are the Prometheus way of deriving them:
events per second is ``rate(sitelog_events_applied_total[1m])``.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

from aiohttp import web
from prometheus_client import (
    CollectorRegistry,
    Counter,
    GCCollector,
    Histogram,
    PlatformCollector,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.node.node import Node
from engine.node.site_status import DatabaseState, SiteState

__all__ = ["CONTENT_TYPE", "ApiMetrics", "NodeCollector"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class NodeCollector(Collector):
    """Gauges and counters read from the node when scraped."""

    def __init__(self, node: Node) -> None:
        self.node = node

    def collect(self) -> Iterator[Metric]:
        site = ["site"]
        lag = GaugeMetricFamily(
            "sitelog_site_lag_events",
            "Records in the site log not yet projected (absent while unknown)",
            labels=site,
        )
        connected = GaugeMetricFamily(
            "sitelog_site_connected", "1 while the site log is reachable", labels=site
        )
        failed = GaugeMetricFamily(
            "sitelog_site_failed",
            "1 when the site stopped for good (its log went backwards)",
            labels=site,
        )
        applied = CounterMetricFamily(
            "sitelog_events_applied", "Events projected since the node started", labels=site
        )
        letters = CounterMetricFamily(
            "sitelog_dead_letters", "Undecodable records since the node started", labels=site
        )
        last = GaugeMetricFamily(
            "sitelog_site_last_event_time_seconds",
            "Event time of the last projected event",
            labels=site,
        )
        for name, status in sorted(self.node.status.items()):
            if status.lag is not None:
                lag.add_metric([name], status.lag)
            connected.add_metric([name], 1.0 if status.state is SiteState.RUNNING else 0.0)
            failed.add_metric([name], 1.0 if status.state is SiteState.FAILED else 0.0)
            applied.add_metric([name], status.events)
            letters.add_metric([name], status.dead_letters)
            if status.last_event_time is not None:
                last.add_metric([name], status.last_event_time / 1e6)
        yield from (lag, connected, failed, applied, letters, last)
        projector = self.node.projector
        yield GaugeMetricFamily(
            "sitelog_projector_queue_batches",
            "Batches read and decoded, waiting to be folded and written",
            value=projector.queued_batches,
        )
        yield GaugeMetricFamily(
            "sitelog_database_up",
            "1 while the projector can write to PostgreSQL",
            value=1.0 if projector.database.state is DatabaseState.AVAILABLE else 0.0,
        )
        yield CounterMetricFamily(
            "sitelog_database_outages",
            "PostgreSQL outages the projector waited out since the node started",
            value=projector.database.outages,
        )
        yield GaugeMetricFamily(
            "sitelog_projector_failed",
            "1 when the projector stopped on an error retrying cannot fix",
            value=0.0 if projector.failure is None else 1.0,
        )


class ApiMetrics:
    """One API's registry: the node's instruments and collector, HTTP figures, the process."""

    def __init__(self, node: Node) -> None:
        # A registry per API, not the node's: an API started again registers anew.
        self.registry = CollectorRegistry()
        self.registry.register(node.metrics.registry)
        self.registry.register(NodeCollector(node))
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "sitelog_api_requests",
            "API requests answered, by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "sitelog_api_request_seconds",
            "API request latency, by method and route",
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
