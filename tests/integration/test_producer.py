"""The producer library against a real broker: order, restart, and the spool's bound policies."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from pathlib import Path

import pytest

from engine.dev.process import free_port
from engine.log.kafka import KafkaSettings
from engine.poller import simulation
from engine.poller.producer import Producer, SpoolSettings
from engine.poller.spool import pending_records
from schemas.errors import InvalidEventError
from schemas.event import Event
from tests.support.cli import read_log_async

MiB = 1024 * 1024


def _events(site: str, count: int) -> list[Event]:
    traffic = simulation.Traffic(sites=(site,), hosts_per_site=20, operator_rate=0)
    return list(simulation.events(count, traffic))


def _unreachable() -> KafkaSettings:
    return KafkaSettings(f"127.0.0.1:{free_port()}", connect_timeout=0.5, request_timeout=0.5)


def _per_host(events: list[Event]) -> dict[str, list[bytes]]:
    hosts: dict[str, list[bytes]] = {}
    for event in events:
        hosts.setdefault(event.key, []).append(event.event_id)
    return hosts


def test_submitted_events_reach_the_log_in_per_host_order(
    kafka: KafkaSettings, site: str, tmp_path: Path
) -> None:
    events = _events(site, 3000)

    async def run() -> list[Event]:
        async with Producer(site, kafka, SpoolSettings(tmp_path)) as producer:
            for i in range(0, len(events), 250):
                await producer.submit(events[i : i + 250])
            assert await producer.drain(30)
            assert producer.stats.acknowledged == producer.stats.accepted == len(events)
        return await read_log_async(kafka, site, len(events))

    logged = asyncio.run(run())
    assert sorted(e.event_id for e in logged) == sorted(e.event_id for e in events)
    assert _per_host(logged) == _per_host(events)
    assert pending_records(tmp_path) == []


def test_an_invalid_event_makes_the_whole_submit_fail_and_accepts_nothing(tmp_path: Path) -> None:
    event = _events("paris", 1)[0]
    bad = dataclasses.replace(event, origin="with\x00nul")

    async def run() -> None:
        async with Producer("paris", _unreachable(), SpoolSettings(tmp_path)) as producer:
            with pytest.raises(InvalidEventError, match="NUL"):
                await producer.submit([event, bad])
            assert producer.stats.accepted == 0

    asyncio.run(run())
    assert pending_records(tmp_path) == []


def test_what_one_run_spooled_in_an_outage_the_next_run_delivers(
    kafka: KafkaSettings, site: str, tmp_path: Path
) -> None:
    events = _events(site, 500)

    async def outage() -> int:
        producer = Producer(site, _unreachable(), SpoolSettings(tmp_path))
        await producer.start()
        await producer.submit(events)
        assert not await producer.drain(1.0)
        return await producer.stop()

    assert asyncio.run(outage()) == len(events)

    async def recovery() -> tuple[int, list[Event]]:
        async with Producer(site, kafka, SpoolSettings(tmp_path)) as producer:
            assert await producer.drain(30)
            inherited = producer.inherited
        return inherited, await read_log_async(kafka, site, len(events))

    inherited, logged = asyncio.run(recovery())
    assert inherited == len(events)
    assert _per_host(logged) == _per_host(events)


def test_a_full_spool_holds_the_input_under_the_block_policy(tmp_path: Path) -> None:
    events = _events("paris", 2000)

    async def run() -> tuple[int, int]:
        spool = SpoolSettings(tmp_path, max_bytes=MiB, fsync=False)
        async with Producer("paris", _unreachable(), spool) as producer:
            submitted = 0
            with pytest.raises(TimeoutError):
                while True:  # until a submit is held back: the spool is full
                    await asyncio.wait_for(producer.submit(events[:100]), 2.0)
                    submitted += 100
            return submitted, producer.stats.pending

    submitted, pending = asyncio.run(run())
    assert submitted > 0 and pending == submitted  # held back, nothing dropped
    assert len(pending_records(tmp_path)) == submitted


def test_a_full_spool_drops_its_oldest_records_under_drop_oldest_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    events = _events("paris", 100)

    async def run() -> tuple[int, int, int]:
        spool = SpoolSettings(tmp_path, max_bytes=MiB, when_full="drop-oldest", fsync=False)
        async with Producer("paris", _unreachable(), spool) as producer:
            for _ in range(80):  # about twice what the bound holds
                await asyncio.wait_for(producer.submit(events), 2.0)
            stats = producer.stats
            return stats.accepted, stats.dropped, stats.pending

    with caplog.at_level(logging.ERROR, logger="engine.poller.producer"):
        accepted, dropped, pending = asyncio.run(run())
    assert dropped > 0 and pending == accepted - dropped
    assert len(pending_records(tmp_path)) == pending
    assert any("dropped its oldest" in r.getMessage() for r in caplog.records)
