"""A small pool world for tests: servers, pools and leases written as real events.

Events go through ``Event.create`` with clocks that follow the world's simulated
time, and are folded by the projection's own fold (``ProjectionState``). The
events are kept, so a test can also replay them in another order or into
PostgreSQL.
"""

from __future__ import annotations

from hypothesis import strategies as st

from projections import fold
from projections.pools import DEFAULT_OBSERVER
from projections.quorum import PoolStatus, status
from projections.state import Changes, ProjectionState
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.payload import Payload
from schemas.pools import (
    Lease,
    MemberStopped,
    PoolDefined,
    PoolMemberAdded,
    PoolObserverAdded,
    PoolTargetAssigned,
    ServerRegistered,
)
from schemas.types import MICROS_PER_SECOND, MembershipMode, ServerRole, TargetKind

PERIOD = 10 * MICROS_PER_SECOND  # lease request period
LATENCY = 1 * MICROS_PER_SECOND  # network latency: a lease lasts 12 s
START = 1_800_000_000_000_000


class PoolWorld:
    def __init__(self) -> None:
        self.now = START
        self.state = ProjectionState()
        self.events: list[Event] = []
        self._clocks: dict[str, HybridLogicalClock] = {}

    def write(self, payload: Payload, origin: str = "central-1") -> Event:
        clock = self._clocks.setdefault(
            origin, HybridLogicalClock(wall_ms=lambda: self.now // 1000)
        )
        event = Event.create(
            payload, site="central", origin=origin, clock=clock, event_time=self.now
        )
        self.events.append(event)
        fold.apply(self.state, event, Changes())
        return event

    def register(self, server: str, role: ServerRole = ServerRole.MANAGEMENT_SERVER) -> None:
        self.write(ServerRegistered(server_name=server, role=role))

    def pool(
        self,
        name: str,
        members: list[str] = [],  # noqa: B006 - never mutated
        *,
        default_observer: bool = False,
        builtin: bool = False,
        membership: MembershipMode = MembershipMode.MANUAL,
        targets: int = 0,
    ) -> None:
        self.write(
            PoolDefined(
                pool_name=name,
                default_observer=default_observer,
                builtin=builtin,
                membership=membership,
            )
        )
        for member in members:
            self.write(PoolMemberAdded(pool_name=name, server_name=member))
        for i in range(targets):
            self.write(
                PoolTargetAssigned(
                    pool_name=name, target_name=f"switch-{i:03d}", kind=TargetKind.NETWORK_DEVICE
                )
            )

    def lease(self, pool: str, *servers: str) -> None:
        for server in servers:
            self.write(
                Lease(
                    pool_name=pool,
                    server_name=server,
                    lease_request_period=PERIOD,
                    network_latency=LATENCY,
                ),
                origin=server,
            )

    def stop(self, pool: str, server: str) -> None:
        self.write(MemberStopped(pool_name=pool, server_name=server), origin=server)

    def heartbeat_round(self, pool: str, alive: list[str], observer: bool) -> None:
        """One lease period passes; the ``alive`` servers (and the default observer) renew."""
        self.now += PERIOD
        self.lease(pool, *alive, *([DEFAULT_OBSERVER] if observer else []))

    def status(self, pool: str, at: int | None = None) -> PoolStatus:
        found = status(self.state, pool, self.now if at is None else at)
        assert found is not None, f"pool {pool!r} is not defined"
        return found


@st.composite
def pool_histories(draw: st.DrawFn) -> PoolWorld:
    """A pool of random servers (some observers) with random renewals and stops."""
    world = PoolWorld()
    servers = [f"s{i}" for i in range(draw(st.integers(1, 6)))]
    roles = {s: draw(st.sampled_from(list(ServerRole))) for s in servers}
    for server in servers:
        world.register(server, roles[server])
    members = [s for s in servers if draw(st.booleans())]
    world.pool("P", members, default_observer=draw(st.booleans()), targets=draw(st.integers(0, 9)))
    for server in servers:
        if server not in members and draw(st.booleans()):
            world.write(PoolObserverAdded(pool_name="P", server_name=server))
    for _ in range(draw(st.integers(1, 6))):
        world.now += draw(st.integers(0, 2 * PERIOD))
        alive = [s for s in servers if draw(st.booleans())]
        world.lease("P", *alive, *(["default-observer"] if draw(st.booleans()) else []))
        for server in servers:
            if server not in alive and draw(st.integers(0, 5)) == 0:
                world.stop("P", server)
    return world
