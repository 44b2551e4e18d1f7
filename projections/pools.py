"""Folding resource pool events: pools, servers, memberships, targets and leases.

Every row is made of last-writer-wins registers on version bytes, so the fold
converges whatever order events from different partitions arrive in:

- a pool's definition, its membership mode and its default observer are three
  registers of one row (``PoolRow``): a later switch to manual is not undone by an
  earlier definition that arrives late;
- a server's registration and its reported trust anchors are two registers of one
  row; ``first_registered`` is the smallest registration version, a minimum being
  order-free;
- member and observer are separate registers per (pool, server), a target's
  assignment is a register per (pool, target).

Leases are different: a member's leases and its stop all travel in one partition
(key ``pool/<name>``), so they are folded in log order into the member's current
unbroken run of leases ``[since, expires_at)``. A lease older than the one already
folded (a producer retry) changes nothing. What all this means as of an instant
(who is available, is there quorum, who runs which target) is ``projections.quorum``.
"""

from __future__ import annotations

from typing import Any

from projections.operations import audit
from projections.rows import PoolLeaseRow, PoolMembershipRow, PoolRow, PoolServerRow, PoolTargetRow
from projections.state import Changes, ProjectionState
from projections.tables import POOL_LEASES, POOL_MEMBERSHIPS, POOL_SERVERS, POOL_TARGETS, POOLS
from projections.version import version_key
from schemas.event import Event
from schemas.pools import (
    DefaultObserverDisabled,
    DefaultObserverEnabled,
    Lease,
    MemberStopped,
    PoolDefined,
    PoolMemberAdded,
    PoolMemberRemoved,
    PoolMembershipModeChanged,
    PoolObserverAdded,
    PoolObserverRemoved,
    PoolTargetAssigned,
    PoolTargetRemoved,
    ServerRegistered,
    TrustAnchorsReported,
)
from schemas.types import MembershipMode

#: The pools that exist from the start, with automatic membership (the SCOM seed's three).
ALL_MANAGEMENT_SERVERS = "All Management Servers"
DEFAULT_POOLS: dict[str, str] = {
    ALL_MANAGEMENT_SERVERS: "Group calculation, availability, distributed health rollup, "
    "database grooming",
    "Notifications": "Alert subscription workflows (notifications)",
    "Directory Assignment": "Directory integration: automatic agent assignment",
}
#: The server name under which central casts the default observer's vote (its leases).
DEFAULT_OBSERVER = "default-observer"
MEMBER, OBSERVER = "member", "observer"


def _newer(version: bytes, old: bytes | None) -> bool:
    return old is None or version > old


def _pool(state: ProjectionState, event: Event, name: str) -> PoolRow:
    row = state.get(POOLS, (name,))
    if row is not None:
        return row
    # A pool referred to before its definition arrived: no register is set yet.
    return PoolRow(
        name,
        event.target_site,
        False,
        "",
        None,
        MembershipMode.MANUAL.value,
        None,
        None,
        False,
        None,
    )


def _pool_defined(state: ProjectionState, event: Event, p: PoolDefined, changes: Changes) -> None:
    audit(event, changes)
    version, row = version_key(event), _pool(state, event, p.pool_name)
    if _newer(version, row.defined_version):
        row = row._replace(
            target_site=event.target_site,
            builtin=p.builtin,
            description=p.description,
            defined_version=version,
        )
    if _newer(version, row.membership_version):
        row = row._replace(
            membership=p.membership.value, manual_since=None, membership_version=version
        )
    if _newer(version, row.observer_version):
        row = row._replace(default_observer=p.default_observer, observer_version=version)
    state.put(POOLS, (p.pool_name,), row, changes)


def _membership_mode(
    state: ProjectionState, event: Event, p: PoolMembershipModeChanged, changes: Changes
) -> None:
    audit(event, changes)
    version, row = version_key(event), _pool(state, event, p.pool_name)
    if _newer(version, row.membership_version):
        manual = p.membership is MembershipMode.MANUAL
        row = row._replace(
            membership=p.membership.value,
            # Servers that were members automatically stay, as manual members (see quorum).
            manual_since=version if manual else None,
            membership_version=version,
        )
        state.put(POOLS, (p.pool_name,), row, changes)


