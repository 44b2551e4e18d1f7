"""Log starts, ends and time seeks as the brokers give them, checked: on both brokers
(``contract_kafka``), against what a plain aiokafka consumer reads back.

- Starts and ends are exact after appends of one-record and many-record batches, and on
  Apache Kafka after ``delete_records``; ListOffsets alone is used only on brokers it
  was seen to be true on (Apache Kafka), never where it is not (the embedded Tansu).
- A time seek never skips a record at or after the time, whatever the broker answers;
  on Apache Kafka it starts exactly at the first such record.
- ``sitelog log inspect --since`` and ``sitelog replay --from TIME`` give the same
  answers on both brokers, and on Apache Kafka say they sought (``-v``).
"""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
import uuid
from collections.abc import Mapping
from pathlib import Path

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from engine.dev.brokers import BrokerKind
from engine.log.kafka import KafkaSettings, ensure_topic
from engine.log.offsets import log_offsets, time_starts
from engine.log.records import PartitionOffsets, topic_for
from engine.log.writer import SiteLogWriter
from engine.times import format_time
from projections.model import InMemoryProjection
from projections.postgres import PostgresSink
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.json_form import event_to_json
from tests.support.cli import sitelog
from tests.support.retention import KEEP_ALL_TOML
from tests.support.scenarios import numbered_check

PARTITIONS = 4
#: partition -> sizes of the batches written to it, one batch each.
BATCHES = {0: [1, 1, 1], 1: [5, 5], 2: [], 3: [7]}


def now_ms() -> int:
    return time.time_ns() // 1_000_000


async def wait_clock_past(ms: int) -> None:
    """Until the wall clock is past ``ms`` (by a millisecond or two: the record timestamps'
    unit), so that records written next are stamped later than everything before."""
    await asyncio.sleep(max(0, ms + 2 - now_ms()) / 1000)
    assert now_ms() > ms, "the wall clock stood still"


async def write_batches(
    settings: KafkaSettings, topic: str, plan: Mapping[int, list[int]], stamp: int | None = None
) -> None:
    """Each partition's batches, each of the given size sent as one batch; ``stamp``: the
    records' timestamp (milliseconds), else the producer's clock."""
    producer = AIOKafkaProducer(**settings.client_kwargs(), acks="all")
    await producer.start()
    try:
        for partition, sizes in plan.items():
            for size in sizes:
                batch = producer.create_batch()
                for i in range(size):
                    assert batch.append(key=b"k", value=b"v%d" % i, timestamp=stamp) is not None
                await (await producer.send_batch(batch, topic, partition=partition))
    finally:
        await producer.stop()


async def read_all(settings: KafkaSettings, topic: str) -> dict[int, list[tuple[int, int]]]:
    """(offset, timestamp) of every record of every partition, read with a plain consumer
    up to each partition's high watermark."""
    consumer = AIOKafkaConsumer(**settings.client_kwargs(), enable_auto_commit=False)
    tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
    got: dict[int, list[tuple[int, int]]] = {p: [] for p in range(PARTITIONS)}
    await consumer.start()
    try:
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        deadline = time.monotonic() + 20

        def done(tp: TopicPartition) -> bool:
            high = consumer.highwater(tp)
            return high is not None and (
                not got[tp.partition] or got[tp.partition][-1][0] >= high - 1
            )

        while not all(done(tp) for tp in tps):
            assert time.monotonic() < deadline, f"read {got} in 20s"
            for tp, records in (await consumer.getmany(timeout_ms=200)).items():
                got[tp.partition] += [(r.offset, r.timestamp) for r in records]
    finally:
        await consumer.stop()
    return got


