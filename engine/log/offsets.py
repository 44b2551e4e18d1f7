"""Where a site log's partitions start and end, and where the records from a time on begin:
asked of the brokers with ListOffsets, and believed only as far as checked.

ListOffsets is the protocol's own answer to both questions, but a Kafka-protocol broker
may answer it wrongly: the embedded Tansu answers ListOffsets(latest) with the base
offset of a partition's last batch plus one (short of the end whenever that batch holds
more than one record), and ListOffsets by timestamp by its own append time of each
batch, with offset 0 when no record is that late. So neither answer is taken on the
broker's word, and nothing below asks which broker it is:

- **Log ends** (:func:`log_offsets`). A Fetch at the listed end minus one answers with
  the batch holding that offset and the partition's high watermark, the true end.
  Batches are never split, so on a broker whose listed end is the log end the batch
  holding ``end - 1`` ends exactly at ``end``: one that ends beyond it proves the
  brokers' ListOffsets wrong. The proof the other way needs a batch of two records or
  more ending exactly at the listed end, the high watermark equal to it: a broker
  counting batches, or answering with a batch's base, cannot give that. (Agreement on
  an empty partition or a one-record batch proves nothing: a wrong broker agrees there
  too.) Until proved either way, and for good once proved wrong, the ends are the
  fetch's high watermarks; once proved right, for a cluster (bootstrap servers and
  cluster id), ListOffsets alone. Starts come from ListOffsets(earliest), checked the
  same way against the log start a Fetch reports.
- **Time** (:func:`time_starts`). ListOffsets(T) must name the first record whose
  timestamp is at or after T. The answer is used where it passes a check (the record
  at the offset is at or after T, the one before it is before T, or it is the log
  start), and the partition is scanned from its start where it does not.

Record timestamps are the writers' clocks when they sent each record, not the events'
own times, so :func:`time_starts` asks for T minus :data:`CLOCK_SLACK`: a record is
always written after its event happened, give or take that much clock difference.
"""

from __future__ import annotations

import asyncio
import logging
import struct
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, TypeVar

from aiokafka import errors as kafka_errors
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.metadata import MetadataRequest
from aiokafka.protocol.offset import OffsetRequest
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from engine.errors import BrokerUnavailableError, LogError
from engine.log.kafka import KafkaSettings, bounded
from engine.log.records import PartitionOffsets
from engine.times import format_time

