"""Poller producer throughput: ``engine.poller.Producer`` against two raw aiokafka baselines.

The producer is timed from its first ``submit`` until the brokers acknowledged every
event, Avro encoding and the durable spool (fsync per chunk) included. Both baselines
send the same pre-encoded bytes with the same keys to the same broker, not encoding:

- ``plain``: one ``send()`` per event, then waiting for every future (the ratio's base);
- ``batch``: aiokafka's batch path, ``create_batch`` / ``send_batch`` per partition.

Two figures: check results with perfdata (the usual poller output) and without.
"""

from __future__ import annotations

import asyncio
import dataclasses
import tempfile
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import DefaultPartitioner

from benchmarks.harness import Result, alternate, broker, median_rate, note
from benchmarks.site_log import check_results
from engine.log.kafka import KafkaSettings, ensure_topic
from engine.log.records import DEFAULT_PARTITIONS, topic_for
from engine.poller.producer import Producer, SpoolSettings
from schemas.codec import Codec
from schemas.event import Event

EVENTS = 100_000
ROUNDS = 3
CHUNK = 1000  # events per submit: what an ingest loop hands over at a time


async def _producer(settings: KafkaSettings, site: str, events: list[Event]) -> float:
    with tempfile.TemporaryDirectory(prefix="sitelog-bench-spool-") as spool:
        async with Producer(site, settings, SpoolSettings(Path(spool))) as producer:
            await ensure_topic(settings, topic_for(site), DEFAULT_PARTITIONS)
            loop = asyncio.get_running_loop()
            started = loop.time()
            for i in range(0, len(events), CHUNK):
                await producer.submit(events[i : i + CHUNK])
            if not await producer.drain(120):
                raise RuntimeError("the producer did not drain within 120 s")
            return len(events) / (loop.time() - started)


async def _raw_client(settings: KafkaSettings, site: str) -> AIOKafkaProducer:
    await ensure_topic(settings, topic_for(site), DEFAULT_PARTITIONS)
    client = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=False,
        max_batch_size=1024 * 1024,
    )
    await client.start()
    return client


async def _plain(settings: KafkaSettings, site: str, records: list[tuple[bytes, bytes]]) -> float:
    client = await _raw_client(settings, site)
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        futures = [await client.send(topic_for(site), value=v, key=k) for k, v in records]
        await asyncio.gather(*futures)
        return len(records) / (loop.time() - started)
    finally:
        await client.stop()


async def _batch(settings: KafkaSettings, site: str, records: list[tuple[bytes, bytes]]) -> float:
    client = await _raw_client(settings, site)
    topic = topic_for(site)
    try:
        partitions = sorted(await client.partitions_for(topic))
        loop = asyncio.get_running_loop()
        started = loop.time()
        batches = {p: client.create_batch() for p in partitions}
        futures = []
        for key, value in records:
            partition = DefaultPartitioner()(key, partitions, partitions)
            if batches[partition].append(key=key, value=value, timestamp=None) is None:
                futures.append(
                    await client.send_batch(batches[partition], topic, partition=partition)
                )
                batches[partition] = client.create_batch()
                batches[partition].append(key=key, value=value, timestamp=None)
        for partition, batch in batches.items():
            futures.append(await client.send_batch(batch, topic, partition=partition))
        await asyncio.gather(*futures)
        return len(records) / (loop.time() - started)
    finally:
        await client.stop()


def _without_perfdata(events: list[Event]) -> list[Event]:
    return [
        dataclasses.replace(e, payload=dataclasses.replace(e.payload, perfdata=""))  # type: ignore[type-var]
        for e in events
    ]


def _site() -> str:
    return f"p{uuid.uuid4().hex[:10]}"


def _measure(
    name: str, settings: KafkaSettings, sample: list[Event], rounds: int, codec: Codec
) -> Result:
    encoded = [(e.key.encode(), codec.encode(e)) for e in sample]
    size = sum(len(v) for _, v in encoded) // len(encoded)
    note(f"{name}: {len(sample)} events of {size} bytes x {rounds} rounds")
    ours, plain, batch = alternate(
        rounds,
        lambda _: asyncio.run(_producer(settings, _site(), sample)),
        lambda _: asyncio.run(_plain(settings, _site(), encoded)),
        lambda _: asyncio.run(_batch(settings, _site(), encoded)),
    )
    return Result(
        name,
        median_rate(ours),
        "events/s",
        median_rate(plain),
        "aiokafka send() per event, same bytes and keys",
        {
            "batch_path": round(median_rate(batch), 1),
            "batch_path_ratio": round(median_rate(ours) / median_rate(batch), 3),
            "value_bytes": size,
            "events": len(sample),
            "rounds": rounds,
        },
    )


def run(events: int = EVENTS, rounds: int = ROUNDS) -> list[Result]:
    codec = Codec()
    with broker() as bootstrap:
        settings = KafkaSettings(bootstrap)
        with_perfdata = check_results("bench", events)
        return [
            _measure("producer", settings, with_perfdata, rounds, codec),
            _measure(
                "producer_no_perfdata", settings, _without_perfdata(with_perfdata), rounds, codec
            ),
        ]
