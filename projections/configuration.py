"""Folding configuration: sites, pollers, hosts, services as last-writer-wins registers.

A definition and a removal of the same subject compete by version: whichever is
later wins, so a host removed and defined again is back, in any arrival order.
Pool configuration is folded by ``projections.pools``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from projections.operations import audit
from projections.rows import HostConfigRow, PollerRow, ServiceConfigRow, SiteRow
from projections.state import Changes, ProjectionState
from projections.table import Table
from projections.tables import CONFIG_HOSTS, CONFIG_POLLERS, CONFIG_SERVICES, CONFIG_SITES
from projections.version import version_key
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
from schemas.event import Event

#: The configuration rows: each has a removed flag and a version.
_ConfigRow = TypeVar("_ConfigRow", SiteRow, PollerRow, HostConfigRow, ServiceConfigRow)


def _latest(
    state: ProjectionState,
    event: Event,
    changes: Changes,
    table: Table[_ConfigRow],
    key: tuple[str, ...],
    defined: Callable[[bytes], _ConfigRow] | None,
    tombstone: Callable[[bytes], _ConfigRow],
) -> None:
    """Definition (``defined``) or removal (None) of one subject: the later version wins.

    A removal keeps the last definition's fields, marked removed; a removal that arrives
    before any definition leaves a tombstone, so an older definition cannot revive it.
    """
    audit(event, changes)
    version = version_key(event)
    old = state.get(table, key)
    if old is not None and version <= old.version:
        return
    if defined is not None:
        row = defined(version)
    elif old is not None:
        row = old._replace(removed=True, version=version)
    else:
        row = tombstone(version)
    state.put(table, key, row, changes)


def _site(
    state: ProjectionState, event: Event, p: SiteDefined | SiteRemoved, changes: Changes
) -> None:
    site = event.target_site
    _latest(
        state,
        event,
        changes,
        CONFIG_SITES,
        (p.site_name,),
        (lambda v: SiteRow(p.site_name, site, p.description, False, v))
        if isinstance(p, SiteDefined)
        else None,
        lambda v: SiteRow(p.site_name, site, "", True, v),
    )


def _poller(
    state: ProjectionState, event: Event, p: PollerDefined | PollerRemoved, changes: Changes
) -> None:
    site = event.target_site
    _latest(
        state,
        event,
        changes,
        CONFIG_POLLERS,
        (p.poller_name,),
        (lambda v: PollerRow(p.poller_name, site, p.site_name, p.address, False, v))
        if isinstance(p, PollerDefined)
        else None,
        lambda v: PollerRow(p.poller_name, site, None, None, True, v),
    )


def _host(
    state: ProjectionState, event: Event, p: HostDefined | HostRemoved, changes: Changes
) -> None:
    site = event.target_site
    _latest(
        state,
        event,
        changes,
        CONFIG_HOSTS,
        (p.host_name,),
        (
            lambda v: HostConfigRow(
                p.host_name,
                site,
                p.site_name,
                p.alias,
                p.address,
                p.poller_name,
                list(p.groups),
                p.max_check_attempts,
                p.check_interval,
                False,
                v,
            )
        )
        if isinstance(p, HostDefined)
        else None,
        lambda v: HostConfigRow(p.host_name, site, None, None, None, None, [], None, None, True, v),
    )


def _service(
    state: ProjectionState, event: Event, p: ServiceDefined | ServiceRemoved, changes: Changes
) -> None:
    site = event.target_site
    _latest(
        state,
        event,
        changes,
        CONFIG_SERVICES,
        (p.host_name, p.service_description),
        (
            lambda v: ServiceConfigRow(
                p.host_name,
                p.service_description,
                site,
                list(p.groups),
                p.max_check_attempts,
                p.check_interval,
                False,
                v,
            )
        )
        if isinstance(p, ServiceDefined)
        else None,
        lambda v: ServiceConfigRow(
            p.host_name, p.service_description, site, [], None, None, True, v
        ),
    )


HANDLERS: dict[type, Any] = {
    SiteDefined: _site,
    SiteRemoved: _site,
    PollerDefined: _poller,
    PollerRemoved: _poller,
    HostDefined: _host,
    HostRemoved: _host,
    ServiceDefined: _service,
    ServiceRemoved: _service,
}
