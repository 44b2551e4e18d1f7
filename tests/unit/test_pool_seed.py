"""The worked examples of the SCOM resource pool seed (seeds/004), as acceptance tests.

Each example is a pool of one to five management servers or one to three gateway
servers, with the default observer on or off. The expected figures are the seed's
own sentences, written out by hand (not computed with the rule under test): voting
members, quorum, how many members may fail, and whether the pool still works after
each further failure. Members fail by ceasing to renew their lease; the pool is
evaluated as of half a lease period after each round of renewals.
"""

from __future__ import annotations

import pytest

from schemas.types import ServerRole
from tests.support.pool_world import PERIOD, PoolWorld

MS, GW = ServerRole.MANAGEMENT_SERVER, ServerRole.GATEWAY

# (role, servers, default observer) -> (votes, quorum, may fail, working after k failures)
Case = tuple[ServerRole, int, bool]
SEED: dict[Case, tuple[int, int, int, list[bool]]] = {
    # "Single management server: the default observer brings nothing, two members and
    # quorum is not reached" (with one of them down); no high availability.
    (MS, 1, True): (2, 2, 0, [True, False]),
    (MS, 1, False): (1, 1, 0, [True, False]),
    # "Two management servers: three voting members ... high availability. If you
    # disable the default observer you lose high availability."
    (MS, 2, True): (3, 2, 1, [True, True, False]),
    (MS, 2, False): (2, 2, 0, [True, False, False]),
    # "Three: four voting members; only one management server may be unavailable; with
    # two down you have exactly 50% and the pool stops. The observer adds nothing."
    (MS, 3, True): (4, 3, 1, [True, True, False, False]),
    (MS, 3, False): (3, 2, 1, [True, True, False, False]),
    # "Four: five voting members; two may be unavailable; three down is less than 50%.
    # Without the observer, four members allow only one to be unavailable."
    (MS, 4, True): (5, 3, 2, [True, True, True, False, False]),
    (MS, 4, False): (4, 3, 1, [True, True, False, False, False]),
    # "Five: six voting members; two may be unavailable; three down is exactly 50%."
    (MS, 5, True): (6, 4, 2, [True, True, True, False, False, False]),
    (MS, 5, False): (5, 3, 2, [True, True, True, False, False, False]),
    # Gateways cannot reach the database: the default observer, enabled or not, never
    # votes. "Single gateway: no high availability."
    (GW, 1, True): (1, 1, 0, [True, False]),
    (GW, 1, False): (1, 1, 0, [True, False]),
    # "Two gateways: no high availability, only two members; three are needed."
    (GW, 2, True): (2, 2, 0, [True, False, False]),
    (GW, 2, False): (2, 2, 0, [True, False, False]),
    # "Three gateways: three voting members; one may be unavailable; two down is less
    # than 50%."
    (GW, 3, True): (3, 2, 1, [True, True, False, False]),
    (GW, 3, False): (3, 2, 1, [True, True, False, False]),
}


CASES = sorted(SEED, key=lambda case: (case[0].value, case[1], not case[2]))


@pytest.mark.parametrize(
    ("role", "count", "observer"),
    CASES,
    ids=lambda v: v.value if isinstance(v, ServerRole) else str(v),
)
def test_seed_example(role: ServerRole, count: int, observer: bool) -> None:
    votes, quorum, may_fail, working = SEED[(role, count, observer)]
    world = PoolWorld()
    servers = [f"{role.value.lower()}-{i}" for i in range(1, count + 1)]
    for server in servers:
        world.register(server, role)
    world.pool("Pool", servers, default_observer=observer, targets=12)
    alive = list(servers)
    for failed in range(count + 1):
        world.heartbeat_round("Pool", alive, observer)
        pool = world.status("Pool", at=world.now + PERIOD // 2)
        assert (pool.vote_count, pool.quorum, pool.may_fail) == (votes, quorum, may_fail)
        observer_votes = observer and role is MS
        assert pool.default_observer_votes is observer_votes
        assert pool.available_votes == len(alive) + observer_votes
        assert pool.has_quorum is working[failed], f"after {failed} failures"
        assert pool.has_quorum is (failed <= may_fail)
        owners = set(pool.owners.values())
        if pool.has_quorum:
            assert owners <= set(alive) and None not in owners and len(pool.owners) == 12
            assert pool.reason is None
        else:
            assert owners == {None}, "a pool without quorum runs nothing"
            assert pool.reason is not None and pool.reason.startswith("no quorum")
        if alive:
            alive.pop()  # the next member fails: it stops renewing its lease


def test_losing_the_default_observer_costs_one_vote() -> None:
    """Two management servers and the default observer: either one of the three may fail."""
    world = PoolWorld()
    for server in ("ms-1", "ms-2"):
        world.register(server)
    world.pool("Pool", ["ms-1", "ms-2"], default_observer=True, targets=4)
    world.heartbeat_round("Pool", ["ms-1", "ms-2"], observer=False)
    pool = world.status("Pool", at=world.now + PERIOD // 2)
    assert pool.default_observer_votes and not pool.default_observer_available
    assert (pool.available_votes, pool.has_quorum) == (2, True)
    world.heartbeat_round("Pool", ["ms-1"], observer=False)
    assert not world.status("Pool", at=world.now + PERIOD // 2).has_quorum


def test_lease_lasts_period_plus_twice_the_latency() -> None:
    world = PoolWorld()
    world.register("gw-1", GW)
    world.pool("Pool", ["gw-1"])
    world.lease("Pool", "gw-1")
    granted = world.now
    lasts = PERIOD + 2 * 1_000_000
    assert not world.status("Pool", at=granted - 1).has_quorum  # not granted yet
    assert world.status("Pool", at=granted).has_quorum
    assert world.status("Pool", at=granted + lasts - 1).has_quorum
    assert not world.status("Pool", at=granted + lasts).has_quorum
    # Renewals while the lease is valid make one unbroken run of availability ...
    world.now += PERIOD
    world.lease("Pool", "gw-1")
    assert world.status("Pool", at=granted + lasts).has_quorum
    # ... and a clean stop gives the lease back at once.
    world.now += 1_000
    world.stop("Pool", "gw-1")
    assert not world.status("Pool", at=world.now).has_quorum
    assert world.status("Pool", at=world.now - 1).has_quorum
