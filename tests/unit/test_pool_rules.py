"""Pool membership, observer, trust and assignment rules, folded from real events (no I/O).

Hypothesis checks the rules that hold for every input: assignment depends on the
targets and available members only, a failure moves only the failed member's
targets, every target has exactly one owner while the pool has quorum and none
without, and the fold converges under any interleaving of partitions.
"""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from projections import fold
from projections.assignment import assign
from projections.pools import ALL_MANAGEMENT_SERVERS
from projections.quorum import membership, pools_of, statuses
from projections.state import Changes, ProjectionState
from projections.tables import POOLS
from schemas.pools import (
    PoolMemberRemoved,
    PoolMembershipModeChanged,
    PoolObserverAdded,
    PoolTargetAssigned,
    PoolTargetRemoved,
    TrustAnchorsReported,
)
from schemas.types import MembershipMode, ServerRole, TargetKind
from tests.support.pool_world import PERIOD, PoolWorld, pool_histories

AUTO, MANUAL = MembershipMode.AUTOMATIC, MembershipMode.MANUAL


def members_of(world: PoolWorld, pool: str) -> dict[str, str]:
    return membership(world.state, world.state.rows(POOLS)[(pool,)])


def test_automatic_pool_holds_every_management_server_and_no_gateway() -> None:
    world = PoolWorld()
    world.register("ms-1")
    world.pool(ALL_MANAGEMENT_SERVERS, builtin=True, membership=AUTO, default_observer=True)
    world.register("ms-2")  # registered after the pool exists: joins too
    world.register("gw-1", ServerRole.GATEWAY)
    assert members_of(world, ALL_MANAGEMENT_SERVERS) == {"ms-1": "member", "ms-2": "member"}
    # Automatic membership is read-only: a removal in the log changes nothing.
    world.write(PoolMemberRemoved(pool_name=ALL_MANAGEMENT_SERVERS, server_name="ms-1"))
    assert set(members_of(world, ALL_MANAGEMENT_SERVERS)) == {"ms-1", "ms-2"}
    assert pools_of(world.state, "ms-2") == [ALL_MANAGEMENT_SERVERS]


def test_switch_to_manual_keeps_the_members_and_stops_the_joining() -> None:
    world = PoolWorld()
    world.pool(ALL_MANAGEMENT_SERVERS, builtin=True, membership=AUTO)
    world.register("ms-1")
    world.register("ms-2")
    world.now += 1_000
    world.write(PoolMembershipModeChanged(pool_name=ALL_MANAGEMENT_SERVERS, membership=MANUAL))
    world.now += 1_000
    world.register("ms-3")  # after the switch: must be added by hand
    world.write(PoolMemberRemoved(pool_name=ALL_MANAGEMENT_SERVERS, server_name="ms-2"))
    assert members_of(world, ALL_MANAGEMENT_SERVERS) == {"ms-1": "member"}
    pool = world.status(ALL_MANAGEMENT_SERVERS)
    assert pool.membership == "MANUAL"
    # Back to automatic: every management server again.
    world.write(PoolMembershipModeChanged(pool_name=ALL_MANAGEMENT_SERVERS, membership=AUTO))
    assert set(members_of(world, ALL_MANAGEMENT_SERVERS)) == {"ms-1", "ms-2", "ms-3"}


def test_a_user_pool_is_manual_whatever_the_log_says() -> None:
    world = PoolWorld()
    world.register("ms-1")
    world.pool("Network", membership=AUTO)  # bypassing the write path's refusal
    world.write(PoolMembershipModeChanged(pool_name="Network", membership=AUTO))
    assert members_of(world, "Network") == {}
    assert world.status("Network").membership == "MANUAL"


