"""End-to-end projection throughput: site logs into PostgreSQL, perfdata on.

``projection``: events/s from the first fetch until the projector has committed the
log end of three site logs (simulated check results with perfdata, some operator
actions) into a fresh schema, against a raw aiokafka consumer reading the same logs
without decoding, in the same run on the same broker.
"""

from __future__ import annotations

import asyncio
import uuid

from benchmarks.harness import (
    Result,
    alternate,
    median_rate,
    note,
    raw_consume_sites,
    simulated_logs,
)
from engine.log.kafka import KafkaSettings
from engine.node.projector import Projector

EVENTS = 100_000
ROUNDS = 3


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
    with simulated_logs("projection", events) as logs:
        note(f"projection: {rounds} rounds")
        bootstrap = logs.settings.bootstrap_servers
        ours, raw = alternate(
            rounds,
            lambda _: asyncio.run(_project(logs.dsn, logs.settings, logs.sites)),
            lambda _: asyncio.run(raw_consume_sites(bootstrap, logs.sites, events)),
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
