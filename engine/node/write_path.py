"""The write path: operator actions and configuration become events in the node's own site log.

A command never writes a projection row: it appends one event to the log of the
node's site, with ``target_site`` set to the site that owns the subject (looked up in
the node's projection), and returns the event and where it landed, so a caller can
wait until the projector has committed past it (read-your-writes). A remote node
refuses subjects outside its subset; configuration is authored on central only, and
pool configuration is checked against the pool rules (``engine.node.pool_rules``).
Refused commands append nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from engine.errors import CentralOnlyError, OutsideSubsetError, UnknownSubjectError
from engine.log.records import Appended
from engine.log.writer import SiteLogWriter
from engine.node import pool_rules
from engine.node.config import CENTRAL, NodeRole
from projections import fold, lookup
from projections.quorum import pool_state
from projections.state import Changes, ProjectionState
from schemas.configuration import (
    HostDefined,
    HostRemoved,
    PollerDefined,
    PollerRemoved,
    ServiceDefined,
    ServiceRemoved,
    SiteDefined,
    SiteRemoved,
)
from schemas.errors import InvalidEventError
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.operations import (
    AcknowledgementRemoved,
    AcknowledgementSet,
    CheckRescheduled,
    CommentAdded,
    CommentDeleted,
    DowntimeCancelled,
    DowntimeScheduled,
)
from schemas.payload import Payload

Written = tuple[Event, Appended]

#: Configuration payloads.
CONFIGURATION = (
    SiteDefined,
    SiteRemoved,
    PollerDefined,
    PollerRemoved,
    HostDefined,
    HostRemoved,
    ServiceDefined,
    ServiceRemoved,
    *pool_rules.POOL_CONFIGURATION,
)


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
    ) -> None:
        self.origin, self.role, self.site = origin, role, site
        self._writer = writer
        self._state = state
        self._clock = clock or HybridLogicalClock()

    def _owner(self, host_name: str) -> str:
        owner = lookup.host_site(self._state(), host_name)
        if owner is None:
            raise UnknownSubjectError(f"unknown host {host_name!r}")
        if self.role is not NodeRole.CENTRAL and owner != self.site:
            raise OutsideSubsetError(
                f"host {host_name!r} belongs to site {owner!r}; this node serves {self.site!r}"
            )
        return owner

    async def _append(self, payload: Payload, target_site: str) -> Written:
        event = Event.create(
            payload, site=self.site, origin=self.origin, clock=self._clock, target_site=target_site
        )
        await self._writer.ensure_started()
        return event, await self._writer.append(event)

    async def acknowledge(
        self,
        host: str,
        service: str | None = None,
        *,
        author: str,
        comment: str = "",
        sticky: bool = False,
        notify: bool = True,
        persistent: bool = False,
        expire_time: int | None = None,
    ) -> Written:
        _require(author, "author")
        return await self._append(
            AcknowledgementSet(
                host_name=host,
                service_description=service,
                sticky=sticky,
                notify=notify,
                persistent=persistent,
                author=author,
                comment=comment,
                expire_time=expire_time,
            ),
            self._owner(host),
        )

    async def remove_acknowledgement(
        self, host: str, service: str | None = None, *, author: str
    ) -> Written:
        return await self._append(
            AcknowledgementRemoved(host_name=host, service_description=service, author=author),
            self._owner(host),
        )

    async def schedule_downtime(
        self,
        host: str,
        service: str | None = None,
        *,
        author: str,
        start_time: int,
        end_time: int,
        fixed: bool = True,
        duration: int = 0,
        with_services: bool = False,
        comment: str = "",
    ) -> Written:
        _require(author, "author")
        if end_time <= start_time:
            raise InvalidEventError("end_time must be after start_time")
        if not fixed and duration <= 0:
            raise InvalidEventError("a flexible downtime needs a positive duration")
        return await self._append(
            DowntimeScheduled(
                downtime_id=str(uuid.uuid4()),
                host_name=host,
                service_description=service,
                fixed=fixed,
                start_time=start_time,
                end_time=end_time,
                duration=duration,
                with_services=with_services,
                author=author,
                comment=comment,
            ),
            self._owner(host),
        )

    async def cancel_downtime(self, downtime_id: str, *, author: str) -> Written:
        row = lookup.downtime(self._state(), downtime_id)
        if row is None:
            raise UnknownSubjectError(f"unknown downtime {downtime_id!r}")
        return await self._append(
            DowntimeCancelled(
                downtime_id=downtime_id,
                host_name=row.host_name,
                service_description=row.service_description or None,
                author=author,
            ),
            self._owner(row.host_name),
        )

    async def add_comment(
        self,
        host: str,
        service: str | None = None,
        *,
        author: str,
        text: str,
        persistent: bool = True,
    ) -> Written:
        _require(author, "author")
        _require(text, "text")
        return await self._append(
            CommentAdded(
                comment_id=str(uuid.uuid4()),
                host_name=host,
                service_description=service,
                author=author,
                text=text,
                persistent=persistent,
            ),
            self._owner(host),
        )

    async def delete_comment(self, comment_id: str, *, author: str) -> Written:
        row = lookup.comment(self._state(), comment_id)
        if row is None:
            raise UnknownSubjectError(f"unknown comment {comment_id!r}")
        return await self._append(
            CommentDeleted(
                comment_id=comment_id,
                host_name=row.host_name,
                service_description=row.service_description or None,
                author=author,
            ),
            self._owner(row.host_name),
        )

    async def reschedule_check(
        self,
        host: str,
        service: str | None = None,
        *,
        author: str,
        next_check: int,
        forced: bool = False,
    ) -> Written:
        return await self._append(
            CheckRescheduled(
                host_name=host,
                service_description=service,
                next_check=next_check,
                forced=forced,
                author=author,
            ),
            self._owner(host),
        )

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
        await self._writer.ensure_started()
        return list(zip(events, await self._writer.append_many(events), strict=True))

    def _config_owner(self, payload: Payload) -> str:
        state = self._state()
        owner = payload.owner_site()
        if owner is None and isinstance(payload, (HostRemoved, ServiceDefined, ServiceRemoved)):
            owner = lookup.host_site(state, payload.host_name)
        if owner is None and isinstance(payload, PollerRemoved):
            owner = lookup.poller_site(state, payload.poller_name)
        return owner or CENTRAL


def _require(value: str, name: str) -> None:
    if not value.strip():
        raise InvalidEventError(f"{name!r} must not be empty")
