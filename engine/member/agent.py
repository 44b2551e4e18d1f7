"""The pool member agent: a server's leases, and the workflows it should run right now.

A :class:`PoolMember` runs beside a real workflow host (a management or gateway
server). It follows central's log, where pools are configured and leases are
appended, folding the pool events with the projection's own fold into memory; it
renews its lease in every pool it belongs to at the lease request period; and it
evaluates, as of now, which of each pool's targets it owns, reporting every change.

It needs neither PostgreSQL nor a node: two members that read the same log agree on
every assignment for the same instant. A member that cannot renew (its broker is
unreachable) or cannot read sees its own lease expire in its own view and so gives
up its targets: it fences itself. A clean stop gives the leases back at once
(``MemberStopped``), so its targets move without waiting for expiry; a crash moves
them when the lease expires.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from engine.lifecycle import Service
from engine.log.kafka import KafkaSettings
from engine.log.reader import SiteLogReader
from engine.log.records import ReadBatch
from engine.log.writer import SiteLogWriter
from engine.node.config import CENTRAL
from projections import fold
from projections.pools import POOL_PAYLOADS
from projections.quorum import pool_state, pools_of, statuses
from projections.state import Changes, ProjectionState
from projections.tables import POOL_SERVERS
from schemas.errors import SitelogError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.payload import Payload
from schemas.pools import Lease, MemberStopped, ServerRegistered, TrustAnchorsReported
from schemas.types import MICROS_PER_SECOND, ServerRole, now_us

log = logging.getLogger(__name__)

Assignment = dict[str, Any]


@dataclass(frozen=True)
class MemberSettings:
    server: str
    kafka: KafkaSettings  # central's log
    #: Register the server with this role on start (None: it must be registered already).
    role: ServerRole | None = None
    site_name: str = ""
    lease_request_period: float = 130.0  # seconds (SCOM's default)
    network_latency: float = 30.0  # seconds: a lease lasts period + 2 x latency
    #: Root certificate fingerprints to report (None: report nothing).
    trust_anchors: tuple[str, ...] | None = None


class PoolMember(Service):
    def __init__(
        self,
        settings: MemberSettings,
        *,
        on_change: Callable[[Assignment], None] | None = None,
    ) -> None:
        self.settings = settings
        self.state: ProjectionState = pool_state(ProjectionState())
        self._on_change = on_change
        self._writer = SiteLogWriter(CENTRAL, settings.kafka)
        self._reader = SiteLogReader(CENTRAL, settings.kafka)
        self._clock = HybridLogicalClock()
        self._leased: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self._reported: dict[str, Any] | None = None
        #: The error that stopped the member for good (its log went backwards, ...).
        self.failure: SitelogError | None = None
        #: Set when ``failure`` is: whoever runs the member stops it then.
        self.failed = asyncio.Event()
        # Checked by every loop: a cancellation aiokafka's asyncio.wait_for swallowed (3.11)
        # must not keep a loop, and so stop(), going for ever.
        self._stopping = False

    @property
    def tick(self) -> float:
        """How often the assignment is re-evaluated: leases expire without any event."""
        return min(1.0, self.settings.lease_request_period / 4)

    async def start(self) -> None:
        try:
            await self._writer.start()
            await self._reader.start()
            await self._reader.assign()
            await self._catch_up()
            await self._announce()
            await self.renew()
        except BaseException:
            await self._reader.stop()
            await self._writer.stop()
            raise
        self._evaluate()
        self._tasks = [
            asyncio.create_task(self._follow(), name="pool-member-follow"),
            asyncio.create_task(self._renew_forever(), name="pool-member-leases"),
            asyncio.create_task(self._evaluate_forever(), name="pool-member-evaluate"),
        ]

    async def stop(self, *, give_back: bool = True) -> None:
        """Stop; with ``give_back``, end the leases now so the targets move at once."""
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        try:
            if give_back and self._leased:
                await self._append(
                    [
                        MemberStopped(pool_name=p, server_name=self.settings.server)
                        for p in sorted(self._leased)
                    ]
                )
        finally:
            await self._reader.stop()
            await self._writer.stop()

    def _apply(self, batches: list[ReadBatch]) -> None:
        changes = Changes()
        for batch in batches:
            for _, event in batch.events:
                if isinstance(event.payload, POOL_PAYLOADS):
                    fold.apply(self.state, event, changes)
            for letter in batch.dead_letters:
                # The nodes keep dead letters; a member only says it skipped one.
                log.warning("skipping an undecodable record: %s", letter)

    async def _catch_up(self) -> None:
        ends = {p: o.end for p, o in (await self._reader.log_offsets()).items()}
        while any(self._reader.positions.get(p, 0) < end for p, end in ends.items()):
            self._apply(await self._reader.read(timeout=1.0))

    async def _announce(self) -> None:
        """Register the server and report its trust anchors, when the log does not say so yet."""
        s = self.settings
        payloads: list[Payload] = []
        row = self.state.get(POOL_SERVERS, (s.server,))
        if s.role is not None and (
            row is None or (row.role, row.site_name) != (s.role.value, s.site_name)
        ):
            payloads.append(
                ServerRegistered(server_name=s.server, role=s.role, site_name=s.site_name)
            )
        anchors = None if s.trust_anchors is None else sorted(set(s.trust_anchors))
        if anchors is not None and (row is None or row.trust_anchors != anchors):
            payloads.append(TrustAnchorsReported(server_name=s.server, fingerprints=tuple(anchors)))
        if payloads:
            await self._append(payloads)

    async def renew(self) -> list[str]:
        """Append a lease in every pool the server belongs to; return those pools."""
        pools = pools_of(self.state, self.settings.server)
        if pools:
            period = int(self.settings.lease_request_period * MICROS_PER_SECOND)
            latency = int(self.settings.network_latency * MICROS_PER_SECOND)
            await self._append(
                [
                    Lease(
                        pool_name=pool,
                        server_name=self.settings.server,
                        lease_request_period=period,
                        network_latency=latency,
                    )
                    for pool in pools
                ]
            )
            self._leased.update(pools)
        return pools

    async def _append(self, payloads: list[Payload]) -> None:
        events = [
            Event.create(p, site=CENTRAL, origin=self.settings.server, clock=self._clock)
            for p in payloads
        ]
        await self._writer.append_many(events)

    async def _follow(self) -> None:
        while not self._stopping:
            try:
                self._apply(await self._reader.read(timeout=self.tick))
            except SitelogError as exc:
                if not exc.retriable:
                    self._fail(exc, "reading central's log")
                    return
                log.warning("reading central's log: %s", exc)
                await asyncio.sleep(self.tick)
            self._evaluate()

    async def _renew_forever(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.settings.lease_request_period)
            try:
                await self.renew()
            except SitelogError as exc:
                if not exc.retriable:
                    self._fail(exc, "renewing leases")
                    return
                # Not renewed: the lease expires in everybody's view, ours included.
                log.warning("renewing leases: %s", exc)

    def _fail(self, exc: SitelogError, doing: str) -> None:
        """Stop for good: a member that cannot follow must not go on renewing its leases."""
        log.error("pool member %s stopped %s: %s", self.settings.server, doing, exc)
        self.failure = exc
        self.failed.set()
        current = asyncio.current_task()
        for task in self._tasks:
            if task is not current:
                task.cancel()

    async def _evaluate_forever(self) -> None:
        while not self._stopping:
            await asyncio.sleep(self.tick)
            self._evaluate()

    def assignment(self, at: int | None = None) -> Assignment:
        """What this server runs as of ``at`` (default now), pool by pool."""
        at = now_us() if at is None else at
        server = self.settings.server
        pools = {}
        for pool in statuses(self.state, at):
            mine = next((v for v in pool.voters if v.server_name == server), None)
            if mine is None:
                continue
            pools[pool.pool_name] = {
                "available": mine.available,
                "observer": mine.observer,
                "has_quorum": pool.has_quorum,
                "votes": pool.vote_count,
                "available_votes": pool.available_votes,
                "quorum": pool.quorum,
                "reason": pool.reason,
                "missing_roots": list(mine.missing_roots),
                "targets": sorted(t for t, owner in pool.owners.items() if owner == server),
            }
        return {"server": server, "at": at, "pools": pools}

    def _evaluate(self) -> None:
        current = self.assignment()
        if current["pools"] != self._reported:
            self._reported = current["pools"]
            if self._on_change is not None:
                self._on_change(current)
