"""What site logs hold and where: topic naming, positions, and the batches a reader yields.

Plain values, no I/O: the writer (``engine.log.writer``) returns :class:`Appended`,
the reader (``engine.log.reader``) yields :class:`ReadBatch` holding decoded events
and :class:`DeadLetter` records it could not decode.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from projections.rows import DeadLetterRow
from schemas.event import Event
from schemas.types import check_site_name, now_us

__all__ = [
    "DEFAULT_PARTITIONS",
    "Appended",
    "DeadLetter",
    "PartitionOffsets",
    "ReadBatch",
    "topic_for",
]

DEFAULT_PARTITIONS = 4


def topic_for(site: str) -> str:
    """The Kafka topic of a site's log."""
    return f"sitelog.{check_site_name(site)}"


@dataclass(frozen=True, slots=True)
class Appended:
    """Where an appended event landed."""

    partition: int
    offset: int


@dataclass(frozen=True, slots=True)
class PartitionOffsets:
    """A partition's log start (first offset still stored) and end (next offset to be written)."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that could not be decoded; kept with where it was and why."""

    site: str
    partition: int
    offset: int
    reason: str
    message: str
    key: bytes | None
    value: bytes | None

    def row(self) -> DeadLetterRow:
        """The projection's row for this dead letter."""
        return DeadLetterRow(
            self.site,
            self.partition,
            self.offset,
            self.reason,
            self.message,
            self.key,
            self.value,
            now_us(),
        )


@dataclass(slots=True)
class ReadBatch:
    """Consecutive records of one partition: decoded events and dead letters, by offset."""

    site: str
    partition: int
    events: list[tuple[int, Event]] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    #: The offset after the last record of the batch: where reading resumes.
    next_offset: int = 0
    #: The partition's log end as the broker reported it with this batch.
    high_watermark: int | None = None
