"""The pure projection: convergence, idempotence and Nagios rules, without Kafka or PostgreSQL."""

from __future__ import annotations

import dataclasses
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.model import InMemoryProjection
from projections.tables import AUDIT_LOG, STATE_HISTORY
from schemas.event import Event
from tests.support.scenarios import SITES, Scenario, scenarios


def project(events: list[Event], batch_sizes: list[int] | None = None) -> InMemoryProjection:
    model = InMemoryProjection()
    sizes = iter(batch_sizes or [])
    i = 0
    while i < len(events):
        size = next(sizes, len(events)) or 1
        model.apply_batch(events[i : i + size])
        i += size
    return model


@given(scenario=scenarios(), seeds=st.lists(st.integers(0, 2**32), min_size=2, max_size=4))
@settings(max_examples=150)
def test_every_interleaving_keeping_partition_order_converges(
    scenario: Scenario, seeds: list[int]
) -> None:
    models = [project(scenario.interleave(random.Random(seed))) for seed in seeds]
    digests = {m.digest(since=0) for m in models}
    assert len(digests) == 1
    for site in SITES:
        assert len({m.digest({site}, since=0) for m in models}) == 1
    rows = [m.rows() for m in models]
    for table in rows[0]:
        assert sorted(map(repr, rows[0][table])) == sorted(map(repr, rows[1][table])), table


@given(scenario=scenarios(), seed=st.integers(0, 2**32), batches=st.lists(st.integers(1, 9)))
@settings(max_examples=100)
def test_batch_boundaries_do_not_matter(scenario: Scenario, seed: int, batches: list[int]) -> None:
    events = scenario.interleave(random.Random(seed))
    assert project(events, batches).digest(since=0) == project(events).digest(since=0)


@given(scenario=scenarios(), seed=st.integers(0, 2**32), cut=st.integers(0, 100))
@settings(max_examples=100)
def test_replaying_a_batch_twice_changes_nothing(scenario: Scenario, seed: int, cut: int) -> None:
    events = scenario.interleave(random.Random(seed))
    split = cut % (len(events) + 1)
    once = project(events)
    twice = InMemoryProjection()
    twice.apply_batch(events[:split])
    twice.apply_batch(events[:split])  # the same batch again, as after a lost commit
    twice.apply_batch(events[split:])
    assert twice.digest(since=0) == once.digest(since=0)


@given(scenario=scenarios(), seed=st.integers(0, 2**32))
@settings(max_examples=100)
def test_a_duplicated_event_is_counted_once(scenario: Scenario, seed: int) -> None:
    events = scenario.interleave(random.Random(seed))
    seen: set[bytes] = set()
    unique = []
    for event in events:  # keep each event where it first arrived
        if event.event_id not in seen:
            seen.add(event.event_id)
            unique.append(event)
    with_duplicates = project(events)
    without = project(unique)
    assert with_duplicates.digest(since=0) == without.digest(since=0)
    history_ids = [r[0] for r in with_duplicates.rows()[STATE_HISTORY.name]]
    assert len(history_ids) == len(set(history_ids))
    audit_ids = {r[0] for r in with_duplicates.rows()[AUDIT_LOG.name]}
    operator_events = {
        e.event_id for e in unique if e.type_name not in ("HostCheckResult", "ServiceCheckResult")
    }
    assert audit_ids == operator_events


@given(scenario=scenarios(), seed=st.integers(0, 2**32))
@settings(max_examples=50)
def test_a_site_subset_digest_only_sees_that_site(scenario: Scenario, seed: int) -> None:
    events = scenario.interleave(random.Random(seed))
    full = project(events)
    paris_only = project([e for e in events if e.target_site == "paris"])
    assert full.digest({"paris"}, since=0) == paris_only.digest({"paris"}, since=0)
    # Changing a lyon event must leave the paris digest alone.
    lyon = [i for i, e in enumerate(events) if e.target_site == "lyon"]
    if lyon:
        changed = list(events)
        changed[lyon[0]] = dataclasses.replace(events[lyon[0]], origin="someone-else")
        assert project(changed).digest({"paris"}, since=0) == full.digest({"paris"}, since=0)
