"""``SiteLogWriter``: appends events to a site's log ``sitelog.<site>`` over aiokafka
(``engine.log.reader`` replays them; ``engine.log.records`` holds the values).

Records are keyed by host name (``Event.key``), so one host's events keep their order
within a site. The writer waits for ``acks=all``. It produces idempotently where the
brokers grant producer ids (``engine.log.kafka.grants_idempotence``: Apache Kafka does,
the embedded Tansu does not), so a batch retried after a cut connection is not written
twice; elsewhere it produces at least once, and everything above this module is written
for that too (events are deduplicated by id). It says at start which it does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from engine.errors import LogError
from engine.lifecycle import Lifecycle, Service
from engine.log.kafka import KafkaSettings, bounded, ensure_topic, grants_idempotence
from engine.log.records import DEFAULT_PARTITIONS, Appended, topic_for
from schemas.codec import Codec
from schemas.event import Event
from schemas.types import check_site_name

log = logging.getLogger(__name__)

#: A record queued by the writer: aiokafka's future of its RecordMetadata.
Pending = asyncio.Future[Any]


def producer_options(
    settings: KafkaSettings, *, idempotent: bool = False, **extra: Any
) -> dict[str, Any]:
    """aiokafka producer options of every site log writer: acks=all, idempotent or not."""
    return {**settings.client_kwargs(), "acks": "all", "enable_idempotence": idempotent, **extra}


async def close_quietly(
    producer: AIOKafkaProducer, timeout: float, what: str, *, level: int = logging.WARNING
) -> None:
    """Stop an aiokafka producer within ``timeout``; a failure is only worth a log line.

    A producer cut off from its brokers would wait for its batches: whoever calls this
    still holds what they carried (the spool, or the caller's error).
    """
    try:
        async with asyncio.timeout(timeout):  # not wait_for: see engine.log.kafka.bounded
            await producer.stop()
    except Exception as exc:
        log.log(level, "%s: %s", what, exc)


class SiteLogWriter(Service):
    """Appends events to one site's log."""

    def __init__(
        self,
        site: str,
        settings: KafkaSettings,
        *,
        codec: Codec | None = None,
        partitions: int = DEFAULT_PARTITIONS,
        linger_ms: int = 5,
        max_batch_size: int = 256 * 1024,
        create_topic: bool = True,
    ) -> None:
        self.site = check_site_name(site)
        self.topic = topic_for(site)
        self.settings = settings
        self.codec = codec or Codec()
        self._partitions = partitions
        self._create_topic = create_topic
        self._producer_options = {"linger_ms": linger_ms, "max_batch_size": max_batch_size}
        self._producer: AIOKafkaProducer | None = None
        #: Whether it produces idempotently; None until started.
        self.idempotent: bool | None = None
        #: NEW until started, STOPPED for good once stopped (``engine.lifecycle``).
        self.lifecycle = Lifecycle.NEW

    def _what(self, action: str) -> str:
        return f"{action} site log {self.topic} on {self.settings.bootstrap_servers}"

    async def start(self) -> None:
        self.lifecycle.check_start(f"the writer of {self.topic}")
        idempotent = await grants_idempotence(self.settings, self._what("connecting to"))
        log.info(
            "writer of %s: %s",
            self.topic,
            "idempotent (the brokers grant producer ids)"
            if idempotent
            else "at least once (the brokers give no producer id; events are deduplicated by id)",
        )
        # aiokafka clients bind to the running loop when built, so they are built here.
        options = producer_options(self.settings, idempotent=idempotent, **self._producer_options)
        producer = self._producer = AIOKafkaProducer(**options)
        self.idempotent = idempotent
        try:
            await bounded(
                producer.start(),
                self.settings.connect_timeout,
                self._what("connecting to"),
                settings=self.settings,
            )
            if self._create_topic:
                await ensure_topic(self.settings, self.topic, self._partitions)
        except BaseException:
            await self._close_quietly(producer)
            self._producer = None
            raise
        self.lifecycle = Lifecycle.STARTED

    async def ensure_started(self) -> None:
        """Start if not started: a node's writer may find its site's brokers away at start."""
        if self.lifecycle is Lifecycle.NEW:
            await self.start()
        self.lifecycle.check_use(f"the writer of {self.topic}")

    @property
    def producer(self) -> AIOKafkaProducer:
        self.lifecycle.check_use(f"the writer of {self.topic}")
        assert self._producer is not None  # STARTED holds a producer
        return self._producer

    async def stop(self) -> None:
        """Flush what was sent and disconnect (bounded: an unreachable broker cannot hang it)."""
        self.lifecycle = Lifecycle.STOPPED
        producer, self._producer = self._producer, None
        if producer is None:
            return
        try:
            await bounded(producer.flush(), self.settings.request_timeout, self._what("flushing"))
        finally:
            await self._close_quietly(producer)

    async def _close_quietly(self, producer: AIOKafkaProducer) -> None:
        await close_quietly(producer, self.settings.connect_timeout, self._what("closing"))

    async def send_raw(self, key: bytes, value: bytes) -> Pending:
        """Queue an encoded record in the current batch; see :meth:`acknowledged`."""
        try:
            return await self.producer.send(self.topic, value=value, key=key)  # type: ignore[no-any-return]
        except KafkaError as exc:
            raise LogError(
                f"{self._what('appending to')}: {exc}", retriable=exc.retriable
            ) from None

    async def send(self, event: Event) -> Pending:
        """Encode and queue an event in the current batch; see :meth:`acknowledged`."""
        return await self.send_raw(event.key.encode(), self.codec.encode(event))

    async def acknowledged(self, pending: Sequence[Pending]) -> list[Appended]:
        """Where each sent record landed, once the brokers acknowledged them all.

        One bounded wait for the whole lot: a wait per record would cost more than
        encoding it.
        """
        metadata = await bounded(
            asyncio.gather(*pending), self.settings.request_timeout, self._what("appending to")
        )
        return [Appended(m.partition, m.offset) for m in metadata]

    async def append(self, event: Event) -> Appended:
        """Append one event and wait for its acknowledgement."""
        return (await self.acknowledged([await self.send(event)]))[0]

    async def append_many(self, events: Iterable[Event]) -> list[Appended]:
        """Append events in order (batched), and wait until all are acknowledged."""
        return await self.acknowledged([await self.send(event) for event in events])
