"""Site logs against a real Kafka-protocol broker.

The broker contract (what is written is read back, byte for byte, in per-key order, from
exact offsets with exact log ends; a log that lost its records is seen to have gone
backwards) runs on both brokers, Tansu and Apache Kafka (``contract_kafka``,
``CONTRACT_BROKERS``); the rest on the switch's broker (``tests.support.brokers``).
"""

from __future__ import annotations

import asyncio
import socket
import time
import uuid
from collections import defaultdict
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.dev.brokers import BrokerKind
from engine.errors import BrokerUnavailableError, LogWentBackwardsError
from engine.log.kafka import KafkaSettings
from engine.log.reader import SiteLogReader
from engine.log.records import ReadBatch
from engine.log.writer import SiteLogWriter
from schemas.codec import MAGIC, Codec
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from tests.support.brokers import CONTRACT_BROKERS, test_broker
from tests.support.scenarios import numbered_check as check
from tests.support.strategies import events

T = TypeVar("T")


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def new_site() -> str:
    return f"t{uuid.uuid4().hex[:12]}"


async def read_all(reader: SiteLogReader, expected: int, bound: float = 20.0) -> list[ReadBatch]:
    """Read until ``expected`` records (events and dead letters) came, within ``bound`` seconds."""
    batches: list[ReadBatch] = []
    loop = asyncio.get_running_loop()
    deadline = loop.time() + bound
    seen = 0
    while seen < expected:
        assert loop.time() < deadline, f"read {seen} of {expected} records in {bound}s"
        for batch in await reader.read(timeout=0.5):
            batches.append(batch)
            seen += len(batch.events) + len(batch.dead_letters)
    return batches


@given(sent=st.lists(events, min_size=1, max_size=30))
# contract_kafka is per test but only settings: every example may share it.
@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
def test_any_events_round_trip_through_a_real_site_log(
    contract_kafka: KafkaSettings, sent: list[Event]
) -> None:
    site, kafka = new_site(), contract_kafka

    async def scenario() -> None:
        async with SiteLogWriter(site, kafka) as writer:
            positions = await writer.append_many(sent)
        async with SiteLogReader(site, kafka) as reader:
            await reader.assign()
            batches = await read_all(reader, len(sent))
        got = {(b.partition, off): ev for b in batches for off, ev in b.events}
        assert {(p.partition, p.offset): ev for p, ev in zip(positions, sent, strict=True)} == got

    run(scenario())


def test_per_key_order_survives_and_one_key_stays_in_one_partition(
    contract_kafka: KafkaSettings,
) -> None:
    site, kafka = new_site(), contract_kafka
    clock = HybridLogicalClock()
    hosts = [f"host-{i:03d}" for i in range(40)]
    sent = [check(hosts[i % len(hosts)], i, clock, site) for i in range(4000)]

    async def scenario() -> None:
        async with SiteLogWriter(site, kafka) as writer:
            await writer.append_many(sent)
        async with SiteLogReader(site, kafka) as reader:
            await reader.assign()
            batches = await read_all(reader, len(sent))
        per_host: dict[str, list[int]] = defaultdict(list)
        partitions: dict[str, set[int]] = defaultdict(set)
        for batch in batches:
            for _, event in batch.events:
                per_host[event.key].append(event.payload.check_time)  # type: ignore[attr-defined]
                partitions[event.key].add(batch.partition)
        for host in hosts:
            expected = [e.payload.check_time for e in sent if e.key == host]  # type: ignore[attr-defined]
            assert per_host[host] == expected
            assert len(partitions[host]) == 1
        assert len({p for ps in partitions.values() for p in ps}) > 1  # keys do spread

    run(scenario())


