"""Central's part in resource pools: the default pools, and the default observer's vote.

When a central node has caught up with central's log and finds the three default
pools missing, it creates them (automatic membership, default observer enabled):
that is "central is initialised". Being a replay of the log, this is idempotent; two
central nodes racing both define the pools with the same content.

The default observer is SCOM's operations database voting in pools that have a
management server. Here it is central: while a central node runs, it appends a lease
for ``default-observer`` in every pool whose default observer is enabled, so the vote
is lost when central is down, and counted in event time like any member's.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging

from engine.log.writer import SiteLogWriter
from engine.node.config import CENTRAL
from engine.node.projector import Projector
from engine.node.write_path import WritePath
from projections.pools import DEFAULT_OBSERVER, DEFAULT_POOLS
from projections.quorum import pool_names
from projections.tables import POOLS
from schemas.errors import SitelogError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.payload import Payload
from schemas.pools import Lease, PoolDefined
from schemas.types import MICROS_PER_SECOND, MembershipMode

log = logging.getLogger(__name__)


class DefaultPools:
    def __init__(
        self,
        *,
        projector: Projector,
        write_path: WritePath,
        writer: SiteLogWriter,
        lease_request_period: float,
        network_latency: float,
    ) -> None:
        self._projector, self._write_path, self._writer = projector, write_path, writer
        self._period, self._latency = lease_request_period, network_latency
        self._clock = HybridLogicalClock()
        self._task: asyncio.Task[None] | None = None
        # A cancellation aiokafka's asyncio.wait_for swallowed (3.11) must not keep _run going.
        self._stopping = False

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="default-pools")

    async def stop(self) -> None:
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        initialised = False
        while not self._stopping:
            try:
                caught_up = functools.partial(self._projector.site_caught_up, CENTRAL)
                if not initialised and await self._projector.wait_until(caught_up, 5.0):
                    await self.ensure_default_pools()
                    initialised = True
                if initialised:
                    await self.cast_votes()
            except SitelogError as exc:
                log.warning("pools: %s", exc)
            await asyncio.sleep(self._period if initialised else 0.5)

    async def ensure_default_pools(self) -> list[str]:
        """Define the default pools missing from the projection; return their names."""
        state = self._projector.state
        missing = [name for name in DEFAULT_POOLS if name not in pool_names(state)]
        if missing:
            definitions: list[Payload] = [
                PoolDefined(
                    pool_name=name,
                    membership=MembershipMode.AUTOMATIC,
                    default_observer=True,
                    builtin=True,
                    description=DEFAULT_POOLS[name],
                )
                for name in missing
            ]
            written = await self._write_path.configure_many(definitions, initialising=True)
            log.info("created the default pools %s", ", ".join(missing))
            # Their default observer votes from the first lease on: wait for them to be folded.
            for _, appended in written:
                await self._projector.wait_for(CENTRAL, appended.partition, appended.offset, 30.0)
        return missing

    async def cast_votes(self) -> int:
        """Append the default observer's lease in every pool where it is enabled."""
        state = self._projector.state
        pools = [n for n in pool_names(state) if state.rows(POOLS)[(n,)].default_observer]
        if not pools:
            return 0
        events = [
            Event.create(
                Lease(
                    pool_name=name,
                    server_name=DEFAULT_OBSERVER,
                    lease_request_period=int(self._period * MICROS_PER_SECOND),
                    network_latency=int(self._latency * MICROS_PER_SECOND),
                ),
                site=CENTRAL,
                origin=self._write_path.origin,
                clock=self._clock,
            )
            for name in pools
        ]
        await self._writer.ensure_started()
        await self._writer.append_many(events)
        return len(events)
