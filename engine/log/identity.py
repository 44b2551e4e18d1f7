"""The identity of a site log: which topic it is, and which event sits at an offset.

Offsets alone cannot tell a log from another one refilled past them (a broker restarted
empty, or a disk lost and reformatted, then produced to again; a topic deleted and
recreated): the stored offsets point into the new log, and reading on from them would
skip its first records and apply the rest as if they followed the old ones. So a node
stores, with each partition's offset, the last event it consumed there (a :class:`Mark`)
and the topic's id where the broker gives one (``projections.rows.OffsetRow``), and
:meth:`LogIdentity.verify` compares them with what the log holds now: the record at the
mark's offset must carry the mark's event id, and the topic ids must be equal where both
are known. The comparison itself is pure (:func:`check_marks`, :func:`check_topic`).

Reading one record: a Fetch of one partition at the offset, with a size limit of one
byte, is answered with the record batch holding the offset (Apache Kafka and Tansu both
return a first batch whatever its size). Topic ids come from Metadata v10 (KIP-516,
Kafka 2.8+), which aiokafka does not speak: its request and response are declared here.
A broker that does not answer v10, or answers an all-zero id, gives none.
"""

from __future__ import annotations

import asyncio
import enum
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from aiokafka import errors as kafka_errors
from aiokafka.client import AIOKafkaClient
from aiokafka.protocol.api import Request, RequestStruct, Response
from aiokafka.protocol.fetch import FetchRequest
from aiokafka.protocol.types import (
    AbstractType,
    Boolean,
    CompactArray,
    CompactString,
    Int16,
    Int32,
    Schema,
    TaggedFields,
)
from aiokafka.record.memory_records import MemoryRecords
from aiokafka.structs import TopicPartition

from engine.errors import LogError, LogReplacedError, LogWentBackwardsError
from engine.lifecycle import Lifecycle, Service
from engine.log.kafka import KafkaSettings, bounded
from engine.log.reader import read_log_offsets
from engine.log.records import ReadBatch, topic_for
from schemas.codec import Codec
from schemas.errors import DecodeError
from schemas.types import check_site_name, event_id_str

__all__ = [
    "Absent",
    "Found",
    "LogIdentity",
    "Mark",
    "Undecodable",
    "check_marks",
    "check_topic",
    "last_mark",
    "topic_id_str",
]

#: How long a fetch of a record at the log end may wait for one to arrive (milliseconds).
_FETCH_WAIT_MS = 100
_NO_TOPIC_ID = bytes(16)


@dataclass(frozen=True, slots=True)
class Mark:
    """The last event a node consumed from a partition: its offset and its event id."""

    offset: int
    event_id: bytes


def last_mark(batch: ReadBatch) -> Mark | None:
    """The mark of a batch's last event; None when it holds dead letters only."""
    if not batch.events:
        return None
    offset, event = batch.events[-1]
    return Mark(offset, event.event_id)


@dataclass(frozen=True, slots=True)
class Absent:
    """No record at the offset: the partition holds the offsets ``[start, end)`` now."""

    start: int
    end: int


@dataclass(frozen=True, slots=True)
class Undecodable:
    """A record that is not an event sitelog can decode (``reason``: the dead letter's)."""

    reason: str


#: What a partition holds at an offset: an event's id, or why there is none.
Found = bytes | Undecodable | Absent


class _Missing(enum.Enum):
    """No record at the offset: ``read_log_offsets`` then tells where the log is."""

    RECORD = "no record"


_ABSENT = _Missing.RECORD
#: One partition's answer: what is at the offset, no record there, or no answer (None).
_Answer = bytes | Undecodable | _Missing | None


def topic_id_str(topic_id: bytes) -> str:
    return str(uuid.UUID(bytes=topic_id))


def _describe(found: bytes | Undecodable) -> str:
    if isinstance(found, Undecodable):
        return f"a record that is no event ({found.reason})"
    return f"event {event_id_str(found)}"


def check_marks(site: str, marks: Mapping[int, Mark], found: Mapping[int, Found]) -> None:
    """Raise unless the log's records (``found``, by partition) are the marked events.

    A partition not in ``found`` was not read (no verdict); a mark whose record retention
    deleted, or that sits in a hole of the log (compaction), cannot be compared and
    passes. A log that ends at or before a mark went backwards (LogWentBackwardsError);
    another record at a mark's offset means another log (LogReplacedError).
    """
    for partition, mark in sorted(marks.items()):
        at = found.get(partition)
        if at is None:
            continue
        if isinstance(at, Absent):
            if mark.offset >= at.end:
                raise LogWentBackwardsError(site, partition, mark.offset + 1, at.end)
            continue
        if at != mark.event_id:
            raise LogReplacedError(
                site, partition, mark.offset, event_id_str(mark.event_id), _describe(at)
            )


