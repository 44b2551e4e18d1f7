"""The poller-side producer: typed events in, site log out, through a durable spool.

``submit`` encodes events and writes them to the spool (``engine.poller.spool``); once it
returns they are accepted and survive a crash or a kill of the process. A sender task
reads the spool in order and delivers it to the site's brokers in rounds: each round
is grouped by partition (the same murmur2 partitioner as every other writer, so a
host's events keep one partition), sent through aiokafka's batch path, and
acknowledged in the spool only when every batch of the round is acknowledged with
``acks=all``. A failed round is sent again whole, so the log may hold a record twice
(consumers drop duplicates by event id) but never out of order: the first copy of
every record comes in spool order.

Where the brokers grant producer ids (``engine.log.kafka.grants_idempotence``, asked at
the first connection and said in one log line), the producer is idempotent: a batch
aiokafka retries after a cut connection carries the same producer id and sequence
numbers, so the brokers drop a copy they already hold. A round that is not acknowledged
in time is then not sent again (that would write new copies) but waited for: the same
producer goes on retrying it until the brokers answer. Only a round that fails outright
(the brokers forgot the producer, or a send could not even be queued) is sent again
whole, by a new producer: at least once, as everywhere else.

When the brokers are unreachable or slow the spool simply grows; the producer logs
once when the outage starts and once when it ends. At ``max_bytes`` the policy
applies: ``block`` (the default) holds ``submit`` until the brokers make room, so the
input waits and nothing accepted is lost; ``drop-oldest`` deletes the oldest spool
segment, logging how many results were lost, and keeps accepting.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from aiokafka import AIOKafkaProducer
from aiokafka import errors as kafka_errors
from aiokafka.partitioner import DefaultPartitioner

from engine.errors import BrokerUnavailableError, ConfigError, LogError
from engine.lifecycle import Service
from engine.log.kafka import KafkaSettings, bounded, ensure_topic, grants_idempotence
from engine.log.records import DEFAULT_PARTITIONS, topic_for
from engine.log.writer import close_quietly, producer_options
from engine.poller.spool import Record, Spool
from schemas.codec import Codec
from schemas.errors import SitelogError
from schemas.event import Event
from schemas.types import check_site_name

log = logging.getLogger(__name__)

WhenFull = Literal["block", "drop-oldest"]
WHEN_FULL: tuple[WhenFull, ...] = ("block", "drop-oldest")

_ROUND_BYTES = 4 * 1024 * 1024
_MAX_BACKOFF = 5.0
# The brokers no longer know the idempotent producer's session (its state expired or was
# deleted with old records, or another took its epoch): only a new producer can go on.
_SESSION_ENDED = (
    kafka_errors.OutOfOrderSequenceNumber,
    kafka_errors.UnknownProducerId,
    kafka_errors.InvalidProducerEpoch,
    kafka_errors.InvalidProducerIdMapping,
    kafka_errors.ProducerFenced,
)


@dataclass(frozen=True)
class SpoolSettings:
    """Where the spool lives and how big it may grow."""

    directory: Path
    max_bytes: int = 1024**3
    when_full: WhenFull = "block"
    #: fsync each accepted chunk: survives a machine crash, not only a process kill.
    fsync: bool = True

    def __post_init__(self) -> None:
        if self.when_full not in WHEN_FULL:
            raise ConfigError(f"spool when_full {self.when_full!r} is not one of {WHEN_FULL}")


@dataclass(frozen=True)
class ProducerStats:
    accepted: int
    acknowledged: int
    dropped: int
    pending: int
    spool_bytes: int
    connected: bool
    #: Delivery rounds that failed (then resent whole) since the producer started.
    failed_rounds: int = 0


class Producer(Service):
    """Accepts events into a spool and delivers them, in order, to one site's log."""

    def __init__(
        self,
        site: str,
        settings: KafkaSettings,
        spool: SpoolSettings,
        *,
        codec: Codec | None = None,
        partitions: int = DEFAULT_PARTITIONS,
        create_topic: bool = True,
    ) -> None:
        self.site = check_site_name(site)
        self.topic = topic_for(site)
        self.settings = settings
        self.spool_settings = spool
        self.codec = codec or Codec()
        self._spool = Spool(spool.directory, max_bytes=spool.max_bytes, fsync=spool.fsync)
        self._topic_partitions = partitions
        self._create_topic = create_topic
        self._client: AIOKafkaProducer | None = None
        self._partitions: list[int] = []
        self._partition_of: dict[bytes, int] = {}
        self._sender: asyncio.Task[None] | None = None
        self._has_pending = asyncio.Event()
        self._acknowledged_event = asyncio.Event()
        self._outage_since: float | None = None
        self.accepted = self.acknowledged = self.dropped = self.inherited = 0
        self.failed_rounds = 0
        #: Whether it produces idempotently; None until it first reached the brokers.
        self.idempotent: bool | None = None
        self._stopping = False

    @property
    def stats(self) -> ProducerStats:
        return ProducerStats(
            accepted=self.accepted,
            acknowledged=self.acknowledged,
            dropped=self.dropped,
            pending=self._spool.pending,
            spool_bytes=self._spool.used_bytes,
            connected=self._client is not None,
            failed_rounds=self.failed_rounds,
        )

    # -- life cycle ---------------------------------------------------------------------

    async def start(self) -> None:
        """Open the spool (resending what a previous run left) and start delivering."""
        self._spool.open()
        self.inherited = self._spool.pending
        if self.inherited:
            log.warning(
                "spool %s holds %d records from a previous run; they are sent first",
                self.spool_settings.directory,
                self._spool.pending,
            )
            self._has_pending.set()
        self._stopping = False
        self._sender = asyncio.create_task(self._deliver_forever(), name=f"producer {self.topic}")

    async def drain(self, timeout: float) -> bool:
        """Wait until the brokers acknowledged everything accepted; False if ``timeout`` passed."""
        deadline = time.monotonic() + timeout
        while self._spool.pending:
            self._check_sender()
            self._acknowledged_event.clear()
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self._acknowledged_event.wait(), min(left, 1.0))
            except TimeoutError:
                continue
        return True

    async def stop(self, drain_timeout: float = 0.0) -> int:
        """Stop delivering (after up to ``drain_timeout`` s of draining); returns records left."""
        if self._sender is None:
            return self._spool.pending
        if drain_timeout > 0:
            await self.drain(drain_timeout)
        self._stopping = True  # in case aiokafka's asyncio.wait_for swallows the cancel (3.11)
        self._sender.cancel()
        await asyncio.gather(self._sender, return_exceptions=True)
        self._sender = None
        await self._disconnect()
        self._spool.close()
        return self._spool.pending

    # -- accepting ----------------------------------------------------------------------

    async def submit(self, events: Iterable[Event]) -> int:
        """Encode and accept ``events`` as one chunk; InvalidEventError accepts none of them."""
        encode = self.codec.encode
        records = [(event.key.encode(), encode(event)) for event in events]
        await self.submit_records(records)
        return len(records)

    async def submit_records(self, records: Sequence[Record]) -> None:
        """Accept encoded records: when this returns they are on disk."""
        if not records:
            return
        self._check_sender()
        size = sum(len(key) + len(value) for key, value in records) + 16 * len(records)
        while not self._spool.fits(size):
            await self._make_room(size)
        self._spool.append(records)
        self.accepted += len(records)
        self._has_pending.set()

    async def _make_room(self, size: int) -> None:
        directory = self.spool_settings.directory
        if self.spool_settings.when_full == "drop-oldest":
            lost = self._spool.drop_oldest()
            if lost or self._spool.fits(size):
                self.dropped += lost
                log.error(
                    "spool %s reached %d bytes: dropped its oldest %d records (policy drop-oldest)",
                    directory,
                    self.spool_settings.max_bytes,
                    lost,
                )
                return
        log.warning(
            "spool %s reached %d bytes: holding the input until the brokers acknowledge",
            directory,
            self.spool_settings.max_bytes,
        )
        self._acknowledged_event.clear()
        while not self._spool.fits(size):
            self._check_sender()
            if not self._spool.pending:
                raise ConfigError(f"a chunk of {size} bytes does not fit in spool {directory}")
            try:
                await asyncio.wait_for(self._acknowledged_event.wait(), 1.0)
            except TimeoutError:
                continue
            self._acknowledged_event.clear()

    def _check_sender(self) -> None:
        if self._sender is None:
            raise LogError(f"producer for {self.topic} is not started")
        if self._sender.done() and not self._sender.cancelled():
            raise LogError(
                f"producer for {self.topic} stopped: {self._sender.exception()}", retriable=False
            )

    # -- delivering ---------------------------------------------------------------------

    async def _deliver_forever(self) -> None:
        backoff = 0.1
        while not self._stopping:
            if not self._spool.pending:
                self._has_pending.clear()
                await self._has_pending.wait()
            records, end = self._spool.read(self._spool.acked, _ROUND_BYTES)
            if not records:
                self._has_pending.clear()
                continue
            try:
                await self._deliver(records)
            except SitelogError as exc:
                if not exc.retriable:
                    raise  # the sender stops; submit() then says why (_check_sender)
                self.failed_rounds += 1
                self._on_outage(exc)
                await self._disconnect()
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, _MAX_BACKOFF)
                continue
            backoff = 0.1
            self._spool.acknowledge(end, len(records))
            self.acknowledged += len(records)
            self._acknowledged_event.set()
            self._on_recovery()

    async def _deliver(self, records: list[Record]) -> None:
        client = await self._connect()
        by_partition: dict[int, list[Record]] = {}
        for record in records:
            by_partition.setdefault(self._partition(record[0]), []).append(record)

        async def send_all() -> list[asyncio.Future[object]]:
            futures = []
            for partition, group in by_partition.items():
                batch = client.create_batch()
                for key, value in group:
                    if batch.append(key=key, value=value, timestamp=None) is None:
                        futures.append(
                            await client.send_batch(batch, self.topic, partition=partition)
                        )
                        batch = client.create_batch()
                        batch.append(key=key, value=value, timestamp=None)
                futures.append(await client.send_batch(batch, self.topic, partition=partition))
            return futures

        async def acknowledged(futures: list[asyncio.Future[object]]) -> None:
            try:
                await asyncio.gather(*futures)
            except _SESSION_ENDED as exc:  # a new producer resends the round: retriable
                raise LogError(
                    f"{self._what('appending to')}: the brokers ended the idempotent "
                    f"producer's session ({type(exc).__name__}); sending the round again"
                ) from None

        appending = self._what("appending to")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.settings.request_timeout
        # Queueing waits for metadata and for room in the producer's buffer: bounded too.
        futures = await bounded(send_all(), self.settings.request_timeout, appending)
        pending = asyncio.ensure_future(acknowledged(futures))
        try:
            while True:
                left = max(0.0, deadline - loop.time())
                try:
                    # shield: a wait that times out leaves the round to the producer.
                    await bounded(asyncio.shield(pending), left, appending)
                    return
                except BrokerUnavailableError as exc:
                    if not self.idempotent or pending.done() or self._stopping:
                        raise
                    # Resending would write new copies of what the brokers may hold;
                    # the idempotent producer retries the same batches until they answer.
                    self._on_outage(exc)
                    deadline = loop.time() + self.settings.request_timeout
        finally:
            if not pending.done():
                pending.cancel()

    def _partition(self, key: bytes) -> int:
        partition = self._partition_of.get(key)
        if partition is None:
            partition = DefaultPartitioner()(key, self._partitions, self._partitions)
            self._partition_of[key] = partition
        return partition

    async def _connect(self) -> AIOKafkaProducer:
        if self._client is not None:
            return self._client
        if self.idempotent is None:
            self.idempotent = await grants_idempotence(self.settings, self._what("connecting to"))
            log.info(
                "producer of %s: %s",
                self.topic,
                "idempotent (the brokers grant producer ids)"
                if self.idempotent
                else "at least once (the brokers give no producer id; "
                "events are deduplicated by id)",
            )
        options = producer_options(
            self.settings, idempotent=self.idempotent, max_batch_size=1024 * 1024
        )
        client = AIOKafkaProducer(**options)
        try:
            await bounded(
                client.start(),
                self.settings.connect_timeout,
                self._what("connecting to"),
                settings=self.settings,
            )
            if self._create_topic:
                await ensure_topic(self.settings, self.topic, self._topic_partitions)
            partitions = await bounded(
                client.partitions_for(self.topic),
                self.settings.connect_timeout,
                self._what("reading partitions of"),
            )
            if not partitions:
                raise LogError(f"{self._what('reading partitions of')}: the topic has none")
        except BaseException:
            await close_quietly(
                client, self.settings.connect_timeout, self._what("closing"), level=logging.DEBUG
            )
            raise
        if sorted(partitions) != self._partitions:
            self._partitions = sorted(partitions)
            self._partition_of.clear()
        self._client = client
        return client

    async def _disconnect(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await close_quietly(
                client, self.settings.connect_timeout, self._what("closing"), level=logging.DEBUG
            )

    def _on_outage(self, exc: SitelogError) -> None:
        if self._outage_since is None:
            self._outage_since = time.monotonic()
            log.warning(
                "%s; spooling to %s (%d records waiting)",
                exc,
                self.spool_settings.directory,
                self._spool.pending,
            )

    def _on_recovery(self) -> None:
        if self._outage_since is not None:
            log.warning(
                "%s reachable again after %.1fs; sending %d spooled records",
                self.topic,
                time.monotonic() - self._outage_since,
                self._spool.pending,
            )
            self._outage_since = None

    def _what(self, action: str) -> str:
        return f"{action} site log {self.topic} on {self.settings.bootstrap_servers}"
