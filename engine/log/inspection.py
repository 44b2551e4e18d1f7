"""Reading a bounded stretch of a site log for an administrator, and auditing a whole log.

This module decides which offsets to read (:func:`plan_ranges`), which decoded events
to keep (:class:`EventFilter`), reads the records in partition-then-offset order
(:func:`read_records`), and keeps the figures of ``sitelog log verify``
(:class:`LogVerification`). It parses no arguments and prints nothing: that is
``engine.commands.log``.

Time ranges are applied by filtering decoded events on their ``event_time``. A
``since`` may also move the start of the read (:func:`since_starts`): to where the
records written from that time on begin, where the brokers answer ``offsets_for_times``
truly (``engine.log.offsets.time_starts`` checks each answer, and the partitions whose
answer fails are read from their start). Records are written after their events
happened, so a record written before ``since`` (minus a clock slack) holds no event
from ``since`` on, and nothing the filter would keep is skipped.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Mapping
from dataclasses import asdict, dataclass
from typing import Any

from aiokafka import TopicPartition

from engine.errors import ConfigError
from engine.log.offsets import time_starts
from engine.log.reader import SiteLogReader
from engine.log.records import DeadLetter, PartitionOffsets, ReadBatch
from schemas.event import PAYLOAD_BY_NAME, Event
from schemas.types import event_id_str

#: One record of a site log: partition, offset, and what it decoded to.
LogRecord = tuple[int, int, Event | DeadLetter]


@dataclass(frozen=True, slots=True)
class OffsetRange:
    """Offsets ``start`` (inclusive) to ``stop`` (exclusive) of one partition."""

    start: int
    stop: int

    def __len__(self) -> int:
        return max(0, self.stop - self.start)


def check_offsets(from_offset: int | None, to_offset: int | None) -> None:
    """ConfigError unless the offset options make a range (checked before connecting)."""
    for option, value in (("--from-offset", from_offset), ("--to-offset", to_offset)):
        if value is not None and value < 0:
            raise ConfigError(f"{option} {value}: offsets are not negative")
    if from_offset is not None and to_offset is not None and to_offset < from_offset:
        raise ConfigError(f"--to-offset {to_offset} is before --from-offset {from_offset}")


def plan_ranges(
    log_offsets: Mapping[int, PartitionOffsets],
    partitions: Iterable[int] = (),
    from_offset: int | None = None,
    to_offset: int | None = None,
    starts: Mapping[int, int] | None = None,
) -> dict[int, OffsetRange]:
    """The offsets to read in each chosen partition (every partition if none is chosen).

    A range is cut to what the log holds now: below the log start, records were
    deleted by retention; from the log end on, they were written after we started,
    and reading them could keep a read of a live log from ever ending. ``starts``:
    where each partition's read may begin at the earliest (:func:`since_starts`).
    """
    check_offsets(from_offset, to_offset)
    chosen = sorted(set(partitions)) or sorted(log_offsets)
    unknown = [p for p in chosen if p not in log_offsets]
    if unknown:
        known = ", ".join(map(str, sorted(log_offsets)))
        raise ConfigError(f"--partition {unknown[0]}: the log has partitions {known}")
    ranges = {}
    for partition in chosen:
        bounds = log_offsets[partition]
        start = bounds.start if from_offset is None else max(from_offset, bounds.start)
        start = max(start, (starts or {}).get(partition, start))
        stop = bounds.end if to_offset is None else min(to_offset, bounds.end)
        ranges[partition] = OffsetRange(start, max(start, stop))
    return ranges


async def since_starts(
    reader: SiteLogReader, log_offsets: Mapping[int, PartitionOffsets], since: int | None
) -> dict[int, int] | None:
    """Where a read for the events from ``since`` (microseconds) on may start, per
    partition: a time seek where the brokers answer it truly, the log start elsewhere.
    None without ``since``. ``reader`` must be started."""
    if since is None:
        return None
    found = await time_starts(reader.settings, reader.topic, log_offsets, since)
    return {partition: start.offset for partition, start in found.items()}


@dataclass(frozen=True, slots=True)
class EventFilter:
    """Which decoded events to keep: every given criterion must hold (empty sets allow all).

    Within one criterion, any of the values may match (``types={"A", "B"}``: A or B).
    ``since``/``until`` are microseconds since the epoch, half-open: [since, until).
    """

    since: int | None = None
    until: int | None = None
    subjects: frozenset[str] = frozenset()
    hosts: frozenset[str] = frozenset()
    types: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        unknown = sorted(self.types - PAYLOAD_BY_NAME.keys())
        if unknown:
            known = ", ".join(sorted(PAYLOAD_BY_NAME))
            raise ConfigError(f"--type {unknown[0]!r} is not an event type; known: {known}")
        if self.since is not None and self.until is not None and self.until < self.since:
            raise ConfigError("--until is before --since")

    def matches(self, event: Event) -> bool:
        return (
            (self.since is None or event.event_time >= self.since)
            and (self.until is None or event.event_time < self.until)
            and (not self.subjects or event.subject in self.subjects)
            and (not self.hosts or event.key in self.hosts)
            and (not self.types or event.type_name in self.types)
        )

    def keeps(self, item: Event | DeadLetter) -> bool:
        """A dead letter is always kept: what it holds is unknown, and it must not be hidden."""
        return isinstance(item, DeadLetter) or self.matches(item)


def _in_offset_order(batch: ReadBatch) -> list[tuple[int, Event | DeadLetter]]:
    records: list[tuple[int, Event | DeadLetter]] = list(batch.events)
    records.extend((letter.offset, letter) for letter in batch.dead_letters)
    records.sort(key=lambda record: record[0])
    return records


async def read_records(
    reader: SiteLogReader,
    ranges: Mapping[int, OffsetRange],
    *,
    stall_timeout: float,
    poll: float = 0.5,
) -> AsyncGenerator[LogRecord, None]:
    """Every record of ``ranges``, each once, partition by partition and in offset order.

    ``reader`` must be started. Raises LogError when a partition yields nothing
    for ``stall_timeout`` seconds before its range is read (brokers gone), so a read
    always ends.
    """
    await reader.assign({p: r.start for p, r in ranges.items()})
    consumer = reader.consumer
    tps = {p: TopicPartition(reader.topic, p) for p in reader.partitions}
    # One partition fetched at a time, the others paused: partition-then-offset order
    # without holding a whole log in memory.
    consumer.pause(*tps.values())
    for partition in sorted(ranges):
        if not ranges[partition]:
            continue
        consumer.resume(tps[partition])
        async for record in _read_partition(reader, tps[partition], ranges, stall_timeout, poll):
            yield record
        consumer.pause(tps[partition])


async def _read_partition(
    reader: SiteLogReader,
    tp: TopicPartition,
    ranges: Mapping[int, OffsetRange],
    stall_timeout: float,
    poll: float,
) -> AsyncIterator[LogRecord]:
    ends = {tp.partition: ranges[tp.partition].stop}
    async for batch in reader.read_until(ends, stall_timeout=stall_timeout, timeout=poll):
        for offset, item in _in_offset_order(batch):
            yield batch.partition, offset, item


@dataclass(slots=True)
class PartitionTally:
    """One partition's bounds when the audit started, and how many records were read."""

    log_start: int
    log_end: int
    records_read: int = 0


