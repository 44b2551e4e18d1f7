"""What the pool registers mean as of an instant: members, votes, quorum, assignment.

Pure reads of the pool rows folded by ``projections.pools`` (from the in-memory
state, or read back from PostgreSQL), evaluated as of ``at`` so that two nodes, or
two pool members, that read the same events answer the same for the same instant:

- Membership: a user pool is manual. An automatic pool holds every registered
  management server. When a pool is switched to manual, the management servers
  registered before the switch stay, as if added then; explicit additions and
  removals compete with that by version.
- Voters: members and observers (a server in both roles is an observer, with one
  vote), plus the default observer when it is enabled and the pool has a management
  server (gateways cannot reach central's database). Quorum = voters // 2 + 1.
- A voter is available while its lease is valid: ``since <= at < expires_at``.
- Targets run on available members that are not observers, by rendezvous hashing,
  and only while the pool has quorum; otherwise ``reason`` says why nothing runs.
- A member missing a root certificate that signed one of the pool's agents is
  listed with the missing fingerprints: failing over to it would fail.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from operator import attrgetter
from typing import Any

from projections.assignment import assign
from projections.pools import DEFAULT_OBSERVER, MEMBER, OBSERVER
from projections.rows import PoolLeaseRow, PoolRow
from projections.state import ProjectionState
from projections.table import Table
from projections.tables import POOL_LEASES, POOL_MEMBERSHIPS, POOL_SERVERS, POOL_TARGETS, POOLS
from schemas.types import MembershipMode, ServerRole

POOL_TABLES: tuple[Table[Any], ...] = (
    POOLS,
    POOL_SERVERS,
    POOL_MEMBERSHIPS,
    POOL_TARGETS,
    POOL_LEASES,
)


@dataclass(frozen=True)
class Target:
    name: str
    pool_name: str
    kind: str
    signing_root: str | None


@dataclass(frozen=True)
class Voter:
    """A member or observer of a pool, as of an instant."""

    server_name: str
    role: str | None  # ServerRole value; None while the server is not registered
    observer: bool
    available: bool
    lease_expires_at: int | None
    missing_roots: tuple[str, ...] = ()


@dataclass(frozen=True)
class PoolStatus:
    """One pool as of ``at``."""

    pool_name: str
    at: int
    builtin: bool
    description: str
    membership: str
    default_observer: bool  # as configured
    default_observer_votes: bool
    default_observer_available: bool
    voters: tuple[Voter, ...]  # registered members and observers, by name
    unregistered: tuple[str, ...]  # named in the pool, never registered: no vote
    vote_count: int
    quorum: int
    available_votes: int
    may_fail: int  # how many voters may be unavailable while the pool keeps quorum
    has_quorum: bool
    reason: str | None  # why some or all targets have no owner
    owners: dict[str, str | None]  # target name -> member running it
    targets: tuple[Target, ...]

    @property
    def runners(self) -> tuple[str, ...]:
        return runners(self.voters)


def runners(voters: Iterable[Voter]) -> tuple[str, ...]:
    """Available members that run workflows (observers never do)."""
    return tuple(v.server_name for v in voters if v.available and not v.observer)


def quorum_of(votes: int) -> int:
    """Majority: more than half of the votes (exactly half is not quorum)."""
    return votes // 2 + 1


def lease_valid(lease: PoolLeaseRow | None, at: int) -> bool:
    return lease is not None and lease.since <= at < lease.expires_at


def pool_names(state: ProjectionState) -> list[str]:
    """Every defined pool, by name."""
    return sorted(k[0] for k, row in state.rows(POOLS).items() if row.defined_version)


def membership(state: ProjectionState, pool: PoolRow) -> dict[str, str]:
    """Server name -> ``member`` or ``observer``, for every server the pool holds now."""
    servers = state.rows(POOL_SERVERS)
    automatic = pool.builtin and pool.membership == MembershipMode.AUTOMATIC
    # Each candidate verdict is (version, in_pool); the latest version decides.
    verdicts: dict[str, tuple[bytes, bool]] = {}
    observers: set[str] = set()
    for (name, server, role), row in state.rows(POOL_MEMBERSHIPS).items():
        if name != pool.pool_name:
            continue
        if role == OBSERVER:
            if row.added:
                observers.add(server)
        else:
            verdicts[server] = (row.version, row.added)
    # Only builtin pools were ever automatic; the switch to manual keeps their members.
    grant = pool.manual_since if pool.builtin else None
    management = {
        server: row.first_registered
        for (server,), row in servers.items()
        if row.role == ServerRole.MANAGEMENT_SERVER and row.first_registered is not None
    }
    for server, registered in management.items():
        if grant is not None and registered < grant:
            verdicts[server] = max(verdicts.get(server, (grant, True)), (grant, True))
    roles = {server: MEMBER for server, (_, member) in verdicts.items() if member}
    if automatic:  # automatic membership is every management server, read-only
        roles.update(dict.fromkeys(management, MEMBER))
    roles.update(dict.fromkeys(observers, OBSERVER))
    return roles


def current_targets(state: ProjectionState) -> dict[str, Target]:
    """Every target's current pool: the one it was last assigned to, unless removed since."""
    latest: dict[str, tuple[bytes, Target | None]] = {}
    for (pool_name, target), row in state.rows(POOL_TARGETS).items():
        assigned = row.assigned_version
        if assigned is None or (target in latest and latest[target][0] >= assigned):
            continue
        kept = None if row.removed else Target(target, pool_name, row.kind or "", row.signing_root)
        latest[target] = (assigned, kept)
    return {name: t for name, (_, t) in latest.items() if t is not None}


