"""End-to-end projection throughput: site logs into PostgreSQL, perfdata on.

``projection``: events/s from the first fetch until the projector has committed the
log end of three site logs (simulated check results with perfdata, some operator
actions) into a fresh schema, against a raw aiokafka consumer reading the same logs
without decoding, in the same run on the same broker.
"""

from __future__ import annotations

import asyncio
import uuid
from contextlib import ExitStack

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
from engine.projector import Projector
from engine.site_log import SiteLogWriter

EVENTS = 100_000
ROUNDS = 3
SITES = ("paris", "lyon", "nice")


async def _produce(settings: KafkaSettings, sites: dict[str, str], count: int) -> None:
    traffic = simulation.Traffic(sites=tuple(sites))
    writers = {site: SiteLogWriter(topic_site, settings) for site, topic_site in sites.items()}
    for writer in writers.values():
        await writer.start()
    pending = []
    for event in simulation.events(count, traffic):
        pending.append(
            await writers[event.site].send_raw(
                event.key.encode(), writers[event.site].codec.encode(event)
            )
        )
    await asyncio.gather(*pending)
    for writer in writers.values():
        await writer.stop()


async def _project(dsn: str, settings: KafkaSettings, sites: list[str]) -> float:
    projector = Projector(
        dsn, dict.fromkeys(sites, settings), schema=f"bench_{uuid.uuid4().hex[:8]}"
    )
    loop = asyncio.get_running_loop()
    started = loop.time()
    await projector.start()
    try:
        assert await projector.wait_caught_up(600)
        elapsed = loop.time() - started
        return sum(s.events for s in projector.status.values()) / elapsed
    finally:
        await projector.stop()


def run(events: int = EVENTS, rounds: int = ROUNDS) -> list[Result]:
    with ExitStack() as stack:
        bootstrap = stack.enter_context(broker())
        postgres = stack.enter_context(EmbeddedPostgres())
        dsn = postgres.create_database("bench")
        settings = KafkaSettings(bootstrap)
        prefix = uuid.uuid4().hex[:6]
        sites = {site: f"{site}{prefix}" for site in SITES}
        note(f"projection: producing {events} events into {len(sites)} site logs")
        asyncio.run(_produce(settings, sites, events))
        topic_sites = list(sites.values())
        note(f"projection: {rounds} rounds")
        ours, raw = alternate(
            rounds,
            lambda _: asyncio.run(_project(dsn, settings, topic_sites)),
            lambda _: asyncio.run(raw_consume_sites(bootstrap, topic_sites, events)),
        )
    return [
        Result(
            "projection",
            median_rate(ours),
            "events/s",
            median_rate(raw),
            "aiokafka getmany() of the same logs, no decoding",
            {"events": events, "rounds": rounds, "perfdata": True},
        )
    ]
