"""Prometheus figures of a poller-side producer, read from its stats when scraped, and
serving them (``sitelog produce`` / ``sitelog ingest --metrics-listen HOST:PORT``).

Counters: events accepted into the spool, acknowledged by the brokers, dropped by the
``drop-oldest`` bound, and delivery rounds that failed (an outage: resent whole). Gauges:
events waiting in the spool, its size on disk, and whether the brokers are connected.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from engine.errors import ConfigError
from engine.poller.producer import Producer

__all__ = ["ProducerCollector", "serve_metrics"]


class ProducerCollector(Collector):
    def __init__(self, producer: Producer) -> None:
        self.producer = producer

    def collect(self) -> Iterator[Metric]:
        stats = self.producer.stats
        labels = {"site": self.producer.site}

        def counter(name: str, text: str, value: float) -> Metric:
            family = CounterMetricFamily(name, text, labels=list(labels))
            family.add_metric(list(labels.values()), value)
            return family

        def gauge(name: str, text: str, value: float) -> Metric:
            family = GaugeMetricFamily(name, text, labels=list(labels))
            family.add_metric(list(labels.values()), value)
            return family

        yield counter("sitelog_producer_accepted", "Events accepted into the spool", stats.accepted)
        yield counter(
            "sitelog_producer_acknowledged", "Events the brokers acknowledged", stats.acknowledged
        )
        yield counter(
            "sitelog_producer_dropped", "Events dropped when the spool was full", stats.dropped
        )
        yield counter(
            "sitelog_producer_failed_rounds",
            "Delivery rounds that failed and were resent whole",
            stats.failed_rounds,
        )
        yield gauge("sitelog_producer_pending", "Events waiting in the spool", stats.pending)
        yield gauge("sitelog_producer_spool_bytes", "Size of the spool on disk", stats.spool_bytes)
        yield gauge(
            "sitelog_producer_connected", "1 while the brokers are connected", stats.connected
        )


def serve_metrics(producer: Producer, listen: str) -> CollectorRegistry:
    """Serve the producer's figures at ``http://LISTEN/metrics`` from a daemon thread."""
    host, _, port = listen.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigError(f"--metrics-listen {listen!r}: expected HOST:PORT")
    registry = CollectorRegistry()
    registry.register(ProducerCollector(producer))
    try:
        start_http_server(int(port), host.strip("[]"), registry=registry)
    except OSError as exc:
        raise ConfigError(f"--metrics-listen {listen}: {exc.strerror}") from None
    return registry
