"""Site log throughput: sitelog's writer and reader against raw aiokafka on the same broker.

- ``site_log_write``: events/s appending check results with ``SiteLogWriter.append_many``
  (Avro encoding included), against a raw aiokafka producer sending the same
  pre-encoded bytes with the same keys (one ``send()`` per record, same batching). The
  baseline is never idempotent, on either broker; where the brokers grant producer ids (Apache
  Kafka) the writer is, so an idempotent raw producer is measured too
  (``idempotent_baseline``), to tell what idempotence costs from what sitelog costs.
- ``site_log_read``: events/s reading and decoding a log with ``SiteLogReader``,
  against a raw aiokafka consumer fetching the same records without decoding.
"""

from __future__ import annotations

import asyncio
import uuid

from aiokafka import AIOKafkaProducer, TopicPartition

from benchmarks.harness import Result, alternate, broker, median_rate, note, raw_consume
from engine.log.kafka import KafkaSettings, ensure_topic, grants_idempotence
from engine.log.reader import SiteLogReader
from engine.log.records import DEFAULT_PARTITIONS, topic_for
from engine.log.writer import SiteLogWriter
from schemas.codec import Codec
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import ServiceCheckResult
from schemas.types import ServiceState, StateType

EVENTS = 100_000
ROUNDS = 3


def check_results(site: str, count: int) -> list[Event]:
    """Realistic check results: 1,000 hosts x 10 services, output and perfdata."""
    clock = HybridLogicalClock()
    events = []
    for i in range(count):
        host, service = f"host-{i % 1000:04d}", f"service-{(i // 1000) % 10}"
        payload = ServiceCheckResult(
            host_name=host,
            service_description=service,
            state=ServiceState(i % 4 and 0),
            state_type=StateType.HARD,
            attempt=1,
            max_attempts=3,
            output=f"OK - load average: 0.{i % 100:02d}, 0.42, 0.40",
            perfdata=f"load1=0.{i % 100:02d};5;10;0; load5=0.42;4;8;0; load15=0.40;3;6;0;",
            check_time=1_700_000_000_000_000 + i,
            execution_time=0.012,
            latency=0.003,
            poller="poller-1",
        )
        events.append(Event.create(payload, site=site, origin="bench", clock=clock))
    return events


async def _sitelog_write(
    settings: KafkaSettings, site: str, events: list[Event], modes: list[bool | None]
) -> float:
    async with SiteLogWriter(site, settings) as writer:
        modes.append(writer.idempotent)  # what it chose at start, to report beside the figure
        loop = asyncio.get_running_loop()
        started = loop.time()
        await writer.append_many(events)
        return len(events) / (loop.time() - started)


async def _raw_write(
    settings: KafkaSettings,
    site: str,
    records: list[tuple[bytes, bytes]],
    *,
    idempotent: bool = False,
) -> float:
    await ensure_topic(settings, topic_for(site), DEFAULT_PARTITIONS)
    producer = AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        acks="all",
        enable_idempotence=idempotent,
        linger_ms=5,
        max_batch_size=256 * 1024,
    )
    await producer.start()
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        futures = [await producer.send(topic_for(site), value=v, key=k) for k, v in records]
        await asyncio.gather(*futures)
        return len(records) / (loop.time() - started)
    finally:
        await producer.stop()


async def _sitelog_read(settings: KafkaSettings, site: str, count: int) -> float:
    async with SiteLogReader(site, settings, create_topic=False) as reader:
        await reader.assign()
        loop = asyncio.get_running_loop()
        started = loop.time()
        seen = 0
        while seen < count:
            for batch in await reader.read(timeout=2.0):
                seen += len(batch.events)
        return count / (loop.time() - started)


async def _raw_read(settings: KafkaSettings, site: str, count: int) -> float:
    partitions = [TopicPartition(topic_for(site), p) for p in range(DEFAULT_PARTITIONS)]
    return await raw_consume(settings.bootstrap_servers, partitions, count)


def run(events: int = EVENTS, rounds: int = ROUNDS) -> list[Result]:
    codec = Codec()
    with broker() as bootstrap:
        settings = KafkaSettings(bootstrap)
        sample = check_results("bench", events)
        encoded = [(e.key.encode(), codec.encode(e)) for e in sample]
        idempotent = asyncio.run(grants_idempotence(settings, "the benchmark's broker"))
        note(f"site_log: {events} events x {rounds} rounds on {bootstrap}")
        note(f"site_log: the writer is {'' if idempotent else 'not '}idempotent on this broker")
        written: list[str] = []
        modes: list[bool | None] = []

        def sitelog_write(_: int) -> float:
            site = f"b{uuid.uuid4().hex[:10]}"
            written.append(site)
            return asyncio.run(_sitelog_write(settings, site, sample, modes))

        def raw_write(_: int) -> float:
            return asyncio.run(_raw_write(settings, f"r{uuid.uuid4().hex[:10]}", encoded))

        def raw_write_idempotent(_: int) -> float:
            site = f"i{uuid.uuid4().hex[:10]}"
            return asyncio.run(_raw_write(settings, site, encoded, idempotent=True))

        runs = [sitelog_write, raw_write] + ([raw_write_idempotent] if idempotent else [])
        ours, raw, *raw_idempotent = alternate(rounds, *runs)
        if set(modes) != {idempotent}:
            raise RuntimeError(f"the writer was idempotent {modes}, the broker said {idempotent}")
        extra: dict[str, object] = {"events": events, "rounds": rounds, "idempotent": idempotent}
        if raw_idempotent:
            extra["idempotent_baseline"] = round(median_rate(raw_idempotent[0]), 1)
            extra["idempotent_baseline_ratio"] = round(
                median_rate(ours) / median_rate(raw_idempotent[0]), 3
            )
        write = Result(
            "site_log_write",
            median_rate(ours),
            "events/s",
            median_rate(raw),
            "aiokafka send() loop, same bytes and keys, not idempotent",
            extra,
        )

        def sitelog_read(round_no: int) -> float:
            return asyncio.run(_sitelog_read(settings, written[round_no], events))

        def raw_read(round_no: int) -> float:
            return asyncio.run(_raw_read(settings, written[round_no], events))

        ours, raw = alternate(rounds, sitelog_read, raw_read)
        read = Result(
            "site_log_read",
            median_rate(ours),
            "events/s",
            median_rate(raw),
            "aiokafka getmany() without decoding, same log",
            {"events": events, "rounds": rounds},
        )
    return [write, read]
