"""A running sitelog node: the projection of the logs it follows, and its write path.

A central node follows every site log and keeps everything; a remote node follows its
own site's log and central's, and keeps only the subjects its site owns. Both append
their operators' actions to their own site's log. A central node also creates the
default pools and casts the default observer's vote (``engine.node.default_pools``). The
HTTP API sits on top of :class:`Node`.
"""

from __future__ import annotations

import logging

from engine.errors import BrokerRefusedError, BrokerUnavailableError
from engine.lifecycle import Service
from engine.log.writer import SiteLogWriter
from engine.node.config import NodeConfig, NodeRole
from engine.node.default_pools import DefaultPools
from engine.node.maintenance import Maintenance
from engine.node.metrics import NodeMetrics
from engine.node.projector import Projector
from engine.node.site_status import SiteState, SiteStatus
from engine.node.write_path import WritePath
from schemas.event import Event

log = logging.getLogger(__name__)


class Node(Service):
    def __init__(self, config: NodeConfig, *, max_batch_events: int = 20_000) -> None:
        self.config = config
        self.metrics = NodeMetrics()
        self.projector = Projector(
            config.dsn,
            config.followed,
            schema=config.schema,
            accept=self._keeps,
            max_batch_events=max_batch_events,
            metrics=self.metrics,
        )
        # Partitions ahead and retention (docs/retention.md), on a connection of its own.
        self.maintenance = Maintenance(
            config.dsn,
            config.schema,
            config.retention,
            check_interval=config.retention_check_interval,
            registry=self.metrics.registry,
        )
        self.writer = SiteLogWriter(config.site, config.sites[config.site])
        self.write_path = WritePath(
            origin=config.name,
            role=config.role,
            site=config.site,
            writer=self.writer,
            state=lambda: self.projector.state,
            metrics=self.metrics,
            stopped=self._own_site_stopped,
        )
        self.default_pools = (
            DefaultPools(
                projector=self.projector,
                write_path=self.write_path,
                writer=self.writer,
                lease_request_period=config.lease_request_period,
                network_latency=config.network_latency,
            )
            if config.role is NodeRole.CENTRAL
            else None
        )

    def _keeps(self, event: Event) -> bool:
        return self.config.accepts(event.target_site)

    def _own_site_stopped(self) -> str | None:
        """Why the projector stopped reading this node's own site log, None while it reads."""
        status = self.projector.status.get(self.config.site)
        if status is None or status.state is not SiteState.FAILED:
            return None
        return status.error or "stopped"

    @property
    def status(self) -> dict[str, SiteStatus]:
        return self.projector.status

    async def start(self) -> None:
        await self.projector.start()  # creates the projection's tables maintenance keeps
        await self.maintenance.start()
        try:
            await self.writer.start()
        except BrokerUnavailableError as exc:
            # The node still serves what it has; commands retry the connection.
            log.warning("own site log not reachable yet: %s", exc)
        except BrokerRefusedError as exc:
            # A setting must change (certificate, password): the node still serves what it
            # has, its reader of that log fails the site in /healthz, commands say why.
            log.error("own site log refuses this node: %s", exc)
        if self.default_pools is not None:
            self.default_pools.start()

    async def stop(self) -> None:
        if self.default_pools is not None:
            await self.default_pools.stop()
        try:
            await self.writer.stop()
        except BrokerUnavailableError as exc:
            log.warning("%s", exc)
        await self.maintenance.stop()
        await self.projector.stop()