__all__ = ["CLOCK_SLACK", "LogOffsets", "TimeStart", "log_offsets", "time_starts"]

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds an event's time may be ahead of its record's timestamp (the writer's clock
#: when it sent it): clock differences between the host that dates an event and the one
#: that writes it, which NTP keeps far below this. A time seek starts this much earlier
#: (reading an hour more costs little); the filter on event times does the rest.
CLOCK_SLACK = 3600.0

_LATEST, _EARLIEST = -1, -2
# A fetch that may not wait is answered with no partition at all by some brokers (Tansu):
# a short wait, and at least one byte, gets an answer from every one.
_FETCH_WAIT_MS = 10
# Fetch limits. A broker returns the first batch of a fetch whatever its size, which is
# all the end check needs; the time check reads whole batches, as big as a producer sends.
_HEADER_BYTES = 1
_BATCH_BYTES = 2 * 1024 * 1024
# Record batch v2 header, up to lastOffsetDelta: baseOffset, batchLength,
# partitionLeaderEpoch, magic, crc, attributes, lastOffsetDelta.
_BATCH_HEADER = struct.Struct(">qiibIhi")

#: (bootstrap servers, cluster id) -> whether ListOffsets gives its log ends.
_VERDICTS: dict[tuple[str, str], bool] = {}


class _Retry(Exception):
    """An answer that asking again soon will fix (a leader moved, an offset just deleted)."""


@dataclass(frozen=True, slots=True)
class LogOffsets:
    """Every asked partition's log start and end, and where the ends came from."""

    partitions: dict[int, PartitionOffsets]
    #: ``listed``: ListOffsets alone, the brokers having been seen to answer it truly;
    #: ``fetched``: a fetch's high watermarks.
    source: Literal["listed", "fetched"]


@dataclass(frozen=True, slots=True)
class TimeStart:
    """Where to start reading a partition for the records from a time on.

    ``seek``: at the offset the brokers gave for the time, which passed the check;
    ``scan``: at the log start (no answer to use, or one that failed the check).
    """

    offset: int
    how: Literal["seek", "scan"]


@dataclass(frozen=True, slots=True)
class _Fetched:
    high_watermark: int
    log_start: int | None  # None when the broker's fetch answer carries none
    records: bytes


class _Brokers:
    """One bootstrapped client, the topic's partition leaders, and the cluster's id."""

    def __init__(self, settings: KafkaSettings, topic: str, what: str) -> None:
        self.settings, self.topic, self.what = settings, topic, what
        self.client = AIOKafkaClient(**settings.client_kwargs())
        self.cluster_id = ""

    async def __aenter__(self) -> _Brokers:
        try:
            await self._bounded(self.client.bootstrap(), settings=self.settings)
            await self.refresh()
        except BaseException:
            await self.client.close()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.client.close()

    def _bounded(self, awaitable: Awaitable[T], **kwargs: Any) -> Awaitable[T]:
        return bounded(awaitable, self.settings.connect_timeout, self.what, **kwargs)

    async def refresh(self) -> None:
        """Ask for the topic's leaders (never creating it: a typo must not make a log)."""
        request = MetadataRequest([self.topic], False)
        answer = await self._bounded(self.client.send(self.client.get_random_node(), request))
        self.cluster_id = getattr(answer, "cluster_id", None) or ""
        self.client.cluster.update_metadata(answer)

    def _by_leader(self, partitions: Sequence[int]) -> dict[int, list[int]]:
        by_leader: dict[int, list[int]] = {}
        for partition in partitions:
            leader = self.client.cluster.leader_for_partition(TopicPartition(self.topic, partition))
            if leader is None or leader < 0:
                raise _Retry(f"partition {partition} has no leader")
            by_leader.setdefault(leader, []).append(partition)
        return by_leader

    def _check(self, partition: int, code: int) -> None:
        error = kafka_errors.for_code(code)
        if error is kafka_errors.NoError:
            return
        if error.retriable or error is kafka_errors.OffsetOutOfRangeError:
            raise _Retry(f"partition {partition}: {error.__name__}")
        raise LogError(f"{self.what}: partition {partition}: {error.__name__}")

    async def list_offsets(
        self, partitions: Sequence[int], timestamp: int
    ) -> dict[int, tuple[int, int]]:
        """ListOffsets(``timestamp``): (offset, timestamp) per partition; offset -1 for none."""

        async def ask(leader: int, asked: list[int]) -> dict[int, tuple[int, int]]:
            request = OffsetRequest(-1, 0, [(self.topic, [(p, timestamp) for p in asked])])
            answer = await self._bounded(self.client.send(leader, request))
            found: dict[int, tuple[int, int]] = {}
            for _topic, rows in answer.topics:
                for partition, code, *info in rows:
                    self._check(partition, code)
                    if answer.API_VERSION == 0:  # a list of offsets, no timestamp
                        found[partition] = ((info[0] or [-1])[0], -1)
                    else:
                        found[partition] = (info[-1], info[-2])
            return found

        return await self._gather(partitions, ask)

    async def fetch(self, offsets: Mapping[int, int], max_bytes: int) -> dict[int, _Fetched]:
        """One Fetch per leader: each partition's high watermark, log start and records.

        Brokers send the first batch of the first partition that has one whole, whatever
        ``max_bytes`` says; other partitions' batches only within ``max_bytes``."""

        async def ask(leader: int, asked: list[int]) -> dict[int, _Fetched]:
            wanted = [(p, offsets[p], max_bytes) for p in asked]
            limit = max_bytes * len(wanted)
            request = FetchRequest(_FETCH_WAIT_MS, 1, limit, 0, [(self.topic, wanted)])
            answer = await self._bounded(self.client.send(leader, request))
            found: dict[int, _Fetched] = {}
            for _topic, rows in answer.topics:
                for partition, code, high_watermark, *data in rows:
                    self._check(partition, code)
                    start = data[1] if answer.API_VERSION >= 5 and data[1] >= 0 else None
                    found[partition] = _Fetched(high_watermark, start, data[-1] or b"")
            return found

        return await self._gather(list(offsets), ask)

    async def _gather(
        self,
        partitions: Sequence[int],
        ask: Callable[[int, list[int]], Awaitable[dict[int, T]]],
    ) -> dict[int, T]:
        answers = await asyncio.gather(*(ask(*i) for i in self._by_leader(partitions).items()))
        found = {p: value for answer in answers for p, value in answer.items()}
        if missing := sorted(set(partitions) - found.keys()):
            raise _Retry(f"no answer for partition {missing[0]}")
        return found


async def _retrying(settings: KafkaSettings, what: str, attempt: Callable[[], Awaitable[T]]) -> T:
    """``attempt()`` again while it meets a passing fault, for up to ``connect_timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + settings.connect_timeout
    while True:
        try:
            return await attempt()
        except _Retry as exc:
            if loop.time() > deadline:
                raise BrokerUnavailableError(
                    f"{what}: {exc} after {settings.connect_timeout:g}s"
                ) from None
            await asyncio.sleep(0.05)


def _first_batch(records: bytes) -> tuple[int, int] | None:
    """The first batch's base offset and next offset, from its header alone (v2 batches)."""
    if len(records) < _BATCH_HEADER.size:
        return None
    base, _length, _epoch, magic, _crc, _attributes, last_delta = _BATCH_HEADER.unpack_from(records)
    return (base, base + last_delta + 1) if magic == 2 else None


async def log_offsets(settings: KafkaSettings, topic: str, partitions: Sequence[int]) -> LogOffsets:
    """Each partition's log start and end, exact on any broker (see the module's notes)."""
    what = f"reading offsets of {topic} on {settings.bootstrap_servers}"
    partitions = list(partitions)

    async def attempt() -> LogOffsets:
        async with _Brokers(settings, topic, what) as brokers:
            key = (settings.bootstrap_servers, brokers.cluster_id)
            starts, listed = await asyncio.gather(
                brokers.list_offsets(partitions, _EARLIEST),
                brokers.list_offsets(partitions, _LATEST),
            )
            verdict = _VERDICTS.get(key)
            if verdict:
                bounds = {p: PartitionOffsets(starts[p][0], listed[p][0]) for p in partitions}
                return LogOffsets(bounds, "listed")
            # At the record before the listed end: the batch holding it tells the verdict.
            at = {p: max(starts[p][0], listed[p][0] - 1) for p in partitions}
            if verdict is None:  # one fetch per partition: each answers with its batch
                answers = await asyncio.gather(
                    *(brokers.fetch({p: o}, _HEADER_BYTES) for p, o in at.items())
                )
                fetched = {p: f for answer in answers for p, f in answer.items()}
            else:
                fetched = await brokers.fetch(at, _HEADER_BYTES)
        if key not in _VERDICTS and (
            found := _evidence({p: (starts[p][0], listed[p][0]) for p in partitions}, fetched)
        ):
            _decide(key, *found)
        bounds = {}
        for p in partitions:
            start = fetched[p].log_start
            bounds[p] = PartitionOffsets(
                starts[p][0] if start is None else start, fetched[p].high_watermark
            )
        return LogOffsets(bounds, "fetched")

    return await _retrying(settings, what, attempt)


def _evidence(
    listed: Mapping[int, tuple[int, int]], fetched: Mapping[int, _Fetched]
) -> tuple[bool, str] | None:
    """Whether these answers prove the brokers' ListOffsets true or false, and why; None
    if they prove neither. ``listed``: (earliest, latest) per partition."""
    proof = None
    for partition, (start, end) in sorted(listed.items()):
        got = fetched[partition]
        if got.log_start is not None and got.log_start < start:  # starts only move up
            return False, f"partition {partition} starts at {got.log_start}, not {start}"
        batch = _first_batch(got.records)
        if end <= start or batch is None or not batch[0] <= end - 1 < batch[1]:
            continue  # empty, or no batch holding end - 1 in the answer: no evidence
        if batch[1] != end:
            return False, f"partition {partition}: {end} is inside a batch ending at {batch[1]}"
        agrees = got.high_watermark == end and got.log_start in (None, start)
        if agrees and batch[1] - batch[0] > 1:
            proof = f"partition {partition} ends at {end}, after a batch of {batch[1] - batch[0]}"
    return None if proof is None else (True, proof)


def _decide(key: tuple[str, str], trusted: bool, why: str) -> None:
    _VERDICTS[key] = trusted
    how = "ListOffsets" if trusted else "a fetch's high watermark, not ListOffsets"
    log.info("log starts and ends on %s (cluster %s): %s (%s)", key[0], key[1] or "?", how, why)


async def time_starts(
    settings: KafkaSettings,
    topic: str,
    bounds: Mapping[int, PartitionOffsets],
    since: int,
    *,
    slack: float = CLOCK_SLACK,
) -> dict[int, TimeStart]:
    """Where to start reading each partition of ``bounds`` for the events whose time is
    at or after ``since`` (microseconds): seek where the brokers' answer passes the
    check, from the log start where it does not. Says in one log line which it did."""
    what = f"seeking {topic} on {settings.bootstrap_servers} by time"
    target = (since - int(slack * 1_000_000)) // 1000  # record timestamps: milliseconds
    partitions = [p for p, b in bounds.items() if b.end > b.start]
    starts = {p: TimeStart(b.start, "scan") for p, b in bounds.items()}
    if target <= 0 or not partitions:  # nothing is older: the seek could skip nothing
        return starts

    async def attempt() -> dict[int, TimeStart]:
        async with _Brokers(settings, topic, what) as brokers:
            answers = await brokers.list_offsets(partitions, target)
            wanted = {p: _to_check(answers[p][0], bounds[p]) for p in partitions}
            stamps = await _timestamps(brokers, {p: w for p, w in wanted.items() if w})
        found = dict(starts)
        for p in partitions:
            offset = answers[p][0]
            bound = bounds[p]
            if offset < 0 or offset >= bound.end:  # "no record that late": the end
                offset, holds = bound.end, stamps.get((p, bound.end - 1), target) < target
            elif offset == bound.start:
                holds = True  # nothing before it to skip
            else:
                before, at = stamps.get((p, offset - 1)), stamps.get((p, offset))
                holds = before is not None and at is not None and before < target <= at
            if holds and bound.start <= offset:
                found[p] = TimeStart(offset, "seek")
        return found

    found = await _retrying(settings, what, attempt)
    sought = sorted(p for p in partitions if found[p].how == "seek")
    scanned = sorted(p for p in partitions if found[p].how == "scan")
    skipped = sum(found[p].offset - bounds[p].start for p in sought)
    log.info(
        "%s from %s (record times from %s): seeking in partitions %s (%d records skipped)%s",
        topic,
        format_time(since),
        format_time(target * 1000),
        _listed(sought),
        skipped,
        f"; scanning partitions {_listed(scanned)} (the brokers' offset for that time failed "
        "the check)"
        if scanned
        else "",
    )
    return found


def _listed(partitions: Sequence[int]) -> str:
    return ", ".join(map(str, partitions)) or "none"


def _to_check(offset: int, bound: PartitionOffsets) -> tuple[int, ...]:
    """The offsets whose timestamps show whether ``offset`` is the first at or after T."""
    if offset < 0 or offset >= bound.end:
        return (bound.end - 1,)
    if offset <= bound.start:
        return ()
    return (offset - 1, offset)


async def _timestamps(
    brokers: _Brokers, wanted: Mapping[int, tuple[int, ...]]
) -> dict[tuple[int, int], int]:
    """The record timestamps at the wanted offsets, by (partition, offset); an offset
    that holds no record (compacted away) is left out."""
    found: dict[tuple[int, int], int] = {}
    left = {p: sorted(offsets) for p, offsets in wanted.items()}
    while left:
        # One partition per fetch: a broker returns a first batch whole only in the first
        # partition of an answer.
        answers = await asyncio.gather(
            *(brokers.fetch({p: offsets[0]}, _BATCH_BYTES) for p, offsets in left.items())
        )
        for (partition, offsets), answer in zip(list(left.items()), answers, strict=True):
            seen = _record_times(answer[partition].records)
            found.update({(partition, o): seen[o] for o in offsets if o in seen})
            last = max(seen, default=offsets[0] - 1)
            remaining = [o for o in offsets if o > last]
            if remaining and last >= offsets[0]:  # read past the first: fetch on from there
                left[partition] = remaining
            else:
                del left[partition]
    return found


def _record_times(records: bytes) -> dict[int, int]:
    """Offset -> timestamp of every record of the complete batches in ``records``."""
    times: dict[int, int] = {}
    batches = MemoryRecords(records)
    while (batch := batches.next_batch()) is not None:
        for record in batch:
            times[record.offset] = record.timestamp
    return times
