"""A connection cut mid-batch, after the broker wrote the batch and before its answer came
back (``KafkaProxy.lose_next_answer``), then retried: where the brokers grant producer
ids (Apache Kafka) the batch is in the log once, elsewhere (the embedded Tansu) at least
once, the copy left for consumers to drop by event id. For the poller producer and the
site log writer, on both brokers (``contract_kafka``), read back with a plain aiokafka
consumer; and the poller producer's round that times out while cut is waited for, not
sent again.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from engine.dev.brokers import BrokerKind
from engine.log.kafka import KafkaSettings
from engine.log.records import DEFAULT_PARTITIONS, topic_for
from engine.log.writer import SiteLogWriter
from engine.poller.producer import Producer, SpoolSettings
from schemas.codec import Codec
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from tests.support.kafka_proxy import KafkaProxy
from tests.support.scenarios import numbered_check

PRODUCE = 0  # the Produce API's key


def checks(site: str, count: int) -> list[Event]:
    clock = HybridLogicalClock()
    return [numbered_check(f"host-{i % 12:02d}", i, clock, site) for i in range(count)]


async def until(condition: Callable[[], bool], what: str, bound: float = 20) -> None:
    deadline = time.monotonic() + bound
    while not condition():
        assert time.monotonic() < deadline, f"not {what} within {bound:g}s"
        await asyncio.sleep(0.02)


async def logged_ids(settings: KafkaSettings, site: str) -> Counter[bytes]:
    """How many records of the site's log hold each event id: every record, up to each
    partition's high watermark, read by a plain aiokafka consumer."""
    codec, topic = Codec(), topic_for(site)
    tps = [TopicPartition(topic, p) for p in range(DEFAULT_PARTITIONS)]
    consumer = AIOKafkaConsumer(**settings.client_kwargs(), enable_auto_commit=False)
    seen: Counter[bytes] = Counter()
    read = dict.fromkeys(tps, 0)
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 20
        while any(
            consumer.highwater(tp) is None or read[tp] < consumer.highwater(tp) for tp in tps
        ):
            assert time.monotonic() < deadline, f"read {read} in 20s"
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                seen.update(codec.decode(r.value or b"").event_id for r in records)
                read[tp] = records[-1].offset + 1
    finally:
        await consumer.stop()
    return seen


def check_log(seen: Counter[bytes], events: list[Event], idempotent: bool | None) -> None:
    assert set(seen) == {e.event_id for e in events}  # nothing lost
    if idempotent:
        assert all(count == 1 for count in seen.values()), "a retried batch was written twice"
    else:
        # At least once: the lost answer's batch is there twice, which proves the cut
        # came after the broker wrote it (what the idempotent case is tested against).
        assert sum(seen.values()) > len(events)


def test_a_poller_batch_cut_mid_flight_is_written_once_where_the_brokers_grant_producer_ids(
    contract_kafka: KafkaSettings,
    contract_kind: BrokerKind,
    site: str,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="engine.poller.producer")
    events = checks(site, 300)

    async def scenario(proxy: KafkaProxy) -> bool | None:
        behind = KafkaSettings(proxy.address, connect_timeout=5.0, request_timeout=10.0)
        async with Producer(site, behind, SpoolSettings(tmp_path, fsync=False)) as producer:
            proxy.lose_next_answer(PRODUCE)
            await producer.submit(events)
            await until(lambda: proxy.lost_answers == 1, "a Produce answer lost")
            proxy.restore()
            assert await producer.drain(30)
            return producer.idempotent

    with KafkaProxy(contract_kafka.bootstrap_servers) as proxy:
        idempotent = asyncio.run(scenario(proxy))
    assert idempotent is (contract_kind is BrokerKind.KAFKA)
    check_log(asyncio.run(logged_ids(contract_kafka, site)), events, idempotent)
    mode = "idempotent (the brokers grant" if idempotent else "at least once (the brokers give no"
    said = [r.getMessage() for r in caplog.records if r.name == "engine.poller.producer"]
    assert sum(f"producer of {topic_for(site)}: {mode}" in m for m in said) == 1, said


def test_a_poller_round_that_times_out_while_cut_is_waited_for_not_sent_again(
    apache_kafka_bootstrap: str, site: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Longer than the request timeout: resending the round would write new copies of what
    the broker holds; the idempotent producer goes on retrying the same batches instead."""
    caplog.set_level(logging.WARNING, logger="engine.poller.producer")
    events = checks(site, 300)

    async def scenario(proxy: KafkaProxy) -> int:
        behind = KafkaSettings(proxy.address, connect_timeout=5.0, request_timeout=1.5)
        async with Producer(site, behind, SpoolSettings(tmp_path, fsync=False)) as producer:
            proxy.lose_next_answer(PRODUCE)
            await producer.submit(events)
            await until(lambda: "spooling to" in caplog.text, "the outage said")
            assert producer.stats.acknowledged == 0 and producer.idempotent
            proxy.restore()
            assert await producer.drain(30)
            return producer.failed_rounds

    with KafkaProxy(apache_kafka_bootstrap) as proxy:
        failed_rounds = asyncio.run(scenario(proxy))
    assert failed_rounds == 0  # the round was never given up and resent
    assert "reachable again" in caplog.text
    check_log(asyncio.run(logged_ids(KafkaSettings(apache_kafka_bootstrap), site)), events, True)


def test_a_writer_batch_cut_mid_flight_is_written_once_where_the_brokers_grant_producer_ids(
    contract_kafka: KafkaSettings, contract_kind: BrokerKind, site: str
) -> None:
    events = checks(site, 300)

    async def scenario(proxy: KafkaProxy) -> bool | None:
        behind = KafkaSettings(proxy.address, connect_timeout=5.0, request_timeout=10.0)
        async with SiteLogWriter(site, behind) as writer:
            proxy.lose_next_answer(PRODUCE)
            appending = asyncio.ensure_future(writer.append_many(events))
            await until(lambda: proxy.lost_answers == 1, "a Produce answer lost")
            proxy.restore()
            assert len(await appending) == len(events)
            return writer.idempotent

    with KafkaProxy(contract_kafka.bootstrap_servers) as proxy:
        idempotent = asyncio.run(scenario(proxy))
    assert idempotent is (contract_kind is BrokerKind.KAFKA)
    check_log(asyncio.run(logged_ids(contract_kafka, site)), events, idempotent)
