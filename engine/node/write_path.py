"""The write path: operator actions and configuration become events in the node's own site log.

A command never writes a projection row: it appends one event to the log of the
node's site, with ``target_site`` set to the site that owns the subject (looked up in
the node's projection), and returns the event and where it landed, so a caller can
wait until the projector has committed past it (read-your-writes). A remote node
refuses subjects outside its subset; configuration is authored on central only, and
pool configuration is checked against the pool rules (``engine.node.pool_rules``).
While the node no longer reads its own site's log (its projector stopped the site for an
error retrying cannot fix: the log went backwards or was replaced), every command is
refused with SiteStoppedError naming that error: an event appended there could never be
projected. Refused commands append nothing.

Every operator command (``engine.node.operator_commands``) takes one path: its
declaration checks the values, :meth:`WritePath.prepare` finds the subject and the site
owning it and builds the payload, and :meth:`WritePath.append` appends it. The API
checks its token's site on the prepared target in between.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from engine.errors import (
    CentralOnlyError,
    OutsideSubsetError,
    SiteStoppedError,
    UnknownSubjectError,
)
from engine.log.records import Appended
from engine.log.writer import SiteLogWriter
from engine.node import pool_rules
from engine.node.config import CENTRAL, NodeRole
from engine.node.metrics import NodeMetrics
from engine.node.operator_commands import OPERATOR_COMMANDS, OperatorCommand, Values
from projections import fold, lookup
from projections.quorum import pool_state
from projections.state import Changes, ProjectionState
from schemas import configuration
from schemas.configuration import HostRemoved, PollerRemoved, ServiceDefined, ServiceRemoved
from schemas.errors import InvalidEventError, SitelogError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.payload import HostScoped, Payload

Written = tuple[Event, Appended]

#: Configuration payloads: sites, pollers, hosts and services, and pools.
CONFIGURATION = (*configuration.PAYLOADS, *pool_rules.POOL_CONFIGURATION)


@dataclass(frozen=True)
class Prepared:
    """An operator command ready to append: its payload, and the site owning its subject."""

    command: str
    payload: HostScoped
    target_site: str


class WritePath:
    def __init__(
        self,
        *,
        origin: str,
        role: NodeRole,
        site: str,
        writer: SiteLogWriter,
        state: Callable[[], ProjectionState],
        clock: HybridLogicalClock | None = None,
        metrics: NodeMetrics | None = None,
        stopped: Callable[[], str | None] | None = None,
    ) -> None:
        """``stopped`` says why the node no longer reads its own site's log (None while it
        does): commands are refused meanwhile."""
        self.origin, self.role, self.site = origin, role, site
        self._writer = writer
        self._state = state
        self._stopped = stopped
        self._clock = clock or HybridLogicalClock()
        self._metrics = metrics if metrics is not None else NodeMetrics()

    @contextmanager
    def _counted(self, command: str, appended: int = 0) -> Iterator[None]:
        """Count what the block appends, or the error that refused or failed it."""
        try:
            yield
        except SitelogError as exc:
            self._metrics.append_errors.labels(command, type(exc).__name__).inc()
            raise
        if appended:
            self._metrics.appends.labels(command).inc(appended)

    def _check_reading(self) -> None:
        """Raise SiteStoppedError while the node no longer reads its own site's log."""
        why = self._stopped() if self._stopped is not None else None
        if why is not None:
            raise SiteStoppedError(
                f"site {self.site} is stopped on this node, nothing appended: {why}"
            )

    def prepare(self, command: OperatorCommand, values: Values) -> Prepared:
        """The payload of an operator command and the site owning its subject; appends nothing.

        Raises UnknownSubjectError for a subject this node does not know, and on a
        remote node OutsideSubsetError for one owned by another site.
        """
        with self._counted(command.name):
            state = self._state()  # one snapshot: the subject and its owner agree
            subject = command.subject(state, values)
            owner = self._owner(state, subject.host_name)
            return Prepared(command.name, command.build(values, subject), owner)

    async def append(self, prepared: Prepared) -> Written:
        """Append a prepared operator command to this node's site log."""
        event = Event.create(
            prepared.payload,
            site=self.site,
            origin=self.origin,
            clock=self._clock,
            target_site=prepared.target_site,
        )
        with self._counted(prepared.command, appended=1):
            self._check_reading()
            await self._writer.ensure_started()
            appended = await self._writer.append(event)
        return event, appended

    async def command(self, name: str, **given: Any) -> Written:
        """Run one operator command from keyword values: validate, prepare, append.

        ``write_path.command("acknowledge", host="web-1", author="alice")``
        """
        declared = OPERATOR_COMMANDS[name]
        return await self.append(self.prepare(declared, declared.values(given)))

    def _owner(self, state: ProjectionState, host_name: str) -> str:
        owner = lookup.host_site(state, host_name)
        if owner is None:
            raise UnknownSubjectError(f"unknown host {host_name!r}")
        if self.role is not NodeRole.CENTRAL and owner != self.site:
            raise OutsideSubsetError(
                f"host {host_name!r} belongs to site {owner!r}; this node serves {self.site!r}"
            )
        return owner

    async def configure(self, payload: Payload) -> Written:
        """Append a configuration event (central only), targeted at the site it concerns."""
        return (await self.configure_many([payload]))[0]

    async def configure_many(
        self, payloads: list[Payload], *, initialising: bool = False
    ) -> list[Written]:
        """Append configuration events in order, waiting once for all acknowledgements.

        Pool commands are checked in order against the pool registers as they will be
        once the earlier commands of the same call are folded, so one call may register
        a server and then add it to a pool. ``initialising`` lets central create the
        builtin pools.
        """
        with self._counted("configuration"):
            events = self._configuration_events(payloads, initialising)
        with self._counted("configuration", appended=len(events)):
            self._check_reading()
            await self._writer.ensure_started()
            appended = await self._writer.append_many(events)
        return list(zip(events, appended, strict=True))

    def _configuration_events(self, payloads: list[Payload], initialising: bool) -> list[Event]:
        if self.role is not NodeRole.CENTRAL:
            raise CentralOnlyError("configuration is authored on central only")
        events = []
        pools: ProjectionState | None = None
        for payload in payloads:
            if not isinstance(payload, CONFIGURATION):
                raise InvalidEventError(f"{type(payload).__name__} is not a configuration event")
            event = Event.create(
                payload,
                site=self.site,
                origin=self.origin,
                clock=self._clock,
                target_site=self._config_owner(payload),
            )
            if isinstance(payload, pool_rules.POOL_CONFIGURATION):
                if pools is None:
                    pools = pool_state(self._state())
                pool_rules.check(pools, payload, initialising=initialising)
                fold.apply(pools, event, Changes())
            events.append(event)
        return events

    def _config_owner(self, payload: Payload) -> str:
        state = self._state()
        owner = payload.owner_site()
        if owner is None and isinstance(payload, (HostRemoved, ServiceDefined, ServiceRemoved)):
            owner = lookup.host_site(state, payload.host_name)
        if owner is None and isinstance(payload, PollerRemoved):
            owner = lookup.poller_site(state, payload.poller_name)
        return owner or CENTRAL