# The first position of an event is packed into one int, partition * 2**48 + offset
# (divmod unpacks it): the audit keeps one per distinct event, so size matters.
_PARTITION_UNIT = 1 << 48


class LogVerification:
    """The figures of ``sitelog log verify``, fed one record at a time.

    A duplicate is a record whose event id an earlier record had: producers retry,
    so the log legitimately holds some; they are counted and shown, not failed.
    ``clean`` is False when a record did not decode.
    """

    def __init__(self, examples: int = 5) -> None:
        self.examples = examples
        self.partitions: dict[int, PartitionTally] = {}
        self.types: Counter[str] = Counter()
        self.reasons: Counter[str] = Counter()
        self.undecodable_examples: list[DeadLetter] = []
        self.duplicates = 0
        self.duplicate_examples: dict[bytes, list[tuple[int, int]]] = {}
        self.earliest: int | None = None  # event_time bounds, in microseconds
        self.latest: int | None = None
        self._first_seen: dict[bytes, int] = {}

    def add_partition(self, partition: int, offsets: PartitionOffsets) -> None:
        self.partitions[partition] = PartitionTally(offsets.start, offsets.end)

    def add(self, partition: int, offset: int, item: Event | DeadLetter) -> None:
        """Count one record of a partition given to :meth:`add_partition` first."""
        self.partitions[partition].records_read += 1
        if isinstance(item, DeadLetter):
            self.reasons[item.reason] += 1
            if len(self.undecodable_examples) < self.examples:
                self.undecodable_examples.append(item)
            return
        self.types[item.type_name] += 1
        when = item.event_time
        self.earliest = when if self.earliest is None else min(self.earliest, when)
        self.latest = when if self.latest is None else max(self.latest, when)
        here = partition * _PARTITION_UNIT + offset
        first = self._first_seen.setdefault(item.event_id, here)
        if first == here:
            return
        self.duplicates += 1
        positions = self.duplicate_examples.get(item.event_id)
        if positions is None and len(self.duplicate_examples) < self.examples:
            positions = self.duplicate_examples[item.event_id] = [divmod(first, _PARTITION_UNIT)]
        if positions is not None and len(positions) < self.examples:
            positions.append((partition, offset))

    @property
    def records(self) -> int:
        return sum(t.records_read for t in self.partitions.values())

    @property
    def events(self) -> int:
        return self.types.total()

    @property
    def undecodable(self) -> int:
        return self.reasons.total()

    @property
    def distinct_events(self) -> int:
        return len(self._first_seen)

    @property
    def clean(self) -> bool:
        return self.undecodable == 0

    def to_json(self) -> dict[str, Any]:
        """The figures as one JSON-ready object (see docs/log-tool.md)."""
        return {
            "partitions": [
                {"partition": p, **asdict(t)} for p, t in sorted(self.partitions.items())
            ],
            "event_types": dict(sorted(self.types.items())),
            "undecodable": {
                "count": self.undecodable,
                "by_reason": dict(sorted(self.reasons.items())),
                "first": [
                    {"partition": d.partition, "offset": d.offset}
                    | {"reason": d.reason, "message": d.message}
                    for d in self.undecodable_examples
                ],
            },
            "duplicates": {
                "count": self.duplicates,
                "first": [
                    {"event_id": event_id_str(event_id), "positions": [list(p) for p in seen]}
                    for event_id, seen in self.duplicate_examples.items()
                ],
            },
            "event_time": {"earliest": self.earliest, "latest": self.latest},
            "totals": {
                "records": self.records,
                "events": self.events,
                "distinct_events": self.distinct_events,
                "undecodable": self.undecodable,
                "duplicates": self.duplicates,
            },
        }