def test_observers_vote_but_never_run_workflows() -> None:
    world = PoolWorld()
    for server in ("ms-1", "ms-2", "ms-3"):
        world.register(server)
    world.pool("Pool", ["ms-1", "ms-2"], targets=6)
    world.write(PoolObserverAdded(pool_name="Pool", server_name="ms-3"))
    world.write(PoolObserverAdded(pool_name="Pool", server_name="ms-2"))  # both: observer
    world.write(PoolObserverAdded(pool_name="Pool", server_name="ghost"))  # never registered
    world.heartbeat_round("Pool", ["ms-1", "ms-2", "ms-3", "ghost"], observer=False)
    pool = world.status("Pool", at=world.now + PERIOD // 2)
    assert [(v.server_name, v.observer) for v in pool.voters] == [
        ("ms-1", False),
        ("ms-2", True),
        ("ms-3", True),
    ]
    assert pool.unregistered == ("ghost",)
    assert (pool.vote_count, pool.quorum, pool.available_votes) == (3, 2, 3)
    assert set(pool.owners.values()) == {"ms-1"}
    # Only observers up: quorum, but nobody to run the targets, and the pool says so.
    world.heartbeat_round("Pool", ["ms-2", "ms-3"], observer=False)
    pool = world.status("Pool", at=world.now + PERIOD // 2)
    assert pool.has_quorum and set(pool.owners.values()) == {None}
    assert pool.reason is not None and "observers" in pool.reason


def test_members_missing_a_signing_root_are_listed() -> None:
    world = PoolWorld()
    for server in ("ms-1", "ms-2", "ms-3"):
        world.register(server)
    world.pool("Unix", ["ms-1", "ms-2"])
    world.write(PoolObserverAdded(pool_name="Unix", server_name="ms-3"))
    for i, root in enumerate(("root-a", "root-b", "root-a")):
        world.write(
            PoolTargetAssigned(
                pool_name="Unix", target_name=f"unix-{i}", kind=TargetKind.UNIX_AGENT,
                signing_root=root,
            )
        )  # fmt: skip
    world.write(TrustAnchorsReported(server_name="ms-1", fingerprints=("root-b", "root-a")))
    world.write(TrustAnchorsReported(server_name="ms-2", fingerprints=("root-a",)))
    missing = {v.server_name: v.missing_roots for v in world.status("Unix").voters}
    assert missing == {"ms-1": (), "ms-2": ("root-b",), "ms-3": ()}  # observers run nothing


def test_a_target_belongs_to_its_latest_pool() -> None:
    world = PoolWorld()
    world.pool("A")
    world.pool("B")
    kind = TargetKind.URL_MONITOR
    world.write(PoolTargetAssigned(pool_name="A", target_name="https://x", kind=kind))
    moved = world.write(PoolTargetAssigned(pool_name="B", target_name="https://x", kind=kind))
    world.write(PoolTargetRemoved(pool_name="A", target_name="https://x"))
    by_pool = {p.pool_name: [t.name for t in p.targets] for p in statuses(world.state, world.now)}
    assert by_pool == {"A": [], "B": ["https://x"]}
    # Pool B's partition may be read last: same answer.
    state = ProjectionState()
    for event in [e for e in world.events if e is not moved] + [moved]:
        fold.apply(state, event, Changes())
    assert [t.name for t in statuses(state, world.now)[1].targets] == ["https://x"]


names = st.lists(
    st.text("abcdefghij-0123456789", min_size=1, max_size=8), min_size=0, max_size=12, unique=True
)


@settings(max_examples=300, deadline=None)
@given(targets=names, members=names, rnd=st.randoms(use_true_random=False))
def test_assignment_is_a_function_of_targets_and_members(
    targets: list[str], members: list[str], rnd: random.Random
) -> None:
    owners = assign(targets, members)
    shuffled_t, shuffled_m = list(targets), list(members)
    rnd.shuffle(shuffled_t)
    rnd.shuffle(shuffled_m)
    assert assign(shuffled_t, set(shuffled_m)) == owners
    if members:
        assert set(owners) == set(targets) and set(owners.values()) <= set(members)
    else:
        assert owners == {}


@settings(max_examples=300, deadline=None)
@given(targets=names, members=names.filter(bool), data=st.data())
def test_a_failure_moves_only_the_failed_members_targets(
    targets: list[str], members: list[str], data: st.DataObject
) -> None:
    failed = data.draw(st.sampled_from(members))
    before = assign(targets, members)
    after = assign(targets, [m for m in members if m != failed])
    for target, owner in before.items():
        if owner != failed:
            assert after[target] == owner
        elif len(members) > 1:
            assert after[target] != failed
    # And it comes back: the assignment returns to the original one.
    assert assign(targets, members) == before


@settings(max_examples=200, deadline=None)
@given(world=pool_histories(), offset=st.integers(-PERIOD, 3 * PERIOD))
def test_one_owner_per_target_with_quorum_and_none_without(world: PoolWorld, offset: int) -> None:
    pool = world.status("P", at=world.now + offset)
    runners = pool.runners
    assert pool.owners == {
        t.name: assign([t.name], runners).get(t.name) if pool.has_quorum else None
        for t in pool.targets
    }
    if pool.has_quorum and runners:
        assert all(pool.owners[t.name] in runners for t in pool.targets)
    if not pool.has_quorum:
        assert all(owner is None for owner in pool.owners.values())
    # Quorum is the smallest count of votes that is more than half: exactly half is not.
    assert 2 * pool.quorum > pool.vote_count >= 2 * (pool.quorum - 1)
    assert pool.has_quorum is (pool.vote_count > 0 and pool.available_votes >= pool.quorum)


@settings(max_examples=200, deadline=None)
@given(world=pool_histories(), rnd=st.randoms(use_true_random=False))
def test_the_pool_fold_converges_under_any_interleaving(
    world: PoolWorld, rnd: random.Random
) -> None:
    # Events keep their order within a partition (one Kafka key), any order across.
    streams: dict[str, list[object]] = {}
    for event in world.events:
        streams.setdefault(event.key, []).append(event)
    queues = [list(s) for s in streams.values()]
    state = ProjectionState()
    while queues:
        queue = rnd.choice(queues)
        fold.apply(state, queue.pop(0), Changes())  # type: ignore[arg-type]
        queues = [q for q in queues if q]
    assert state.registers == world.state.registers
    for at in (world.now, world.now + PERIOD):
        assert statuses(state, at) == statuses(world.state, at)