async def listed_ends(settings: KafkaSettings, topic: str) -> dict[int, int]:
    """What ListOffsets(latest) answers, through a plain consumer."""
    consumer = AIOKafkaConsumer(**settings.client_kwargs(), enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        return {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
    finally:
        await consumer.stop()


def test_log_starts_and_ends_are_exact_and_list_offsets_alone_only_where_it_is_true(
    contract_kafka: KafkaSettings, site: str, contract_kind: BrokerKind
) -> None:
    topic = topic_for(site)

    async def scenario() -> None:
        await ensure_topic(contract_kafka, topic, PARTITIONS)
        empty = await log_offsets(contract_kafka, topic, range(PARTITIONS))
        assert empty.partitions == {p: PartitionOffsets(0, 0) for p in range(PARTITIONS)}
        await write_batches(contract_kafka, topic, BATCHES)
        truth = {p: len(r) for p, r in (await read_all(contract_kafka, topic)).items()}
        assert truth == {p: sum(sizes) for p, sizes in BATCHES.items()}
        first = await log_offsets(contract_kafka, topic, range(PARTITIONS))
        second = await log_offsets(contract_kafka, topic, range(PARTITIONS))
        exact = {p: PartitionOffsets(0, n) for p, n in truth.items()}
        assert first.partitions == exact and second.partitions == exact
        listed = await listed_ends(contract_kafka, topic)
        if listed != truth:  # a broker whose ListOffsets is wrong is never believed
            assert first.source == second.source == "fetched", listed
        if contract_kind is BrokerKind.KAFKA:
            # Two batches of several records ending where ListOffsets says prove it true.
            assert listed == truth and second.source == "listed"

    asyncio.run(scenario())


def test_log_starts_are_exact_after_delete_records(apache_kafka_bootstrap: str, site: str) -> None:
    settings, topic = KafkaSettings(apache_kafka_bootstrap), topic_for(site)

    async def scenario() -> None:
        await ensure_topic(settings, topic, PARTITIONS)
        await write_batches(settings, topic, BATCHES)
        admin = AIOKafkaAdminClient(**settings.client_kwargs())
        await admin.start()
        try:
            # Mid-batch in partition 1: a log start need not be a batch boundary.
            deleted = {0: 2, 1: 7, 3: 7}
            await admin.delete_records(
                {TopicPartition(topic, p): RecordsToDelete(o) for p, o in deleted.items()},
                timeout_ms=10_000,
            )
        finally:
            await admin.close()
        ends = {p: sum(sizes) for p, sizes in BATCHES.items()}
        expected = {p: PartitionOffsets(deleted.get(p, 0), end) for p, end in ends.items()}
        for _ in range(2):  # whichever way the ends come
            assert (await log_offsets(settings, topic, range(PARTITIONS))).partitions == expected
        await write_batches(settings, topic, {3: [2]})
        found = (await log_offsets(settings, topic, range(PARTITIONS))).partitions
        assert found == {**expected, 3: PartitionOffsets(7, 9)}

    asyncio.run(scenario())


def first_at_or_after(records: list[tuple[int, int]], stamp: int, end: int) -> int:
    """The first offset whose record timestamp is at or after ``stamp``; ``end`` if none."""
    return next((offset for offset, ts in records if ts >= stamp), end)


def test_a_time_seek_never_skips_a_record_at_or_after_the_time(
    contract_kafka: KafkaSettings, site: str, contract_kind: BrokerKind
) -> None:
    """Batches stamped out of order (one written late with an old timestamp, as a writer
    with a slow clock would) between ordinary ones: a broker answering by its own append
    times gives an offset whose record is older than the time, which fails the check."""
    topic = topic_for(site)

    async def scenario() -> None:
        await ensure_topic(contract_kafka, topic, PARTITIONS)
        await write_batches(contract_kafka, topic, {0: [3, 2], 1: [4], 2: [3]})
        middle = now_ms() + 1
        await wait_clock_past(middle)
        await write_batches(contract_kafka, topic, {0: [2], 1: [2]}, stamp=middle - 600_000)
        await write_batches(contract_kafka, topic, {0: [3], 1: [1]})
        records = await read_all(contract_kafka, topic)
        bounds = (await log_offsets(contract_kafka, topic, range(PARTITIONS))).partitions
        stamps = sorted({ts for rs in records.values() for _, ts in rs})
        times = {stamps[0] - 1, middle - 300_000, middle, stamps[-1] + 1}
        times |= {ts + d for ts in stamps for d in (0, 1)}
        for stamp in sorted(times):
            found = await time_starts(contract_kafka, topic, bounds, stamp * 1000, slack=0)
            for partition, start in found.items():
                truth = first_at_or_after(records[partition], stamp, bounds[partition].end)
                assert start.offset <= truth, (stamp, partition, start, records[partition])
                if contract_kind is BrokerKind.KAFKA and records[partition]:
                    assert start == type(start)(truth, "seek"), (stamp, partition)

    asyncio.run(scenario())


async def write_early_then_late(settings: KafkaSettings, site: str) -> tuple[list[Event], int]:
    """40 events now, then 30 events dated from ``since`` on, written after the wall clock
    passed a time M; ``since`` is M plus the seek's clock slack (an hour). Returns the
    later events, in partition-then-offset order, and ``since``."""
    clock = HybridLogicalClock()
    early = [numbered_check(f"host-{i % 8}", i, clock, site) for i in range(40)]
    async with SiteLogWriter(site, settings, partitions=PARTITIONS) as writer:
        await writer.append_many(early)
        middle = now_ms() + 1
        await wait_clock_past(middle)
        since = (middle + 3_600_000) * 1000
        checks = [numbered_check(f"host-{i % 8}", 100 + i, clock, site) for i in range(30)]
        late = [dataclasses.replace(e, event_time=since + i) for i, e in enumerate(checks)]
        places = await writer.append_many(late)
    ordered = sorted(zip(places, late, strict=True), key=lambda pe: (pe[0].partition, pe[0].offset))
    return [event for _, event in ordered], since


def skipped(stderr: str, topic: str) -> int | None:
    """How many records a ``-v`` run said its time seek skipped in ``topic``."""
    found = re.search(rf"{re.escape(topic)} from .*?\((\d+) records skipped\)", stderr)
    return None if found is None else int(found.group(1))


def test_inspect_since_gives_the_same_events_on_both_brokers_and_seeks_where_it_can(
    contract_kafka: KafkaSettings, site: str, contract_kind: BrokerKind
) -> None:
    late, since = asyncio.run(write_early_then_late(contract_kafka, site))
    base = ("-v", "log", "inspect", "--site", site, "--bootstrap", contract_kafka.bootstrap_servers)
    sought = sitelog(*base, "--since", format_time(since))
    scanned = sitelog(*base, "--since", str(since), "--from-offset", "0")
    for done in (sought, scanned):
        assert done.returncode == 0, done.stderr
    expected = [orjson.loads(orjson.dumps(event_to_json(e))) for e in late]
    for done in (sought, scanned):
        assert [orjson.loads(line)["event"] for line in done.stdout.splitlines()] == expected
    assert skipped(scanned.stderr, topic_for(site)) is None  # --from-offset: no seek
    if contract_kind is BrokerKind.KAFKA:
        assert skipped(sought.stderr, topic_for(site)) == 40, sought.stderr


def node_toml(path: Path, site: str, bootstrap: str, dsn: str, schema: str) -> Path:
    path.write_text(
        f'[node]\nname = "{site}-1"\nrole = "remote"\nsite = "{site}"\n'
        f'[database]\ndsn = "{dsn}"\nschema = "{schema}"\n'
        f'[sites.central]\nbootstrap_servers = "{bootstrap}"\n'
        f'[sites.{site}]\nbootstrap_servers = "{bootstrap}"\n' + KEEP_ALL_TOML
    )
    return path


def test_replay_from_a_time_rebuilds_the_same_on_both_brokers_and_seeks_where_it_can(
    contract_kafka: KafkaSettings,
    site: str,
    pg_dsn: str,
    tmp_path: Path,
    contract_kind: BrokerKind,
) -> None:
    late, since = asyncio.run(write_early_then_late(contract_kafka, site))
    asyncio.run(ensure_topic(contract_kafka, topic_for("central"), PARTITIONS))
    schema = f"t_{uuid.uuid4().hex[:12]}"
    toml = node_toml(tmp_path / "node.toml", site, contract_kafka.bootstrap_servers, pg_dsn, schema)
    target = f"{schema}_from"
    done = sitelog(
        "-v", "replay", "--config", str(toml), "--from", format_time(since), "--into", target
    )
    assert done.returncode == 0, done.stderr
    clean = InMemoryProjection()
    clean.apply_batch(late)
    with PostgresSink.connect(pg_dsn, target) as sink:
        try:
            assert sink.digest({site}, since=0) == clean.digest({site}, since=0)
        finally:
            with sink.conn.transaction():
                sink.conn.execute(f'DROP SCHEMA "{target}" CASCADE')
    if contract_kind is BrokerKind.KAFKA:
        assert skipped(done.stderr, topic_for(site)) == 40, done.stderr
