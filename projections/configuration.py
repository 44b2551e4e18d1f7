"""Folding configuration: sites, pollers, hosts, services as last-writer-wins registers.

A definition and a removal of the same subject compete by version: whichever is
later wins, so a host removed and defined again is back, in any arrival order.
Pool events are only audited here; the pools projection has its own issue.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from projections.operations import audit
from projections.rows import HostConfigRow, PollerRow, ServiceConfigRow, SiteRow
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
from schemas.event import PAYLOAD_TYPES, Event
from schemas.pools import Lease

if TYPE_CHECKING:
    from projections.state import Changes, ProjectionState


def _newer(state: ProjectionState, table: str, key: tuple[Any, ...], version: bytes) -> Any:
    """The current row if ``version`` beats it (or None when there is none); else False."""
    old = state.get(table, key)
    if old is not None and version <= old.version:
        return False
    return old


def _site(
    state: ProjectionState, event: Event, p: SiteDefined | SiteRemoved, changes: Changes
) -> None:
    audit(event, changes)
    key, version = (p.site_name,), version_key(event)
    old = _newer(state, "config_sites", key, version)
    if old is False:
        return
    if isinstance(p, SiteDefined):
        row = SiteRow(p.site_name, event.target_site, p.description, False, version)
    else:
        row = SiteRow(p.site_name, event.target_site, old.description if old else "", True, version)
    state.put("config_sites", key, row, changes)


def _poller(
    state: ProjectionState, event: Event, p: PollerDefined | PollerRemoved, changes: Changes
) -> None:
    audit(event, changes)
    key, version = (p.poller_name,), version_key(event)
    old = _newer(state, "config_pollers", key, version)
    if old is False:
        return
    if isinstance(p, PollerDefined):
        row = PollerRow(p.poller_name, event.target_site, p.site_name, p.address, False, version)
    elif old:
        row = old._replace(removed=True, version=version)
    else:
        row = PollerRow(p.poller_name, event.target_site, None, None, True, version)
    state.put("config_pollers", key, row, changes)


def _host(
    state: ProjectionState, event: Event, p: HostDefined | HostRemoved, changes: Changes
) -> None:
    audit(event, changes)
    key, version = (p.host_name,), version_key(event)
    old = _newer(state, "config_hosts", key, version)
    if old is False:
        return
    if isinstance(p, HostDefined):
        row = HostConfigRow(
            p.host_name,
            event.target_site,
            p.site_name,
            p.alias,
            p.address,
            p.poller_name,
            list(p.groups),
            p.max_check_attempts,
            p.check_interval,
            False,
            version,
        )
    elif old:
        row = old._replace(removed=True, version=version)
    else:
        row = HostConfigRow(
            p.host_name, event.target_site, None, None, None, None, [], None, None, True, version
        )
    state.put("config_hosts", key, row, changes)


def _service(
    state: ProjectionState, event: Event, p: ServiceDefined | ServiceRemoved, changes: Changes
) -> None:
    audit(event, changes)
    key, version = (p.host_name, p.service_description), version_key(event)
    old = _newer(state, "config_services", key, version)
    if old is False:
        return
    if isinstance(p, ServiceDefined):
        row = ServiceConfigRow(
            p.host_name,
            p.service_description,
            event.target_site,
            list(p.groups),
            p.max_check_attempts,
            p.check_interval,
            False,
            version,
        )
    elif old:
        row = old._replace(removed=True, version=version)
    else:
        row = ServiceConfigRow(
            p.host_name, p.service_description, event.target_site, [], None, None, True, version
        )
    state.put("config_services", key, row, changes)


def _audit_only(state: ProjectionState, event: Event, _: Any, changes: Changes) -> None:
    audit(event, changes)


_POOL_TYPES = [t for t in PAYLOAD_TYPES if t.__module__ == "schemas.pools" and t is not Lease]

HANDLERS: dict[type, Any] = {
    SiteDefined: _site,
    SiteRemoved: _site,
    PollerDefined: _poller,
    PollerRemoved: _poller,
    HostDefined: _host,
    HostRemoved: _host,
    ServiceDefined: _service,
    ServiceRemoved: _service,
    # Pool configuration is audited; leases are heartbeats, not operator actions.
    **{pool_type: _audit_only for pool_type in _POOL_TYPES},
}