def check_topic(site: str, stored: bytes | None, found: bytes | None) -> None:
    """Raise LogReplacedError when both topic ids are known and differ."""
    if stored is not None and found is not None and stored != found:
        raise LogReplacedError(site, None, None, topic_id_str(stored), topic_id_str(found))


class _Uuid(AbstractType[bytes]):  # type: ignore[misc]
    """Kafka's UUID: 16 bytes as they are."""

    @classmethod
    def encode(cls, value: bytes) -> bytes:
        return value

    @classmethod
    def decode(cls, data: BytesIO) -> bytes:
        return data.read(16)


class _MetadataResponseV10(Response):  # type: ignore[misc]
    API_KEY = 3
    API_VERSION = 10
    SCHEMA = Schema(
        ("throttle_time_ms", Int32),
        (
            "brokers",
            CompactArray(
                ("node_id", Int32),
                ("host", CompactString("utf-8")),
                ("port", Int32),
                ("rack", CompactString("utf-8")),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_id", CompactString("utf-8")),
        ("controller_id", Int32),
        (
            "topics",
            CompactArray(
                ("error_code", Int16),
                ("name", CompactString("utf-8")),
                ("topic_id", _Uuid),
                ("is_internal", Boolean),
                (
                    "partitions",
                    CompactArray(
                        ("error_code", Int16),
                        ("partition_index", Int32),
                        ("leader_id", Int32),
                        ("leader_epoch", Int32),
                        ("replica_nodes", CompactArray(Int32)),
                        ("isr_nodes", CompactArray(Int32)),
                        ("offline_replicas", CompactArray(Int32)),
                        ("tags", TaggedFields),
                    ),
                ),
                ("topic_authorized_operations", Int32),
                ("tags", TaggedFields),
            ),
        ),
        ("cluster_authorized_operations", Int32),
        ("tags", TaggedFields),
    )


class _MetadataRequestV10(RequestStruct):  # type: ignore[misc]
    FLEXIBLE_VERSION = True
    API_KEY = 3
    API_VERSION = 10
    RESPONSE_TYPE = _MetadataResponseV10
    SCHEMA = Schema(
        (
            "topics",
            CompactArray(
                ("topic_id", _Uuid), ("name", CompactString("utf-8")), ("tags", TaggedFields)
            ),
        ),
        ("allow_auto_topic_creation", Boolean),
        ("include_cluster_authorized_operations", Boolean),
        ("include_topic_authorized_operations", Boolean),
        ("tags", TaggedFields),
    )


class _TopicIdRequest(Request[_MetadataRequestV10]):  # type: ignore[misc]
    """Metadata v10 of one topic, by name, never creating it."""

    API_KEY = 3

    def __init__(self, topic: str) -> None:
        self._topic = topic

    def build(self, request_struct_class: type[_MetadataRequestV10]) -> _MetadataRequestV10:
        return request_struct_class([(_NO_TOPIC_ID, self._topic, {})], False, False, False, {})


class LogIdentity(Service):
    """Reads one site log's topic id and the events at given offsets, over one connection."""

    def __init__(self, site: str, settings: KafkaSettings, *, codec: Codec | None = None) -> None:
        self.site = check_site_name(site)
        self.topic = topic_for(site)
        self.settings = settings
        self.codec = codec or Codec()
        self._client: AIOKafkaClient | None = None
        self._topic_ids_given = True
        self.lifecycle = Lifecycle.NEW

    def _what(self, action: str) -> str:
        return f"{action} site log {self.topic} on {self.settings.bootstrap_servers}"

    async def start(self) -> None:
        self.lifecycle.check_start(f"the identity reader of {self.topic}")
        client = AIOKafkaClient(**self.settings.client_kwargs())
        try:
            await bounded(
                client.bootstrap(), self.settings.connect_timeout, self._what("connecting to")
            )
        except BaseException:
            await client.close()
            raise
        self._client = client
        self.lifecycle = Lifecycle.STARTED

    async def stop(self) -> None:
        """Disconnect; stopping twice does nothing."""
        self.lifecycle = Lifecycle.STOPPED
        client, self._client = self._client, None
        if client is not None:
            await client.close()

    @property
    def client(self) -> AIOKafkaClient:
        self.lifecycle.check_use(f"the identity reader of {self.topic}")
        assert self._client is not None  # STARTED holds a client
        return self._client

    async def verify(self, marks: Mapping[int, Mark], topic_id: bytes | None) -> bytes | None:
        """Raise LogReplacedError (or LogWentBackwardsError) unless this log is the one the
        marks and the topic id were read from; returns the log's topic id (None if not given).

        The marks first: their error names the partition, the offset and both events, and a
        log that now ends before them went backwards; the topic id decides where no mark
        can (none stored yet, or their records deleted by retention)."""
        if marks:
            found = await self.read({p: mark.offset for p, mark in marks.items()})
            check_marks(self.site, marks, found)
        found_topic = await self.topic_id()
        check_topic(self.site, topic_id, found_topic)
        return found_topic

    async def topic_id(self) -> bytes | None:
        """The topic's id, or None where the broker gives none (no Metadata v10, all zero)."""
        if not self._topic_ids_given:
            return None
        client = self.client
        what = self._what("reading the topic id of")
        node = client.get_random_node()
        if node is None:
            raise LogError(f"{what}: no broker known")
        answer = await bounded(self._ask_topic_id(node), self.settings.connect_timeout, what)
        if answer is None:
            self._topic_ids_given = False  # the broker is older than topic ids
            return None
        for topic in answer.to_object()["topics"]:
            if topic["name"] == self.topic and topic["error_code"] == 0:
                given: bytes = topic["topic_id"]
                return None if given == _NO_TOPIC_ID else given
        return None

    async def _ask_topic_id(self, node: int) -> Any:
        """Metadata v10 of the topic; None from a broker that does not speak it."""
        try:
            return await self.client.send(node, _TopicIdRequest(self.topic))
        except (NotImplementedError, kafka_errors.IncompatibleBrokerVersion):
            return None

    async def read(self, offsets: Mapping[int, int]) -> dict[int, Found]:
        """What each partition holds at its offset; a partition with no answer (no leader
        known) is left out."""
        leaders = await self._leaders(list(offsets))
        asked = {p: o for p, o in offsets.items() if p in leaders}
        answers = dict(
            zip(
                asked,
                await asyncio.gather(*(self._read_one(leaders[p], p, o) for p, o in asked.items())),
                strict=True,
            )
        )
        found: dict[int, Found] = {
            p: at for p, at in answers.items() if isinstance(at, bytes | Undecodable)
        }
        if missing := [p for p, at in answers.items() if at is _ABSENT]:
            bounds = await read_log_offsets(self.settings, self.topic, missing)
            found.update({p: Absent(bounds[p].start, bounds[p].end) for p in missing})
        return found

    async def _leaders(self, partitions: list[int]) -> dict[int, int]:
        """The leader of each partition whose leader is known, asking the brokers when one
        is not (once for the topic, then once more for all of them)."""
        client = self.client
        what = self._what("reading the partition leaders of")

        def known() -> dict[int, int]:
            leaders = {}
            for partition in partitions:
                leader = client.cluster.leader_for_partition(TopicPartition(self.topic, partition))
                if leader is not None and leader >= 0:
                    leaders[partition] = leader
            return leaders

        leaders = known()
        for update in (client.add_topic, lambda _topic: client.force_metadata_update()):
            if len(leaders) == len(partitions):
                break
            await bounded(update(self.topic), self.settings.connect_timeout, what)
            leaders = known()
        return leaders

    async def _read_one(self, leader: int, partition: int, offset: int) -> _Answer:
        what = self._what(f"reading offset {offset} of partition {partition} of")
        request = FetchRequest(_FETCH_WAIT_MS, 1, 1, 0, [(self.topic, [(partition, offset, 1)])])
        answer = await bounded(
            self.client.send(leader, request), self.settings.connect_timeout, what
        )
        for _topic, partitions in answer.topics:
            for answered, error_code, high_watermark, *rest in partitions:
                if answered == partition:
                    return self._record_at(offset, error_code, high_watermark, rest[-1], what)
        return None

    def _record_at(
        self, offset: int, error_code: int, high_watermark: int, data: bytes, what: str
    ) -> _Answer:
        error = kafka_errors.for_code(error_code)
        if error is kafka_errors.OffsetOutOfRangeError:
            return _ABSENT
        if error is not kafka_errors.NoError:
            if error in (
                kafka_errors.NotLeaderForPartitionError,
                kafka_errors.UnknownTopicOrPartitionError,
            ):
                self.client.force_metadata_update()
            raise LogError(f"{what}: {error.__name__}", retriable=error.retriable)
        records = MemoryRecords(data)
        while records.has_next():
            batch: Any = records.next_batch()
            if getattr(batch, "is_control_batch", False):
                continue
            for record in batch:
                if record.offset < offset:
                    continue
                if record.offset > offset:
                    return _ABSENT  # a hole in the log (compaction): the bounds tell
                try:
                    return self.codec.decode(record.value or b"").event_id
                except DecodeError as err:
                    return Undecodable(err.reason)
        # Nothing at the offset yet: beyond the end, or a broker that answered nothing.
        return _ABSENT if high_watermark <= offset else None
