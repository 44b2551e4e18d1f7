"""The PostgreSQL sink against a real server: pools, read orders, SQL twins of the as-of rules.

That it holds exactly what the pure fold says (rows, digests, registers, offsets, batches
written twice) is the sink contract, tested against every sink in test_sink_contract.py.
"""

from __future__ import annotations

import random
from decimal import Decimal

import psycopg
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from projections import asof
from projections.digest import canonical as digest_value
from projections.model import InMemoryProjection
from projections.postgres import PostgresSink
from projections.quorum import POOL_TABLES, statuses
from projections.rollups import EXACT, exact
from projections.rows import DowntimeRow, HistoryRow
from projections.state import ProjectionState
from projections.tables import ACKNOWLEDGEMENTS, DOWNTIMES, STATE_HISTORY, STATES
from schemas.event import Event
from tests.support.pool_world import PERIOD, PoolWorld, pool_histories
from tests.support.scenarios import HOST_NAMES, SERVICES, START, STEP, Scenario, scenarios

PG_SETTINGS = settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


def write_in_batches(
    sink: PostgresSink, model: InMemoryProjection, events: list[Event], sizes: list[int]
) -> None:
    it = iter(sizes)
    i = 0
    while i < len(events):
        size = next(it, 7)
        changes = model.apply_batch(events[i : i + size])
        sink.write(changes)
        i += size


@given(world=pool_histories(), sizes=st.lists(st.integers(1, 15)))
@PG_SETTINGS
def test_postgres_holds_the_pools_and_answers_the_same_as_of_any_instant(
    sink_factory: object, world: PoolWorld, sizes: list[int]
) -> None:
    sink = sink_factory()  # type: ignore[operator]
    model = InMemoryProjection()
    write_in_batches(sink, model, world.events, sizes)
    assert sink.digest(since=0) == model.digest(since=0)
    reloaded = ProjectionState.from_rows(sink.load_registers())
    for table in POOL_TABLES:
        assert reloaded.rows(table) == world.state.rows(table), table.name
    for at in (world.now - PERIOD, world.now, world.now + PERIOD):
        assert statuses(reloaded, at) == statuses(world.state, at)


@given(scenario=scenarios(), seeds=st.lists(st.integers(0, 2**32), min_size=2, max_size=2))
@PG_SETTINGS
def test_two_nodes_reading_in_different_orders_agree_in_postgres(
    sink_factory: object, scenario: Scenario, seeds: list[int]
) -> None:
    digests = set()
    for seed in seeds:
        sink, model = sink_factory(), InMemoryProjection()  # type: ignore[operator]
        write_in_batches(sink, model, scenario.interleave(random.Random(seed)), [])
        digests.add(sink.digest(since=0))
    assert len(digests) == 1


@given(
    scenario=scenarios(),
    seed=st.integers(0, 2**32),
    ats=st.lists(st.integers(0, 80), min_size=1, max_size=6),
)
@PG_SETTINGS
def test_sql_and_python_as_of_rules_agree(
    sink_factory: object, scenario: Scenario, seed: int, ats: list[int]
) -> None:
    sink, model = sink_factory(), InMemoryProjection()  # type: ignore[operator]
    write_in_batches(sink, model, scenario.interleave(random.Random(seed)), [])
    rows = model.rows()
    downtimes = [DowntimeRow._make(r) for r in rows[DOWNTIMES.name]]
    history = [HistoryRow._make(r) for r in rows[STATE_HISTORY.name]]
    state = model.state
    with sink.conn.transaction(), sink.conn.cursor() as cur:
        for step in ats:
            at = START + step * STEP // 2
            for host in HOST_NAMES:
                for service in SERVICES:
                    key = (host, service)
                    cur.execute(
                        f'SELECT "{sink.schema}".acknowledged(%s, %s, %s), '
                        f'"{sink.schema}".in_downtime(%s, %s, %s)',
                        (host, service, at, host, service, at),
                    )
                    sql_ack, sql_down = cur.fetchone()
                    ack = asof.acknowledged(
                        state.get(ACKNOWLEDGEMENTS, key), state.get(STATES, key), at
                    )
                    down = asof.in_downtime(host, service, downtimes, history, at)
                    assert (sql_ack, sql_down) == (ack, down), (key, at)


@given(values=st.lists(st.floats(allow_nan=False, allow_infinity=False), min_size=1, max_size=20))
@PG_SETTINGS
def test_postgres_numeric_sums_python_value_text_exactly(pg_dsn: str, values: list[float]) -> None:
    # Rollup sums add the repr of each value as numeric in PostgreSQL, and as Decimal here.
    with psycopg.connect(pg_dsn) as conn:
        (pg_sum,) = conn.execute(
            "SELECT sum(v::numeric) FROM unnest(%s::text[]) AS v", ([repr(v) for v in values],)
        ).fetchone()  # type: ignore[misc]
    total = Decimal(0)
    for value in values:
        total = EXACT.add(total, exact(value))
    assert digest_value(pg_sum) == digest_value(total)
