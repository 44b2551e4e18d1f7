"""The projector: follows site logs and keeps a PostgreSQL projection of them.

One reader task per followed site decodes batches into a bounded queue, so memory
stays bounded when PostgreSQL is slower than the logs (the readers wait). One
applier folds what is queued into the in-memory state and writes the rows, the
dead letters and the consumed offsets in one transaction (effectively-once). The
write runs in a worker thread, so the readers keep fetching and decoding meanwhile.

On start, the register rows are loaded back into memory and every partition is read
from its stored offset. A site whose log went backwards, or lost offsets to
retention, stops alone with its error in the status; the projection is untouched.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from engine.errors import LogError, LogGapError, LogWentBackwardsError
from engine.log.kafka import KafkaSettings
from engine.log.reader import SiteLogReader, read_log_offsets
from engine.log.records import ReadBatch
from projections.errors import ProjectionReplacedError
from projections.fold import fold_batch
from projections.postgres import PostgresSink
from projections.rows import OffsetRow
from projections.state import Changes, ProjectionState
from schemas.event import Event

log = logging.getLogger(__name__)

#: Reconnection backoff of an unreachable site, doubling from the first to the cap (seconds).
RETRY_FIRST, RETRY_CAP = 0.5, 30.0
#: How often each site's log ends are asked for, and how long an answer may take (seconds).
PROBE_INTERVAL, PROBE_TIMEOUT = 2.0, 5.0


@dataclass
class SiteStatus:
    """What a node can say about one followed site."""

    site: str
    state: str = "connecting"  # connecting, running, disconnected, failed, stopped
    error: str | None = None
    #: Next offset to read per partition, as committed in PostgreSQL.
    committed: dict[int, int] = field(default_factory=dict)
    #: Log end per partition, as of the last fetch.
    log_end: dict[int, int] = field(default_factory=dict)
    dead_letters: int = 0
    events: int = 0
    last_event_time: int | None = None

    @property
    def lag(self) -> int:
        return sum(max(0, end - self.committed.get(p, 0)) for p, end in self.log_end.items())

    def summary(self) -> str:
        """One line for a person: state, events applied, lag, dead letters, error."""
        line = f"{self.site}: {self.state}, {self.events} events, lag {self.lag}"
        if self.dead_letters:
            line += f", {self.dead_letters} dead letters"
        if self.error:
            line += f" ({self.error})"
        return line


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
    ) -> None:
        self.dsn = dsn
        self.schema = schema
        self.sites = dict(sites)
        self._accept = accept
        self._max_batch_events = max_batch_events
        self._queue: asyncio.Queue[ReadBatch] = asyncio.Queue(maxsize=queue_batches)
        self._status = {site: SiteStatus(site) for site in self.sites}
        self._state = ProjectionState()
        self._sink: PostgresSink | None = None
        self._readers: dict[str, SiteLogReader] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._site_tasks: list[asyncio.Task[None]] = []
        self._progress = asyncio.Event()
        self._failure: BaseException | None = None
        self._listeners: list[Callable[[Changes], None]] = []

    @property
    def status(self) -> dict[str, SiteStatus]:
        return self._status

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
        registers, stored, _ = await asyncio.to_thread(
            lambda: (sink.load_registers(), sink.load_offsets(), sink.load_generation())
        )
        self._state = ProjectionState.from_rows(registers)
        for site in self.sites:
            self._status[site].committed = dict(stored.get(site, {}))
            self._site_tasks.append(asyncio.create_task(self._follow(site), name=f"follow {site}"))
            self._site_tasks.append(asyncio.create_task(self._probe(site), name=f"probe {site}"))

    async def _reload(self) -> None:
        """The projection was replaced under us (``sitelog replay --swap``): start over from it."""
        log.warning("projection %s was replaced: loading it back", self.schema)
        await self._stop_sites()
        while not self._queue.empty():  # batches read from the old projection's offsets
            self._queue.get_nowait()
        await self._load()

    async def _follow(self, site: str) -> None:
        """Read one site for as long as the projector runs, reconnecting when it goes away."""
        status = self._status[site]
        positions = dict(status.committed)
        delay = RETRY_FIRST
        while True:
            reader = SiteLogReader(site, self.sites[site])
            try:
                await reader.start()
                await reader.assign(positions)
                self._readers[site] = reader
                status.state, status.error, delay = "running", None, RETRY_FIRST
                while True:
                    for batch in await reader.read(timeout=0.5):
                        await self._queue.put(batch)
                    positions = reader.positions
                    for partition in reader.partitions:
                        end = reader.high_watermark(partition)
                        if end is not None:
                            status.log_end[partition] = max(end, status.log_end.get(partition, 0))
                    self._progress.set()
            except (LogWentBackwardsError, LogGapError) as exc:
                status.state, status.error = "failed", str(exc)
                log.error("%s", exc)
                self._progress.set()
                return
            except LogError as exc:
                status.state, status.error = "disconnected", str(exc)
                log.warning("site %s: %s; retrying in %.1fs", site, exc, delay)
                self._progress.set()
            finally:
                self._readers.pop(site, None)
                await reader.stop()
            await asyncio.sleep(delay)
            delay = min(delay * 2, RETRY_CAP)

    async def _probe(self, site: str) -> None:
        """Ask the site's brokers for their log ends now and then: connectivity and lag.

        aiokafka reconnects silently, so a reader of an unreachable site just reads
        nothing; the probe is what notices, and what tells the lag while it is away.
        """
        status = self._status[site]
        settings = dataclasses.replace(
            self.sites[site], connect_timeout=min(PROBE_TIMEOUT, self.sites[site].connect_timeout)
        )
        while True:
            await asyncio.sleep(PROBE_INTERVAL)
            reader = self._readers.get(site)
            if reader is None or status.state == "failed":
                continue
            try:
                offsets = await read_log_offsets(settings, reader.topic, reader.partitions)
            except LogError as exc:
                if status.state == "running":
                    status.state, status.error = "disconnected", str(exc)
                    log.warning("site %s: %s", site, exc)
                    self._progress.set()
                continue
            for partition, bounds in offsets.items():
                status.log_end[partition] = bounds.end
            if status.state == "disconnected":
                log.info("site %s is reachable again", site)
                status.state, status.error = "running", None
            self._progress.set()

    async def _apply(self) -> None:
        assert self._sink is not None
        try:
            while True:
                batches = [await self._queue.get()]
                count = len(batches[0].events)
                while count < self._max_batch_events and not self._queue.empty():
                    batches.append(self._queue.get_nowait())
                    count += len(batches[-1].events)
                changes = self._fold(batches)
                try:
                    await asyncio.to_thread(self._sink.write, changes)
                except ProjectionReplacedError:
                    await self._reload()
                    continue
                for batch in batches:
                    status = self._status[batch.site]
                    status.committed[batch.partition] = batch.next_offset
                    status.events += len(batch.events)
                    status.dead_letters += len(batch.dead_letters)
                for listener in self._listeners:
                    try:
                        listener(changes)
                    except Exception:  # a listener's bug must not stop the projection
                        log.exception("change listener %r failed", listener)
                self._progress.set()
        except BaseException as exc:
            if not isinstance(exc, asyncio.CancelledError):
                self._failure = exc
                self._progress.set()
            raise

    def _fold(self, batches: list[ReadBatch]) -> Changes:
        changes = Changes()
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
            changes.put(
                "offsets",
                (batch.site, batch.partition),
                OffsetRow(batch.site, batch.partition, batch.next_offset, status.last_event_time),
            )
        return changes

    def site_caught_up(self, site: str) -> bool:
        """``site`` is running and has committed up to its last known log end."""
        status = self._status.get(site)
        return (
            status is not None
            and status.state == "running"
            and bool(status.log_end)
            and not status.lag
        )

    def caught_up(self) -> bool:
        """Every site that has not failed has committed up to its last known log end."""
        return all(
            status.state == "failed" or self.site_caught_up(site)
            for site, status in self._status.items()
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
        for task in self._site_tasks:
            task.cancel()
        await asyncio.gather(*self._site_tasks, return_exceptions=True)
        self._site_tasks.clear()
        for reader in self._readers.values():  # the follow tasks stop theirs as they end
            await reader.stop()
        self._readers.clear()

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        await self._stop_sites()
        for status in self._status.values():
            if status.state != "failed":
                status.state = "stopped"
        if self._sink is not None:
            await asyncio.to_thread(self._sink.close)
            self._sink = None
