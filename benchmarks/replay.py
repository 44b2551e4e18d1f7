"""Rebuild time: ``sitelog replay``'s rebuild of 1,000,000 events into a fresh schema.

Three site logs of simulated check results (perfdata included) and operator actions
are written once (``benchmarks.harness.simulated_logs``); then each round rebuilds them from the
log starts to the log ends with ``engine.recovery.replay.rebuild`` (read, decode, fold, write
with the offsets), timed from the first fetch to the last commit. The baseline is a
raw aiokafka consumer reading the same logs without decoding, in the same run on the
same broker. Target: under 20 s for 1,000,000 events on two cores.
"""

from __future__ import annotations

import asyncio
import time
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
from engine.recovery.replay import log_bounds, rebuild

EVENTS = 1_000_000
ROUNDS = 1
TARGET_SECONDS = 20.0


async def _rebuild(dsn: str, settings: KafkaSettings, sites: list[str]) -> tuple[float, int]:
    followed = dict.fromkeys(sites, settings)
    starts, ends = await log_bounds(followed)
    started = time.perf_counter()
    stats = await rebuild(dsn, f"bench_{uuid.uuid4().hex[:8]}", followed, starts, ends)
    return time.perf_counter() - started, stats.total


def run(events: int = EVENTS, rounds: int = ROUNDS) -> list[Result]:
    seconds: list[float] = []
    with simulated_logs("replay", events) as logs:

        def ours(_: int) -> float:
            elapsed, total = asyncio.run(_rebuild(logs.dsn, logs.settings, logs.sites))
            assert total == events, f"rebuilt {total} of {events} records"
            seconds.append(elapsed)
            note(f"replay: rebuilt {total} events in {elapsed:.1f}s")
            return total / elapsed

        note(f"replay: {rounds} rounds")
        bootstrap = logs.settings.bootstrap_servers
        rebuilt, raw = alternate(
            rounds, ours, lambda _: asyncio.run(raw_consume_sites(bootstrap, logs.sites, events))
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
