"""Shared benchmark plumbing: results as JSON lines, medians of alternating rounds, services.

The broker is chosen once per run (``use_broker``): an embedded Tansu (the default) or an
embedded Apache Kafka, or the brokers at ``SITELOG_BENCH_BOOTSTRAP``. Every figure and its
baseline of one run are measured on that same broker.
"""

from __future__ import annotations

import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.dev import EmbeddedPostgres
from engine.dev.brokers import BrokerKind, embedded_broker
from engine.log.kafka import KafkaSettings
from engine.log.records import DEFAULT_PARTITIONS, topic_for
from engine.poller import simulation
from engine.poller.producer import Producer, SpoolSettings
from schemas.event import Event


@dataclass
class Result:
    """One benchmark figure beside its same-run baseline; ``ratio`` = value / baseline."""

    bench: str
    value: float
    unit: str
    baseline: float
    baseline_name: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else float("nan")

    def json_line(self) -> str:
        body = {
            "bench": self.bench,
            "value": round(self.value, 1),
            "unit": self.unit,
            "baseline": round(self.baseline, 1),
            "ratio": round(self.ratio, 3),
            "baseline_name": self.baseline_name,
            **self.extra,
        }
        return orjson.dumps(body).decode()


def median_rate(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(fn: Callable[[], Any]) -> float:
    """Seconds taken by ``fn()``."""
    started = time.perf_counter()
    fn()
    return time.perf_counter() - started


def alternate(rounds: int, *runs: Callable[[int], float]) -> list[list[float]]:
    """Run each measurement once per round, alternating, so that noise hits them all alike."""
    samples: list[list[float]] = [[] for _ in runs]
    for round_no in range(rounds):
        for i, run in enumerate(runs):
            samples[i].append(run(round_no))
    return samples


#: Brokers to measure on instead of an embedded one.
ENV_BOOTSTRAP = "SITELOG_BENCH_BOOTSTRAP"
# The embedded broker of this run: one process runs one set of benchmarks on one broker.
_broker_kind = BrokerKind.TANSU


def use_broker(kind: BrokerKind) -> None:
    """Run the following benchmarks on an embedded broker of ``kind``."""
    global _broker_kind
    _broker_kind = kind


def broker_name() -> str:
    """What the figures were measured on: ``tansu``, ``kafka`` or ``external``."""
    return "external" if os.environ.get(ENV_BOOTSTRAP) else str(_broker_kind)


@contextmanager
def broker() -> Iterator[str]:
    """Bootstrap servers: SITELOG_BENCH_BOOTSTRAP, or an embedded broker for this run."""
    if given := os.environ.get(ENV_BOOTSTRAP):
        yield given
        return
    with embedded_broker(_broker_kind) as embedded:
        note(f"{_broker_kind} broker on {embedded.bootstrap_servers}")
        yield embedded.bootstrap_servers


def note(message: str) -> None:
    """Progress for the person running the benchmarks; stdout stays pure JSON lines."""
    print(message, file=sys.stderr, flush=True)


async def raw_consume(
    bootstrap_servers: str, partitions: list[TopicPartition], count: int
) -> float:
    """The baseline reader: events/s fetching ``count`` records with aiokafka, no decoding."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap_servers,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=200,
        max_partition_fetch_bytes=4 * 1024 * 1024,
    )
    await consumer.start()
    try:
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen = 0
        while seen < count:
            fetched = await consumer.getmany(timeout_ms=2000, max_records=5000)
            seen += sum(len(records) for records in fetched.values())
        return count / (loop.time() - started)
    finally:
        await consumer.stop()


async def raw_consume_sites(bootstrap_servers: str, sites: list[str], count: int) -> float:
    """The baseline reader over every partition of the given sites' logs."""
    partitions = [TopicPartition(topic_for(s), p) for s in sites for p in range(DEFAULT_PARTITIONS)]
    return await raw_consume(bootstrap_servers, partitions, count)


SIMULATED_SITES = ("paris", "lyon", "nice")


@dataclass(frozen=True)
class SimulatedLogs:
    """Site logs of simulated traffic on a broker, and a PostgreSQL database to project into."""

    settings: KafkaSettings
    dsn: str
    sites: list[str]  # the topics' site names, unique to this run


@contextmanager
def simulated_logs(name: str, events: int) -> Iterator[SimulatedLogs]:
    """``events`` simulated results and operator actions in three fresh site logs."""
    with broker() as bootstrap, EmbeddedPostgres() as postgres:
        settings = KafkaSettings(bootstrap)
        prefix = uuid.uuid4().hex[:6]
        sites = {site: f"{site}{prefix}" for site in SIMULATED_SITES}
        note(f"{name}: producing {events} events into {len(sites)} site logs")
        asyncio.run(_produce(settings, sites, events))
        yield SimulatedLogs(settings, postgres.create_database("bench"), list(sites.values()))


async def _produce(settings: KafkaSettings, sites: dict[str, str], count: int) -> None:
    """Write the logs through the producer library, its fastest path."""
    traffic = simulation.Traffic(sites=tuple(sites))
    with tempfile.TemporaryDirectory(prefix="sitelog-bench-") as spools:
        producers = {
            site: Producer(topic_site, settings, SpoolSettings(Path(spools) / site, fsync=False))
            for site, topic_site in sites.items()
        }
        for producer in producers.values():
            await producer.start()
        chunk: dict[str, list[Event]] = {site: [] for site in sites}
        for event in simulation.events(count, traffic):
            # Events carry their simulated site; each goes to its bench topic's producer.
            chunk[event.site].append(event)
            if len(chunk[event.site]) == 2000:
                await producers[event.site].submit(chunk[event.site])
                chunk[event.site] = []
        for site, rest in chunk.items():
            await producers[site].submit(rest)
        for producer in producers.values():
            assert await producer.drain(600)
            await producer.stop()