def _default_observer(
    state: ProjectionState,
    event: Event,
    p: DefaultObserverEnabled | DefaultObserverDisabled,
    changes: Changes,
) -> None:
    audit(event, changes)
    version, row = version_key(event), _pool(state, event, p.pool_name)
    if _newer(version, row.observer_version):
        enabled = isinstance(p, DefaultObserverEnabled)
        row = row._replace(default_observer=enabled, observer_version=version)
        state.put(POOLS, (p.pool_name,), row, changes)


def _server(
    state: ProjectionState,
    event: Event,
    p: ServerRegistered | TrustAnchorsReported,
    changes: Changes,
) -> None:
    audit(event, changes)
    version = version_key(event)
    row = state.get(POOL_SERVERS, (p.server_name,))
    if row is None:
        row = PoolServerRow(p.server_name, event.target_site, None, "", None, None, [], None)
    if isinstance(p, ServerRegistered):
        first = row.first_registered
        row = row._replace(first_registered=version if first is None else min(first, version))
        if _newer(version, row.version):
            row = row._replace(
                target_site=event.target_site,
                role=p.role.value,
                site_name=p.site_name,
                version=version,
            )
    elif _newer(version, row.trust_version):
        row = row._replace(trust_anchors=sorted(set(p.fingerprints)), trust_version=version)
    state.put(POOL_SERVERS, (p.server_name,), row, changes)


def _membership(state: ProjectionState, event: Event, p: Any, changes: Changes) -> None:
    audit(event, changes)
    role = MEMBER if isinstance(p, PoolMemberAdded | PoolMemberRemoved) else OBSERVER
    added = isinstance(p, PoolMemberAdded | PoolObserverAdded)
    key = (p.pool_name, p.server_name, role)
    version = version_key(event)
    old = state.get(POOL_MEMBERSHIPS, key)
    if old is None or version > old.version:
        row = PoolMembershipRow(*key, event.target_site, added, version)
        state.put(POOL_MEMBERSHIPS, key, row, changes)


def _target(
    state: ProjectionState,
    event: Event,
    p: PoolTargetAssigned | PoolTargetRemoved,
    changes: Changes,
) -> None:
    audit(event, changes)
    key = (p.pool_name, p.target_name)
    version = version_key(event)
    old = state.get(POOL_TARGETS, key)
    if old is not None and version <= old.version:
        return
    if isinstance(p, PoolTargetAssigned):
        row = PoolTargetRow(
            *key, event.target_site, p.kind.value, p.signing_root, version, False, version
        )
    elif old is not None:
        row = old._replace(removed=True, version=version)
    else:
        row = PoolTargetRow(*key, event.target_site, None, None, None, True, version)
    state.put(POOL_TARGETS, key, row, changes)


def _lease(
    state: ProjectionState, event: Event, p: Lease | MemberStopped, changes: Changes
) -> None:
    key = (p.pool_name, p.server_name)
    version = version_key(event)
    old = state.get(POOL_LEASES, key)
    if old is not None and version <= old.version:
        return
    at = event.event_time
    if isinstance(p, MemberStopped):
        # The lease is given back: it ends now (or already ended).
        if old is None:
            row = PoolLeaseRow(*key, event.target_site, at, at, at, version)
        else:
            row = old._replace(expires_at=min(old.expires_at, max(at, old.since)), version=version)
    else:
        unbroken = old is not None and old.since <= at <= old.expires_at
        since = old.since if unbroken and old is not None else at
        row = PoolLeaseRow(*key, event.target_site, since, at, at + p.duration, version)
    state.put(POOL_LEASES, key, row, changes)


HANDLERS: dict[type, Any] = {
    PoolDefined: _pool_defined,
    PoolMembershipModeChanged: _membership_mode,
    DefaultObserverEnabled: _default_observer,
    DefaultObserverDisabled: _default_observer,
    ServerRegistered: _server,
    TrustAnchorsReported: _server,
    PoolMemberAdded: _membership,
    PoolMemberRemoved: _membership,
    PoolObserverAdded: _membership,
    PoolObserverRemoved: _membership,
    PoolTargetAssigned: _target,
    PoolTargetRemoved: _target,
    # Leases and stops are heartbeats, not operator actions: no audit row.
    Lease: _lease,
    MemberStopped: _lease,
}

#: Payload types this fold handles: what a pool member agent needs to read.
POOL_PAYLOADS = tuple(HANDLERS)
