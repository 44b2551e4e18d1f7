"""Rebuild time: ``sitelog replay``'s rebuild of 1,000,000 events into a fresh schema.

Three site logs of simulated check results (perfdata included) and operator actions
are written once with the producer library; then each round rebuilds them from the
log starts to the log ends with ``engine.replay.rebuild`` (read, decode, fold, write
with the offsets), timed from the first fetch to the last commit. The baseline is a
raw aiokafka consumer reading the same logs without decoding, in the same run on the
same broker. Target: under 20 s for 1,000,000 events on two cores.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

from benchmarks.harness import (
    Result,
    alternate,
    broker,
    median_rate,
    note,
    raw_consume_sites,
)
from engine import simulation
from engine.embedded import EmbeddedPostgres
from engine.kafka import KafkaSettings
from engine.producer import Producer, SpoolSettings
from engine.replay import log_bounds, rebuild

EVENTS = 1_000_000
ROUNDS = 1
SITES = ("paris", "lyon", "nice")
TARGET_SECONDS = 20.0


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
        chunk: dict[str, list[object]] = {site: [] for site in sites}
        for event in simulation.events(count, traffic):
            # Events carry their simulated site; each goes to its bench topic's producer.
            chunk[event.site].append(event)
            if len(chunk[event.site]) == 2000:
                await producers[event.site].submit(chunk[event.site])  # type: ignore[arg-type]
                chunk[event.site] = []
        for site, rest in chunk.items():
            await producers[site].submit(rest)  # type: ignore[arg-type]
        for producer in producers.values():
            assert await producer.drain(600)
            await producer.stop()


async def _rebuild(dsn: str, settings: KafkaSettings, sites: list[str]) -> tuple[float, int]:
    followed = dict.fromkeys(sites, settings)
    starts, ends = await log_bounds(followed)
    started = time.perf_counter()
    stats = await rebuild(dsn, f"bench_{uuid.uuid4().hex[:8]}", followed, starts, ends)
    return time.perf_counter() - started, stats.total


def run(events: int = EVENTS, rounds: int = ROUNDS) -> list[Result]:
    with ExitStack() as stack:
        bootstrap = stack.enter_context(broker())
        postgres = stack.enter_context(EmbeddedPostgres())
        dsn = postgres.create_database("bench")
        settings = KafkaSettings(bootstrap)
        prefix = uuid.uuid4().hex[:6]
        sites = {site: f"{site}{prefix}" for site in SITES}
        note(f"replay: producing {events} events into {len(sites)} site logs")
        asyncio.run(_produce(settings, sites, events))
        topic_sites = list(sites.values())
        seconds: list[float] = []

        def ours(_: int) -> float:
            elapsed, total = asyncio.run(_rebuild(dsn, settings, topic_sites))
            assert total == events, f"rebuilt {total} of {events} records"
            seconds.append(elapsed)
            note(f"replay: rebuilt {total} events in {elapsed:.1f}s")
            return total / elapsed

        note(f"replay: {rounds} rounds")
        rebuilt, raw = alternate(
            rounds, ours, lambda _: asyncio.run(raw_consume_sites(bootstrap, topic_sites, events))
        )
    return [
        Result(
            "replay_rebuild",
            median_rate(rebuilt),
            "events/s",
            median_rate(raw),
            "aiokafka getmany() of the same logs, no decoding",
            {
                "events": events,
                "rounds": rounds,
                "seconds": round(sorted(seconds)[len(seconds) // 2], 1),
                "target_seconds": TARGET_SECONDS,
            },
        )
    ]