def test_reader_resumes_exactly_at_the_offsets_it_is_given(contract_kafka: KafkaSettings) -> None:
    site, kafka = new_site(), contract_kafka
    clock = HybridLogicalClock()
    sent = [check(f"h{i % 9}", i, clock, site) for i in range(600)]

    async def scenario() -> None:
        async with SiteLogWriter(site, kafka) as writer:
            positions = await writer.append_many(sent)
        by_position = {(p.partition, p.offset): e for p, e in zip(positions, sent, strict=True)}
        ends: dict[int, int] = defaultdict(int)
        for p in positions:
            ends[p.partition] = max(ends[p.partition], p.offset + 1)
        resume = {partition: end // 3 for partition, end in ends.items()}
        async with SiteLogReader(site, kafka) as reader:
            offsets = await reader.log_offsets()
            assert {p: o.end for p, o in offsets.items() if o.end} == dict(ends)
            await reader.assign(resume)
            expected = {k: v for k, v in by_position.items() if k[1] >= resume[k[0]]}
            batches = await read_all(reader, len(expected))
            assert reader.positions == {p: ends.get(p, 0) for p in reader.partitions}
        got = {(b.partition, off): ev for b in batches for off, ev in b.events}
        assert got == expected
        for batch in batches:
            first = batch.events[0][0]
            assert first >= resume[batch.partition]
        firsts: dict[int, int] = {}
        for batch in batches:
            firsts.setdefault(batch.partition, batch.events[0][0])
        assert firsts == resume

    run(scenario())


def test_undecodable_records_become_dead_letters_and_reading_goes_on(kafka: KafkaSettings) -> None:
    site = new_site()
    clock = HybridLogicalClock()
    codec = Codec()
    good = check("web01", 1, clock, site)
    after = check("web01", 2, clock, site)
    unknown_schema = MAGIC + b"\x01" * 8 + codec.encode(good)[10:]

    async def scenario() -> None:
        async with SiteLogWriter(site, kafka) as writer:
            key = good.key.encode()
            sent = [
                await writer.send(good),
                await writer.send_raw(key, b"random bytes"),
                await writer.send_raw(key, unknown_schema),
                await writer.send(after),
            ]
            positions = await writer.acknowledged(sent)
        async with SiteLogReader(site, kafka) as reader:
            await reader.assign()
            batches = await read_all(reader, 4)
        letters = [d for b in batches for d in b.dead_letters]
        assert [(d.partition, d.offset, d.reason) for d in letters] == [
            (positions[1].partition, positions[1].offset, "bad-magic"),
            (positions[2].partition, positions[2].offset, "unknown-fingerprint"),
        ]
        assert letters[0].value == b"random bytes" and letters[0].site == site
        assert [e for b in batches for _, e in b.events] == [good, after]
        assert batches[-1].next_offset == positions[3].offset + 1

    run(scenario())


def test_writing_to_an_unreachable_broker_fails_fast_with_one_clear_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    settings_ = KafkaSettings(f"127.0.0.1:{closed_port}", connect_timeout=3.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailableError) as err:
        run(SiteLogWriter("paris", settings_).start())
    assert time.monotonic() - started < 5.0
    assert f"127.0.0.1:{closed_port}" in str(err.value)
    assert "\n" not in str(err.value)


def test_a_broker_that_never_answers_is_bounded_by_the_connect_timeout() -> None:
    # A listener that accepts connections and then says nothing: the worst case of a WAN cut.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        settings_ = KafkaSettings(f"127.0.0.1:{silent.getsockname()[1]}", connect_timeout=2.0)
        started = time.monotonic()
        with pytest.raises(BrokerUnavailableError, match="no answer within 2s"):
            run(SiteLogWriter("paris", settings_).start())
        assert time.monotonic() - started < 6.0


@pytest.mark.parametrize("kind", CONTRACT_BROKERS)
def test_a_log_that_went_backwards_stops_the_reader_with_a_clear_error(kind: BrokerKind) -> None:
    # Its own broker: restarting it with its logs wiped is how a site loses its log.
    site = new_site()
    clock = HybridLogicalClock()
    with test_broker(kind) as own:
        settings_ = KafkaSettings(own.bootstrap_servers, connect_timeout=10.0)

        async def write(count: int) -> dict[int, int]:
            async with SiteLogWriter(site, settings_) as writer:
                positions = await writer.append_many(
                    [check("web01", i, clock, site) for i in range(count)]
                )
            return {positions[-1].partition: positions[-1].offset + 1}

        consumed = asyncio.run(write(50))
        own.restart(wipe=True)
        asyncio.run(write(5))  # the new log is shorter than what was consumed

        async def resume() -> None:
            async with SiteLogReader(site, settings_) as reader:
                await reader.assign(consumed)
                loop = asyncio.get_running_loop()
                deadline = loop.time() + 10
                while loop.time() < deadline:
                    await reader.read(timeout=0.2)

        with pytest.raises(LogWentBackwardsError) as err:
            asyncio.run(resume())
        ((partition, offset),) = consumed.items()
        assert (err.value.partition, err.value.expected, err.value.log_end) == (
            partition,
            offset,
            5,
        )
        assert "went backwards" in str(err.value) and site in str(err.value)