def status(
    state: ProjectionState,
    pool_name: str,
    at: int,
    targets: dict[str, Target] | None = None,
) -> PoolStatus | None:
    """The pool as of ``at``, or None when no such pool is defined."""
    pool = state.get(POOLS, (pool_name,))
    if pool is None or pool.defined_version is None:
        return None
    leases = state.rows(POOL_LEASES)
    targets = current_targets(state) if targets is None else targets
    mine = tuple(
        sorted((t for t in targets.values() if t.pool_name == pool_name), key=attrgetter("name"))
    )
    roots = sorted({t.signing_root for t in mine if t.signing_root})
    voters, unregistered = [], []
    for server, role in sorted(membership(state, pool).items()):
        row = state.get(POOL_SERVERS, (server,))
        if row is None or row.role is None:
            unregistered.append(server)
            continue
        lease = leases.get((pool_name, server))
        observer = role == OBSERVER
        voters.append(
            Voter(
                server,
                row.role,
                observer,
                lease_valid(lease, at),
                None if lease is None else lease.expires_at,
                () if observer else tuple(r for r in roots if r not in row.trust_anchors),
            )
        )
    has_management = any(v.role == ServerRole.MANAGEMENT_SERVER for v in voters)
    observer_votes = pool.default_observer and has_management
    observer_up = observer_votes and lease_valid(leases.get((pool_name, DEFAULT_OBSERVER)), at)
    votes = len(voters) + observer_votes
    quorum = quorum_of(votes)
    available = sum(v.available for v in voters) + observer_up
    has_quorum = votes > 0 and available >= quorum
    up = runners(voters)
    reason = None
    if votes == 0:
        reason = "the pool has no voting member"
    elif not has_quorum:
        reason = f"no quorum: {available} of {votes} votes available, {quorum} needed"
    elif mine and not up:
        reason = "no available member runs workflows (only observers are up)"
    owned = assign((t.name for t in mine), up) if has_quorum else {}
    return PoolStatus(
        pool_name=pool_name,
        at=at,
        builtin=pool.builtin,
        description=pool.description,
        membership=MembershipMode.AUTOMATIC.value
        if pool.builtin and pool.membership == MembershipMode.AUTOMATIC
        else MembershipMode.MANUAL.value,
        default_observer=pool.default_observer,
        default_observer_votes=observer_votes,
        default_observer_available=observer_up,
        voters=tuple(voters),
        unregistered=tuple(unregistered),
        vote_count=votes,
        quorum=quorum,
        available_votes=available,
        may_fail=max(0, votes - quorum),
        has_quorum=has_quorum,
        reason=reason,
        owners={t.name: owned.get(t.name) for t in mine},
        targets=mine,
    )


def statuses(state: ProjectionState, at: int) -> list[PoolStatus]:
    """Every defined pool as of ``at``, by name."""
    targets = current_targets(state)
    found = (status(state, name, at, targets) for name in pool_names(state))
    return [s for s in found if s is not None]


def pools_of(state: ProjectionState, server: str) -> list[str]:
    """The defined pools ``server`` is a member or observer of (the ones it leases)."""
    out = []
    for name in pool_names(state):
        if server in membership(state, state.rows(POOLS)[(name,)]):
            out.append(name)
    return out


def pool_state(state: ProjectionState) -> ProjectionState:
    """A copy of just the pool registers: cheap, for checking commands against."""
    return ProjectionState({table: dict(state.rows(table)) for table in POOL_TABLES})
