"""What a pool configuration command may do, checked against the projection before appending.

The projection folds whatever the log holds (``projections.pools``); these rules keep
operators from writing what makes no sense: a second pool of one name, a user pool
with automatic membership, a member added to a read-only automatic pool, a target
in two pools at once. A refused command appends nothing and says why in one line.
"""

from __future__ import annotations

from engine.errors import ConflictError, UnknownSubjectError
from projections.pools import (
    ALL_MANAGEMENT_SERVERS,
    DEFAULT_OBSERVER,
    MEMBER,
    OBSERVER,
    POOL_PAYLOADS,
)
from projections.quorum import current_targets, membership
from projections.rows import PoolRow
from projections.state import ProjectionState
from projections.tables import POOL_SERVERS, POOLS
from schemas.errors import InvalidEventError
from schemas.payload import Payload
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

#: Pool configuration an administrator may append: every pool event but the members'
#: own leases and stops.
POOL_CONFIGURATION = tuple(t for t in POOL_PAYLOADS if t not in (Lease, MemberStopped))


def check(state: ProjectionState, payload: Payload, *, initialising: bool = False) -> None:
    """Raise InvalidEventError, UnknownSubjectError or ConflictError if ``payload`` is refused.

    ``initialising`` is central creating the default pools: only then is ``builtin`` allowed.
    """
    if isinstance(payload, ServerRegistered):
        _name(payload.server_name, "server_name")
        if payload.server_name == DEFAULT_OBSERVER:
            raise InvalidEventError(f"{DEFAULT_OBSERVER!r} is reserved for central's vote")
        return
    if isinstance(payload, TrustAnchorsReported):
        _server(state, payload.server_name)
        return
    if isinstance(payload, PoolDefined):
        _define(state, payload, initialising)
        return
    pool = _pool(state, payload.pool_name)  # type: ignore[attr-defined]
    if isinstance(payload, PoolMembershipModeChanged):
        _switch(state, pool, payload.membership)
    elif isinstance(payload, DefaultObserverEnabled | DefaultObserverDisabled):
        enable = isinstance(payload, DefaultObserverEnabled)
        if pool.default_observer is enable:
            said = "enabled" if enable else "disabled"
            raise ConflictError(f"the default observer of pool {pool.pool_name!r} is {said}")
    elif isinstance(payload, PoolMemberAdded | PoolObserverAdded):
        role = MEMBER if isinstance(payload, PoolMemberAdded) else OBSERVER
        _add(state, pool, payload.server_name, role)
    elif isinstance(payload, PoolMemberRemoved | PoolObserverRemoved):
        role = MEMBER if isinstance(payload, PoolMemberRemoved) else OBSERVER
        _remove(state, pool, payload.server_name, role)
    elif isinstance(payload, PoolTargetAssigned | PoolTargetRemoved):
        _target(state, pool, payload)


def _name(value: str, field: str) -> None:
    if not value.strip():
        raise InvalidEventError(f"{field!r} must not be empty")


def _server(state: ProjectionState, server: str) -> None:
    row = state.get(POOL_SERVERS, (server,))
    if row is None or row.role is None:
        raise UnknownSubjectError(f"unknown server {server!r}: register it first")


def _pool(state: ProjectionState, name: str) -> PoolRow:
    row: PoolRow | None = state.get(POOLS, (name,))
    if row is None or row.defined_version is None:
        raise UnknownSubjectError(f"unknown pool {name!r}")
    return row


def _define(state: ProjectionState, p: PoolDefined, initialising: bool) -> None:
    _name(p.pool_name, "pool_name")
    row = state.get(POOLS, (p.pool_name,))
    if row is not None and row.defined_version is not None:
        raise ConflictError(f"pool {p.pool_name!r} exists")
    if p.builtin and not initialising:
        raise InvalidEventError("the default pools are created by central when it initialises")
    if p.membership is MembershipMode.AUTOMATIC and not p.builtin:
        raise InvalidEventError(
            "a pool created by a user has manual membership and cannot become automatic"
        )


def _switch(state: ProjectionState, pool: PoolRow, mode: MembershipMode) -> None:
    if pool.pool_name != ALL_MANAGEMENT_SERVERS:
        raise InvalidEventError(
            f"only the {ALL_MANAGEMENT_SERVERS!r} pool can switch membership; "
            f"{pool.pool_name!r} keeps its own"
        )
    if pool.membership == mode.value:
        raise ConflictError(f"pool {pool.pool_name!r} already has {mode.value.lower()} membership")


def _not_automatic(pool: PoolRow, role: str) -> None:
    if role == MEMBER and pool.builtin and pool.membership == MembershipMode.AUTOMATIC:
        raise ConflictError(
            f"pool {pool.pool_name!r} has automatic membership (read-only); "
            "switch it to manual first"
        )


def _add(state: ProjectionState, pool: PoolRow, server: str, role: str) -> None:
    _server(state, server)
    _not_automatic(pool, role)
    held = membership(state, pool).get(server)
    if held is not None:
        raise ConflictError(f"server {server!r} is already {_a(held)} of pool {pool.pool_name!r}")


def _remove(state: ProjectionState, pool: PoolRow, server: str, role: str) -> None:
    _not_automatic(pool, role)
    if membership(state, pool).get(server) != role:
        raise ConflictError(f"server {server!r} is not {_a(role)} of pool {pool.pool_name!r}")


def _target(
    state: ProjectionState, pool: PoolRow, p: PoolTargetAssigned | PoolTargetRemoved
) -> None:
    _name(p.target_name, "target_name")
    current = current_targets(state).get(p.target_name)
    where = None if current is None else current.pool_name
    if isinstance(p, PoolTargetAssigned) and where is not None:
        if where == pool.pool_name:
            raise ConflictError(f"target {p.target_name!r} is already in pool {where!r}")
        raise ConflictError(
            f"target {p.target_name!r} runs in pool {where!r}; remove it from there first"
        )
    if isinstance(p, PoolTargetRemoved) and where != pool.pool_name:
        raise UnknownSubjectError(f"pool {pool.pool_name!r} has no target {p.target_name!r}")


def _a(role: str) -> str:
    return "an observer" if role == OBSERVER else "a member"
