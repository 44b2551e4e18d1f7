"""The projector: follows site logs and keeps a PostgreSQL projection of them.

One reader task per followed site decodes batches into a bounded queue, so memory
stays bounded when PostgreSQL is slower than the logs (the readers wait). One
applier folds what is queued into the in-memory state and writes the rows, the
dead letters and the consumed offsets in one transaction (effectively-once). The
write runs in a worker thread, so the readers keep fetching and decoding meanwhile.

On start, the register rows are loaded back into memory and every partition is read
from its stored offset. Faults are handled by their policy (``retriable``, see
``schemas.errors``):

- a site whose brokers are away shows as disconnected and is retried with capped
  backoff; one whose log went backwards, was replaced by another (the last event
  consumed per partition and the topic id are stored with the offsets and checked
  against the log: ``engine.node.site_identity``), or lost offsets to retention, stops
  alone with its error in the status; the projection is untouched;
- PostgreSQL unavailable while writing: nothing is committed, so no Kafka position
  moves; the database shows as unavailable (``/healthz``, ``/metrics``) and is retried
  with the same backoff; once it answers again the projector loads the projection back
  and resumes every site from the offsets PostgreSQL holds, so a batch whose commit
  was cut off is neither lost nor applied twice;
- any other error stops the applier: the status says so and the node stays up to
  answer reads and probes.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping

from engine.errors import LogReplacedError, LogWentBackwardsError
from engine.log.identity import LogIdentity, Mark
from engine.log.kafka import KafkaSettings
from engine.log.reader import SiteLogReader, read_log_offsets
from engine.log.records import ReadBatch
from engine.node.metrics import NodeMetrics
from engine.node.site_identity import SiteIdentity
from engine.node.site_status import DatabaseState, DatabaseStatus, SiteState, SiteStatus
from projections.errors import DatabaseError, ProjectionReplacedError
from projections.fold import fold_batch
from projections.postgres import PostgresSink
from projections.state import Changes, ProjectionState
from projections.tables import OFFSETS
from schemas.errors import SitelogError
from schemas.event import Event

__all__ = ["PROBE_INTERVAL", "RETRY_CAP", "RETRY_FIRST", "Projector"]

log = logging.getLogger(__name__)

#: Reconnection backoff of an unreachable site or database, doubling up to the cap (seconds).
RETRY_FIRST, RETRY_CAP = 0.5, 30.0
#: How often each site's log ends are asked for, and how long an answer may take (seconds).
PROBE_INTERVAL, PROBE_TIMEOUT = 2.0, 5.0


class Projector:
    """Keeps one PostgreSQL schema equal to the fold of the followed site logs."""

    def __init__(
        self,
        dsn: str,
        sites: Mapping[str, KafkaSettings],
        *,
        schema: str = "sitelog",
        accept: Callable[[Event], bool] | None = None,
        max_batch_events: int = 20_000,
        queue_batches: int = 8,
        metrics: NodeMetrics | None = None,
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.sites = dict(sites)
        self._accept = accept
        self._max_batch_events = max_batch_events
        self._queue: asyncio.Queue[ReadBatch] = asyncio.Queue(maxsize=queue_batches)
        self._status = {site: SiteStatus(site) for site in self.sites}
        self._identity = {site: SiteIdentity(site) for site in self.sites}
        self._state = ProjectionState()
        self._sink: PostgresSink | None = None
        self._readers: dict[str, SiteLogReader] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._site_tasks: list[asyncio.Task[None]] = []
        self._progress = asyncio.Event()
        self._failure: BaseException | None = None
        self._listeners: list[Callable[[Changes], None]] = []
        self.metrics = metrics if metrics is not None else NodeMetrics()
        self.database = DatabaseStatus()
        # Bumped whenever the site tasks are stopped, so a task whose cancellation was
        # swallowed still sees it is stopped and ends: stop() must never hang on gather.
        # (In Python 3.11, asyncio.wait_for, which aiokafka uses inside, returns a result
        # instead of raising when a cancellation races the completion.)
        self._sites_generation = 0
        self._stopping = False

    @property
    def status(self) -> dict[str, SiteStatus]:
        return self._status

    @property
    def failure(self) -> BaseException | None:
        """The error that stopped the applier for good, if one did."""
        return self._failure

    @property
    def queued_batches(self) -> int:
        """Batches read and decoded, waiting to be folded and written."""
        return self._queue.qsize()

    @property
    def state(self) -> ProjectionState:
        """The fold's in-memory registers (read them, never change them)."""
        return self._state

    def add_listener(self, listener: Callable[[Changes], None]) -> None:
        """Call ``listener`` with each batch's row changes once they are committed."""
        self._listeners.append(listener)

    def remove_listener(self, listener: Callable[[Changes], None]) -> None:
        self._listeners.remove(listener)

    def committed(self, site: str, partition: int) -> int:
        """The next offset of a partition that is not yet in PostgreSQL."""
        return self._status[site].committed.get(partition, 0)

    async def start(self) -> None:
        """Load the projection back and start following every site; returns at once.

        A site whose brokers cannot be reached does not hold the others up: it shows as
        disconnected and is retried with capped backoff.
        """
        self._sink = await asyncio.to_thread(PostgresSink.connect, self.dsn, self.schema)
        await asyncio.to_thread(self._sink.create_tables)
        await self._load()
        self._tasks.append(asyncio.create_task(self._apply(), name="apply"))

    async def _load(self) -> None:
        """Load the projection (registers, offsets, generation) and follow every site from it."""
        assert self._sink is not None
        sink = self._sink
        registers, rows, _ = await asyncio.to_thread(
            lambda: (sink.load_registers(), sink.load_offset_rows(), sink.load_generation())
        )
        self._state = ProjectionState.from_rows(registers)
        generation = self._sites_generation
        for site in self.sites:
            stored = [row for row in rows if row.site == site]
            self._status[site].committed = {row.partition: row.next_offset for row in stored}
            self._identity[site].load(stored)
            self._site_tasks += [
                asyncio.create_task(self._follow(site, generation), name=f"follow {site}"),
                asyncio.create_task(self._probe(site, generation), name=f"probe {site}"),
            ]

    async def _reload(self) -> None:
        """Start over from what PostgreSQL holds: registers, offsets, generation."""
        await self._stop_sites()
        while not self._queue.empty():  # batches read from offsets no longer the stored ones
            self._queue.get_nowait()
        await self._load()

    async def _reconnect(self, fault: SitelogError) -> None:
        """Wait out a transient database fault, then load the projection back and resume.

        Nothing of the failed batch counts: its offsets were not committed, so reading
        resumes from the offsets PostgreSQL holds, whether the cut-off commit happened
        or not. Raises the first error that retrying cannot fix.
        """
        self.metrics.database_faults.labels(type(fault).__name__).inc()
        if self.database.lost(str(fault)):
            log.warning("PostgreSQL unavailable, holding every site's position: %s", fault)
        delay = RETRY_FIRST
        while True:
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_CAP)
            try:
                sink = await asyncio.to_thread(PostgresSink.connect, self.dsn, self.schema)
                old, self._sink = self._sink, sink
                if old is not None:
                    await asyncio.to_thread(old.close)
                await self._reload()
            except SitelogError as exc:
                if not exc.retriable:
                    raise
                self.database.lost(str(exc))
                continue
            lasted = self.database.back()
            log.warning(
                "PostgreSQL available again after %.1fs: resuming from the stored offsets", lasted
            )
            self._progress.set()
            return

    def _sites_stopped(self, generation: int) -> bool:
        return generation != self._sites_generation

    def _fail(self, site: str, exc: SitelogError) -> None:
        """Stop following ``site`` for good (an error retrying cannot fix)."""
        status = self._status[site]
        status.state, status.error = SiteState.FAILED, str(exc)
        log.error("site %s stopped: %s", site, exc)
        self._progress.set()

    async def _follow(self, site: str, generation: int) -> None:
        """Read one site for as long as the projector runs, reconnecting when it goes away.

        Each connection first checks that the log is the one the stored marks were read
        from, and each read is checked again before its batches are queued
        (``engine.node.site_identity``).
        """
        status = self._status[site]
        identity = self._identity[site]
        positions = dict(status.committed)
        delay = RETRY_FIRST
        while not self._sites_stopped(generation):
            reader = SiteLogReader(site, self.sites[site])
            log_identity = LogIdentity(site, self.sites[site], codec=reader.codec)
            try:
                await reader.start()
                await log_identity.start()
                await identity.check(log_identity)
                await reader.assign(positions)
                self._readers[site] = reader
                status.partitions = tuple(reader.partitions)
                status.state, status.error, delay = SiteState.RUNNING, None, RETRY_FIRST
                while not self._sites_stopped(generation):
                    if status.state is SiteState.FAILED:  # a probe found another log
                        return
                    batches = await reader.read(timeout=0.5)
                    if batches:
                        await identity.check_read(log_identity, batches)
                    for batch in batches:
                        await self._queue.put(batch)
                    positions = reader.positions
                    for partition in reader.partitions:
                        end = reader.high_watermark(partition)
                        if end is not None:
                            status.log_end[partition] = max(end, status.log_end.get(partition, 0))
                    status.settle()
                    self._progress.set()
            except SitelogError as exc:
                if not exc.retriable:
                    self._fail(site, exc)
                    return
                status.disconnected(str(exc))
                self._progress.set()
                log.warning("site %s: %s; retrying in %.1fs", site, exc, delay)
            finally:
                self._readers.pop(site, None)
                await reader.stop()
                await log_identity.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_CAP)

    async def _probe(self, site: str, generation: int) -> None:
        """Ask the site's brokers for their log ends now and then: connectivity and lag;
        and check that the log is still the one read (``engine.node.site_identity``).

        aiokafka reconnects silently, so a reader of an unreachable site just reads
        nothing; the probe is what notices, and what tells the lag while it is away.
        """
        status = self._status[site]
        settings = dataclasses.replace(
            self.sites[site], connect_timeout=min(PROBE_TIMEOUT, self.sites[site].connect_timeout)
        )
        while not self._sites_stopped(generation):
            await asyncio.sleep(PROBE_INTERVAL)
            reader = self._readers.get(site)
            if reader is None or status.state is SiteState.FAILED:
                continue
            try:
                offsets = await read_log_offsets(settings, reader.topic, reader.partitions)
                async with LogIdentity(site, settings, codec=reader.codec) as log_identity:
                    await self._identity[site].check(log_identity)
            except (LogReplacedError, LogWentBackwardsError) as exc:
                self._fail(site, exc)
                continue
            except SitelogError as exc:
                # Otherwise the reader decides what is fatal; the probe tells connectivity.
                if status.state is SiteState.RUNNING:
                    status.disconnected(str(exc))
                    log.warning("site %s: %s", site, exc)
                    self._progress.set()
                continue
            for partition, bounds in offsets.items():
                status.log_end[partition] = bounds.end
            status.ends_fresh = True
            if status.state is SiteState.DISCONNECTED:
                log.warning("site %s is reachable again", site)
                status.state, status.error = SiteState.RUNNING, None
            status.settle()
            self._progress.set()

    async def _apply(self) -> None:
        try:
            while not self._stopping:
                batches = await self._take()
                started = time.perf_counter()
                changes = self._fold(batches)
                folded = time.perf_counter()
                self.metrics.fold_seconds.observe(folded - started)
                try:
                    await self._write(changes)
                except SitelogError as exc:
                    await self._recover(exc)
                    continue
                self.metrics.write_seconds.observe(time.perf_counter() - folded)
                self.metrics.batch_events.observe(
                    sum(len(b.events) + len(b.dead_letters) for b in batches)
                )
                self._committed(batches, changes)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:
            self._failure = exc
            if isinstance(exc, DatabaseError):
                self.database.failed(str(exc))
            log.error("projection %s stopped: %s", self.schema, exc)
            self._progress.set()

    async def _recover(self, fault: SitelogError) -> None:
        """After a refused write: load a replaced projection back, or wait out a transient
        database fault; raise what retrying cannot fix."""
        if isinstance(fault, ProjectionReplacedError):
            log.warning("projection %s was replaced: loading it back", self.schema)
            try:
                await self._reload()
                return
            except SitelogError as exc:
                fault = exc  # the database went away while loading
        if not fault.retriable:
            raise fault
        await self._reconnect(fault)

    async def _take(self) -> list[ReadBatch]:
        """The next batches to write together, up to ``max_batch_events`` events."""
        batches = [await self._queue.get()]
        count = len(batches[0].events)
        while count < self._max_batch_events and not self._queue.empty():
            batches.append(self._queue.get_nowait())
            count += len(batches[-1].events)
        return batches

    async def _write(self, changes: Changes) -> None:
        if self._sink is None:
            raise ProjectionReplacedError(f"projection {self.schema} has no connection")
        sink = self._sink
        dropped = sink.series.dropped_points
        await asyncio.to_thread(sink.write, changes)
        if sink.series.dropped_points > dropped:
            self.metrics.points_dropped.inc(sink.series.dropped_points - dropped)

    def _committed(self, batches: list[ReadBatch], changes: Changes) -> None:
        for batch in batches:
            status = self._status[batch.site]
            status.committed[batch.partition] = batch.next_offset
            self._identity[batch.site].commit(batch)
            status.events += len(batch.events)
            status.dead_letters += len(batch.dead_letters)
            status.settle()
        for listener in self._listeners:
            try:
                listener(changes)
            except Exception:  # a listener's bug must not stop the projection
                log.exception("change listener %r failed", listener)
        self._progress.set()

    def _fold(self, batches: list[ReadBatch]) -> Changes:
        changes = Changes()
        folded: dict[str, dict[int, Mark]] = {}
        for batch in batches:
            status = self._status[batch.site]
            last_event_time = fold_batch(
                self._state,
                batch.events,
                (letter.row() for letter in batch.dead_letters),
                changes,
                self._accept,
            )
            if last_event_time is not None:
                status.last_event_time = last_event_time
            row = self._identity[batch.site].offset_row(
                batch, status.last_event_time, folded.setdefault(batch.site, {})
            )
            changes.put(OFFSETS, (batch.site, batch.partition), row)
        return changes

    def site_caught_up(self, site: str) -> bool:
        """``site`` is running and has committed up to the last known log end of every
        partition (an unknown log end is not caught up)."""
        status = self._status.get(site)
        return status is not None and status.caught_up

    def caught_up(self) -> bool:
        """Every site that has not failed has committed up to its last known log end."""
        return self.database.state is DatabaseState.AVAILABLE and all(
            status.state is SiteState.FAILED or status.caught_up for status in self._status.values()
        )

    async def wait_caught_up(self, timeout: float) -> bool:
        """Wait until caught up with the log ends of the last fetches (True), or ``timeout``.

        Right after a write, the last fetch may predate it: to see one's own write, wait
        for its position with :meth:`wait_for`.
        """
        return await self._wait(self.caught_up, timeout)

    async def wait_for(self, site: str, partition: int, offset: int, timeout: float) -> bool:
        """Wait until the record at ``offset`` is committed in PostgreSQL (read-your-writes)."""
        return await self._wait(lambda: self.committed(site, partition) > offset, timeout)

    async def wait_until(self, condition: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``condition()`` holds (True), checked at each commit, or ``timeout``."""
        return await self._wait(condition, timeout)

    async def _wait(self, condition: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not condition():
            if self._failure is not None:
                raise self._failure
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._progress.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._progress.wait(), min(remaining, 1.0))
        return True

    async def _stop_sites(self) -> None:
        self._sites_generation += 1
        for task in self._site_tasks:
            task.cancel()
        await asyncio.gather(*self._site_tasks, return_exceptions=True)
        self._site_tasks.clear()
        for reader in self._readers.values():  # the follow tasks stop theirs as they end
            await reader.stop()
        self._readers.clear()

    async def stop(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._stop_sites()
        for status in self._status.values():
            if status.state is not SiteState.FAILED:
                status.state = SiteState.STOPPED
        if self._sink is not None:
            await asyncio.to_thread(self._sink.close)
            self._sink = None
