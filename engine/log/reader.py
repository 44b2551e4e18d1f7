"""``SiteLogReader``: replays one site's log from the offsets it is given, in batches.

The reader is assigned partitions explicitly (no consumer group: a projection keeps
its offsets in PostgreSQL, next to its rows) and hands records that do not decode
over as dead letters instead of stopping. It reports log start and end offsets, and
stops with a clear error when a log went backwards or lost offsets to retention.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError, OffsetOutOfRangeError

from engine.errors import LogError, LogGapError, LogWentBackwardsError
from engine.lifecycle import Lifecycle, Service
from engine.log.kafka import KafkaSettings, bounded, topic_partitions
from engine.log.offsets import log_offsets
from engine.log.records import (
    DEFAULT_PARTITIONS,
    DeadLetter,
    PartitionOffsets,
    ReadBatch,
    topic_for,
)
from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.types import check_site_name


def _consumer(settings: KafkaSettings, **overrides: object) -> AIOKafkaConsumer:
    options: dict[str, object] = {
        **settings.client_kwargs(),
        "group_id": None,
        "enable_auto_commit": False,
        # Never reset silently: a missing offset is a gap or a lost log, which we report.
        "auto_offset_reset": "none",
    }
    options.update(overrides)
    return AIOKafkaConsumer(**options)


async def read_log_offsets(
    settings: KafkaSettings, topic: str, partitions: Sequence[int]
) -> dict[int, PartitionOffsets]:
    """Each partition's log start and end, exact on any broker: ListOffsets where the
    brokers were seen to answer it truly, a fetch's high watermark elsewhere
    (``engine.log.offsets``)."""
    return (await log_offsets(settings, topic, partitions)).partitions


class SiteLogReader(Service):
    """Replays one site's log from given offsets, in batches per partition."""

    def __init__(
        self,
        site: str,
        settings: KafkaSettings,
        *,
        codec: Codec | None = None,
        max_records: int = 5000,
        fetch_max_wait_ms: int = 200,
        max_partition_fetch_bytes: int = 4 * 1024 * 1024,
        create_topic: bool = True,
        partitions: int = DEFAULT_PARTITIONS,
    ) -> None:
        self.site = check_site_name(site)
        self.topic = topic_for(site)
        self.settings = settings
        self.codec = codec or Codec()
        self._max_records = max_records
        self._create_topic = create_topic
        self._new_topic_partitions = partitions
        self._consumer_options = {
            "fetch_max_wait_ms": fetch_max_wait_ms,
            "max_partition_fetch_bytes": max_partition_fetch_bytes,
        }
        self._consumer: AIOKafkaConsumer | None = None
        #: NEW until started, STOPPED for good once stopped (``engine.lifecycle``).
        self.lifecycle = Lifecycle.NEW
        self._partitions: list[int] = []
        self._next: dict[int, int] = {}

    def _what(self, action: str) -> str:
        return f"{action} site log {self.topic} on {self.settings.bootstrap_servers}"

    @property
    def partitions(self) -> list[int]:
        return list(self._partitions)

    @property
    def positions(self) -> dict[int, int]:
        """The next offset to read, per assigned partition."""
        return dict(self._next)

    async def start(self) -> None:
        self.lifecycle.check_start(f"the reader of {self.topic}")
        # aiokafka clients bind to the running loop when built, so they are built here.
        consumer = self._consumer = _consumer(self.settings, **self._consumer_options)
        try:
            await bounded(
                consumer.start(),
                self.settings.connect_timeout,
                self._what("connecting to"),
                settings=self.settings,
            )
            self._partitions = await topic_partitions(
                self.settings,
                self.topic,
                self.settings.connect_timeout,
                create=self._new_topic_partitions if self._create_topic else None,
            )
        except BaseException:
            self._consumer = None
            await consumer.stop()
            raise
        self.lifecycle = Lifecycle.STARTED

    @property
    def consumer(self) -> AIOKafkaConsumer:
        self.lifecycle.check_use(f"the reader of {self.topic}")
        assert self._consumer is not None  # STARTED holds a consumer
        return self._consumer

    async def assign(self, offsets: Mapping[int, int] | None = None) -> None:
        """Read every partition, from the given offset, or from the log start if none is given."""
        offsets = dict(offsets or {})
        unknown = sorted(set(offsets) - set(self._partitions))
        if unknown:
            # Partitions do not go away: the topic was recreated with fewer.
            raise LogError(
                f"{self.topic} has no partition {unknown[0]} (it has {len(self._partitions)}):"
                " the log was recreated with fewer partitions",
                retriable=False,
            )
        starts = {p: o.start for p, o in (await self.log_offsets()).items()}
        tps = [TopicPartition(self.topic, p) for p in self._partitions]
        self.consumer.assign(tps)
        for tp in tps:
            self._next[tp.partition] = offsets.get(tp.partition, starts[tp.partition])
            self.consumer.seek(tp, self._next[tp.partition])

    async def log_offsets(self) -> dict[int, PartitionOffsets]:
        """Log start and end of every partition, asked of the brokers now."""
        return await read_log_offsets(self.settings, self.topic, self._partitions)

    def high_watermark(self, partition: int) -> int | None:
        """The partition's log end as of the last fetch (None before the first one)."""
        tp = TopicPartition(self.topic, partition)
        return self.consumer.highwater(tp)  # type: ignore[no-any-return]

    async def read(self, timeout: float = 1.0) -> list[ReadBatch]:
        """The next records, at most ``max_records``; an empty list if none came within ``timeout``.

        Raises LogWentBackwardsError when a partition's end fell below the offset
        already consumed, and LogGapError when the next offset was deleted.
        """
        try:
            fetched = await self.consumer.getmany(
                timeout_ms=int(timeout * 1000), max_records=self._max_records
            )
        except OffsetOutOfRangeError as exc:
            await self._raise_out_of_range(exc)
            raise  # unreachable: _raise_out_of_range always raises
        except KafkaError as exc:
            raise LogError(
                f"{self._what('reading')}: {type(exc).__name__}: {exc}", retriable=exc.retriable
            ) from None
        batches = []
        for tp, records in fetched.items():
            batch = ReadBatch(self.site, tp.partition, high_watermark=self.consumer.highwater(tp))
            for record in records:
                try:
                    batch.events.append((record.offset, self.codec.decode(record.value or b"")))
                except DecodeError as err:
                    batch.dead_letters.append(
                        DeadLetter(
                            self.site,
                            tp.partition,
                            record.offset,
                            err.reason,
                            str(err),
                            record.key,
                            record.value,
                        )
                    )
            batch.next_offset = records[-1].offset + 1
            self._next[tp.partition] = batch.next_offset
            batches.append(batch)
        await self._check_not_backwards()
        return batches

    async def read_until(
        self, ends: Mapping[int, int], *, stall_timeout: float, timeout: float = 1.0
    ) -> AsyncIterator[ReadBatch]:
        """The batches of the partitions in ``ends`` up to those offsets (exclusive), cut there.

        Ends when every such partition reached its end. Raises LogError when one
        yields nothing for ``stall_timeout`` seconds short of its end (brokers gone), so
        a bounded read always ends.
        """
        loop = asyncio.get_running_loop()
        last_progress = loop.time()
        while behind := {p: end for p, end in ends.items() if self._next.get(p, 0) < end}:
            batches = await self.read(timeout=timeout)
            for batch in batches:
                last_progress = loop.time()
                if batch.partition in ends and (cut := _cut(batch, ends[batch.partition])):
                    yield cut
            if batches:
                continue
            for partition in behind:
                # Offsets may be missing (compaction, transaction markers): the fetch
                # position passes them without a record to show for it.
                position = await self.consumer.position(TopicPartition(self.topic, partition))
                self._next[partition] = max(self._next[partition], position)
            stalled = [p for p, end in behind.items() if self._next[p] < end]
            if stalled and loop.time() - last_progress > stall_timeout:
                p = stalled[0]
                raise LogError(
                    f"{self._what('reading')}: no record at offset {self._next[p]} of partition "
                    f"{p} within {stall_timeout:g}s (reading up to {behind[p]})"
                )

    async def _check_not_backwards(self) -> None:
        suspect = [
            partition
            for partition, expected in self._next.items()
            if (end := self.high_watermark(partition)) is not None and end < expected
        ]
        if not suspect:
            return
        # A fetch answer's high watermark can be older than records already read (seen on
        # Apache Kafka right after a new leader took a partition): the brokers' own answer,
        # asked now, decides.
        offsets = await self.log_offsets()
        for partition in suspect:
            if offsets[partition].end < self._next[partition]:
                raise LogWentBackwardsError(
                    self.site, partition, self._next[partition], offsets[partition].end
                )

    async def _raise_out_of_range(self, exc: OffsetOutOfRangeError) -> None:
        offsets = await self.log_offsets()
        for partition, expected in self._next.items():
            bounds = offsets[partition]
            if expected > bounds.end:
                raise LogWentBackwardsError(self.site, partition, expected, bounds.end)
            if expected < bounds.start:
                raise LogGapError(self.site, partition, expected, bounds.start)
        raise LogError(f"{self._what('reading')}: offset out of range: {exc}")

    async def stop(self) -> None:
        """Disconnect; stopping twice does nothing."""
        self.lifecycle = Lifecycle.STOPPED
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()


def _cut(batch: ReadBatch, end: int) -> ReadBatch | None:
    """The part of ``batch`` before ``end``; None when nothing of it is."""
    batch.events = [(offset, event) for offset, event in batch.events if offset < end]
    batch.dead_letters = [letter for letter in batch.dead_letters if letter.offset < end]
    batch.next_offset = min(batch.next_offset, end)
    return batch if batch.events or batch.dead_letters else None
