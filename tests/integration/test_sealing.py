"""Sealed perfdata against the real PostgreSQL: closed days packed into blocks, nothing
lost or counted twice (``projections.postgres_blocks``).

Each test folds check results spread over several days with the projection's own fold,
writes the batches to a ``PostgresSink``, seals the days that are over, writes more
(later results, late results for sealed days, every batch again as a redelivery) and
compares what the sink gives back with the in-memory projection fed the same batches.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from projections import fold
from projections.model import InMemoryProjection
from projections.postgres import PostgresSink
from projections.postgres_blocks import BLOCKS, seal
from projections.postgres_blocks import _move as copy_once
from projections.postgres_partitions import list_partitions
from projections.rollups import TIERS, rollup_rows
from projections.rows import PointRow
from projections.state import Changes, ProjectionState
from projections.tables import DAY, PERFDATA_POINTS
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import ServiceCheckResult
from schemas.types import ServiceState, StateType

T0 = 1_790_000_000_000_000 - 1_790_000_000_000_000 % DAY  # a UTC midnight in 2026
HOSTS = ("web1", "web2")


def result(host: str, at: int, value: int) -> Event:
    payload = ServiceCheckResult(
        host_name=host,
        service_description="disk",
        state=ServiceState.OK,
        state_type=StateType.HARD,
        attempt=1,
        max_attempts=3,
        output="OK",
        perfdata=f"used={value}B;80;90;0 free={value * 2}B",
        check_time=at,
    )
    clock = HybridLogicalClock(wall_ms=lambda: at // 1000 + value % 7)
    return Event.create(payload, site="paris", origin="poller-1", clock=clock)


def batches_of(state: ProjectionState, events: list[Event], size: int) -> list[Changes]:
    out = []
    for at in range(0, len(events), size):
        changes = Changes()
        for event in events[at : at + size]:
            fold.apply(state, event, changes)
        out.append(changes)
    return out


@pytest.fixture
def sink(pg_dsn: str) -> Iterator[PostgresSink]:
    schema = f"seal_{uuid.uuid4().hex[:10]}"
    sink = PostgresSink.connect(pg_dsn, schema)
    sink.create_tables()
    sink.load_registers()
    try:
        yield sink
    finally:
        sink.close()
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def held_points(sink: PostgresSink) -> list[PointRow]:
    return [PointRow(*row) for row in sink.read_rows()[PERFDATA_POINTS.name]]


def assert_same(sink: PostgresSink, model: InMemoryProjection) -> None:
    mine, theirs = sink.read_rows(), model.read_rows()
    for name in theirs:
        assert sorted(map(tuple, mine[name])) == sorted(map(tuple, theirs[name])), name
    assert sink.digest(since=0) == model.digest(since=0)
    rows = sink.read_rows()
    points = held_points(sink)
    for tier in TIERS:
        derived = sorted(rollup_rows(points, tier).values())
        assert sorted(map(tuple, rows[tier.table.name])) == [tuple(r) for r in derived]


# Instants within five days, on a 1-minute grid so that results collide now and then.
instants = st.integers(0, 5 * 24 * 60 - 1).map(lambda m: T0 + m * 60_000_000)
histories = st.lists(
    st.tuples(st.sampled_from(HOSTS), instants, st.integers(0, 1000)), min_size=5, max_size=60
)


@settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(first=histories, late=histories, seal_day=st.integers(1, 5), size=st.integers(1, 7))
def test_sealed_days_keep_every_point_once_whatever_comes_after(
    pg_dsn: str,
    first: list[tuple[str, int, int]],
    late: list[tuple[str, int, int]],
    seal_day: int,
    size: int,
) -> None:
    schema = f"seal_{uuid.uuid4().hex[:10]}"
    sink = PostgresSink.connect(pg_dsn, schema)
    try:
        sink.create_tables()
        sink.load_registers()
        model = InMemoryProjection()
        state = ProjectionState()
        before = batches_of(state, [result(*r) for r in first], size)
        for changes in before:
            sink.write(changes)
            model.write(changes)
        # Seal every day that ended before T0 + seal_day days (two hours of grace).
        with psycopg.connect(pg_dsn) as conn:
            sealed = seal(conn, schema, T0 + seal_day * DAY + 2 * 3_600_000_000)
        with sink.conn.transaction(), sink.conn.cursor() as cur:
            left = list_partitions(cur, schema, "perfdata_points")
            blocks = list_partitions(cur, schema, BLOCKS)
        assert all(p.start >= T0 + seal_day * DAY for p in left)
        assert len(sealed) == len({p for p in blocks if p.end <= T0 + seal_day * DAY})
        assert_same(sink, model)
        # Results late for sealed days and later ones, then every batch again.
        after = batches_of(state, [result(*r) for r in late], size)
        for changes in (*after, *before, *after):
            sink.write(changes)
            model.write(changes)
        assert_same(sink, model)
    finally:
        sink.close()
        with psycopg.connect(pg_dsn, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_sealing_while_the_writer_writes_loses_and_doubles_nothing(
    sink: PostgresSink, pg_dsn: str
) -> None:
    state = ProjectionState()
    events = [
        result(HOSTS[i % 2], T0 + i * 600_000_000, i) for i in range(6 * 24 * 6)
    ]  # every 10 minutes, six days
    batches = batches_of(state, events, 20)
    writes = (*batches, *batches[::3])  # and a third of them again
    model = InMemoryProjection()
    for changes in writes:
        model.write(changes)
    failures: list[BaseException] = []
    done = threading.Event()

    def keep_sealing() -> None:
        try:
            with psycopg.connect(pg_dsn) as conn:
                day = 1
                while not done.is_set() and day <= 6:
                    seal(conn, sink.schema, T0 + day * DAY + 2 * 3_600_000_000)
                    day += 1
        except BaseException as exc:  # reported below
            failures.append(exc)

    sealer = threading.Thread(target=keep_sealing)
    sealer.start()
    try:
        for changes in writes:
            sink.write(changes)
    finally:
        done.set()
        sealer.join(timeout=120)
    assert not sealer.is_alive() and not failures, failures
    with psycopg.connect(pg_dsn) as conn:
        seal(conn, sink.schema, T0 + 7 * DAY)
    assert_same(sink, model)
    with sink.conn.transaction(), sink.conn.cursor() as cur:
        assert list_partitions(cur, sink.schema, "perfdata_points") == []
        cur.execute(
            sql.SQL("SELECT sum(cardinality(check_times)) FROM {}.{}").format(
                sql.Identifier(sink.schema), sql.Identifier(BLOCKS)
            )
        )
        row = cur.fetchone()
    assert row is not None and row[0] == 2 * len(events)  # two metrics a result


def test_sealing_again_changes_nothing_and_a_crash_after_the_copy_copies_once(
    sink: PostgresSink, pg_dsn: str
) -> None:
    state = ProjectionState()
    events = [result("web1", T0 + i * 3_600_000_000, i) for i in range(48)]
    model = InMemoryProjection()
    for changes in batches_of(state, events, 10):
        sink.write(changes)
        model.write(changes)
    with psycopg.connect(pg_dsn) as conn:
        # The sealing of the first day crashed after its copy committed, before its
        # partition was dropped: the copy is recorded, so the next run only drops it.
        with conn.transaction():
            conn.execute(
                sql.SQL("INSERT INTO {}.perfdata_sealing VALUES (%s)").format(
                    sql.Identifier(sink.schema)
                ),
                (T0 + DAY,),
            )
        with conn.transaction(), conn.cursor() as cur:
            first_day = list_partitions(cur, sink.schema, "perfdata_points")[0]
        copy_once(conn, sink.schema, first_day.start, first_day.end, first_day.name)
        assert_same(sink, model)  # in both places for now: read once
        assert seal(conn, sink.schema, T0 + 2 * DAY + 2 * 3_600_000_000) != []
        assert seal(conn, sink.schema, T0 + 2 * DAY + 2 * 3_600_000_000) == []
    assert_same(sink, model)
