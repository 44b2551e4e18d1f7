"""One contract, every sink: the same tests against PostgresSink, BulkSink and InMemoryProjection.

The contract is ``projections.sink.Sink``. Each test draws a history (monitoring events
of several sites, sometimes a pool's events too), reads it the way a projector does
(partitions in turn, batches with their offsets), folds it with the projection's own
fold into one ``Changes`` per write, writes every batch to a fresh sink and calls
``finish``. What the sink gives back must then be what the fold says: the reference
rows are the fold's own registers and the appended rows of its batches (first row of
a key wins), with every rollup tier derived from the points.

As eventsourcing's recorder tests do, the test functions are written once and the
``new_sink`` fixture runs them against every backend; PostgreSQL ones each get a
schema of their own per example, dropped afterwards.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from projections.digest import digest, in_sites, metric_sites
from projections.fold import fold_batch
from projections.model import InMemoryProjection
from projections.postgres import PostgresSink
from projections.postgres_bulk import BulkSink
from projections.rollups import TIERS, rollup_rows
from projections.rows import OffsetRow, PointRow
from projections.sink import Offsets, RowsByTable, Sink
from projections.state import APPEND_TABLES, REGISTER_TABLES, Changes, ProjectionState
from projections.table import Table
from projections.tables import OFFSETS, PERFDATA_METRICS, PERFDATA_POINTS, TABLES
from tests.support.pool_world import pool_histories
from tests.support.scenarios import SITES, LogBatch, read_in_batches, scenarios

NewSink = Callable[[], AbstractContextManager[Sink]]

CONTRACT = settings(
    max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
DIGESTED = tuple(t for t in TABLES if t.digested)


@contextmanager
def _postgres(kind: type[PostgresSink], dsn: str, schema: str) -> Iterator[Sink]:
    sink = kind.connect(dsn, schema)
    try:
        sink.create_tables()
        yield sink
    finally:
        with sink.conn.transaction():
            sink.conn.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )
        sink.close()


@contextmanager
def _memory() -> Iterator[Sink]:
    yield InMemoryProjection()


@pytest.fixture(params=["postgres", "bulk", "memory"])
def new_sink(request: pytest.FixtureRequest) -> NewSink:
    """A maker of fresh, empty sinks of one kind: hypothesis runs many examples per test."""
    if request.param == "memory":
        return _memory
    # Only the PostgreSQL sinks need the server: the in-memory one runs without it.
    dsn: str = request.getfixturevalue("pg_dsn")
    base: str = request.getfixturevalue("pg_schema")
    kind = PostgresSink if request.param == "postgres" else BulkSink
    numbers = itertools.count()
    return lambda: _postgres(kind, dsn, f"{base}_{next(numbers)}")


@st.composite
def histories(draw: st.DrawFn) -> list[LogBatch]:
    """A history as a projector reads it, in batches of one partition each."""
    scenario = draw(scenarios(max_actions=40))
    if draw(st.booleans()):
        for event in draw(pool_histories()).events:
            scenario.append(event)
    rnd = random.Random(draw(st.integers(0, 2**32)))
    return read_in_batches(scenario, rnd, draw(st.integers(1, 12)))


@dataclass
class Folded:
    """The fold of a history: its state after the last batch, and what each write held."""

    state: ProjectionState = field(default_factory=ProjectionState)
    writes: list[Changes] = field(default_factory=list)


def fold(history: list[LogBatch], per_write: int, folded: Folded | None = None) -> Folded:
    """Fold ``history``, ``per_write`` log batches to a write, as the projector does."""
    folded = folded or Folded()
    for i in range(0, len(history), per_write):
        changes = Changes()
        for batch in history[i : i + per_write]:
            last = fold_batch(folded.state, enumerate(batch.events, batch.offset), (), changes)
            row = OffsetRow(batch.site, batch.partition, batch.next_offset, last)
            changes.put(OFFSETS, (batch.site, batch.partition), row)
        folded.writes.append(changes)
    return folded


def written(new_sink: NewSink, folded: Folded) -> AbstractContextManager[Sink]:
    """A fresh sink holding every write of ``folded``, finished."""

    @contextmanager
    def writing() -> Iterator[Sink]:
        with new_sink() as sink:
            for changes in folded.writes:
                sink.write(changes)
            sink.finish()
            yield sink

    return writing()


def reference_rows(folded: Folded, sites: set[str] | None = None) -> RowsByTable:
    """The digested rows the fold says a sink holds, restricted to ``sites``."""
    rows: dict[Table[Any], list[Any]] = {}
    for table in REGISTER_TABLES:
        rows[table] = list(folded.state.rows(table).values())
    for table in APPEND_TABLES:
        first: dict[tuple[Any, ...], Any] = {}
        for changes in folded.writes:
            for row in changes.appended(table):
                first.setdefault(table.key_of(row), row)
        rows[table] = list(first.values())
    for tier in TIERS:
        rows[tier.table] = list(rollup_rows(rows[PERFDATA_POINTS], tier).values())
    metric_site = metric_sites({PERFDATA_METRICS.name: rows[PERFDATA_METRICS]})
    out: RowsByTable = {}
    for table in DIGESTED:
        stored = [table.stored(r) for r in rows[table]]
        out[table.name] = in_sites(table, stored, sites, metric_site)
    return out


def assert_same_rows(actual: RowsByTable, expected: RowsByTable) -> None:
    assert sorted(actual) == sorted(expected)
    for table in DIGESTED:
        mine = sorted(map(tuple, actual[table.name]), key=table.key_of)
        theirs = sorted(map(tuple, expected[table.name]), key=table.key_of)
        assert mine == theirs, table.name


def last_offsets(folded: Folded) -> Offsets:
    offsets: Offsets = {}
    for changes in folded.writes:
        for row in changes.rows(OFFSETS).values():
            offsets.setdefault(row.site, {})[row.partition] = row.next_offset
    return offsets


def assert_registers(sink: Sink, state: ProjectionState) -> None:
    loaded = sink.load_registers()
    assert OFFSETS.name not in loaded  # offsets are read with load_offsets
    reloaded = ProjectionState.from_rows(loaded)
    for table in REGISTER_TABLES:
        if table is not OFFSETS:
            assert reloaded.rows(table) == state.rows(table), table.name


def held(sink: Sink) -> tuple[str, Offsets, dict[Table[Any], dict[Any, Any]]]:
    """What a sink holds, whatever order it gives rows back in."""
    registers = ProjectionState.from_rows(sink.load_registers()).registers
    return sink.digest(since=0), sink.load_offsets(), registers


@given(history=histories(), per_write=st.integers(1, 3), site=st.sampled_from(SITES))
@CONTRACT
def test_rows_read_back_are_the_folds_rows(
    new_sink: NewSink, history: list[LogBatch], per_write: int, site: str
) -> None:
    folded = fold(history, per_write)
    with written(new_sink, folded) as sink:
        assert_same_rows(sink.read_rows(), reference_rows(folded))
        assert_same_rows(sink.read_rows({site}), reference_rows(folded, {site}))


@given(history=histories(), per_write=st.integers(1, 3), site=st.sampled_from(SITES))
@CONTRACT
def test_the_digest_is_the_folds_digest_also_for_one_site(
    new_sink: NewSink, history: list[LogBatch], per_write: int, site: str
) -> None:
    folded = fold(history, per_write)
    with written(new_sink, folded) as sink:
        assert sink.digest() == digest(reference_rows(folded))
        assert sink.digest({site}) == digest(reference_rows(folded), {site})
        # From instant 0 on: the history, audit trail, points and tiers too.
        assert sink.digest(since=0) == digest(reference_rows(folded), since=0)
        assert sink.digest({site}, 0) == digest(reference_rows(folded), {site}, 0)


@given(history=histories(), per_write=st.integers(1, 3), cut=st.integers(0, 100))
@CONTRACT
def test_a_restarted_fold_resumes_from_the_registers_loaded_back(
    new_sink: NewSink, history: list[LogBatch], per_write: int, cut: int
) -> None:
    # The projector's restart: load the registers back and fold on from the offsets.
    split = cut % (len(history) + 1)
    whole = fold(history, per_write)
    with new_sink() as sink:
        before = fold(history[:split], per_write)
        for changes in before.writes:
            sink.write(changes)
        assert_registers(sink, before.state)
        resumed = Folded(ProjectionState.from_rows(sink.load_registers()))
        for changes in fold(history[split:], per_write, resumed).writes:
            sink.write(changes)
        sink.finish()
        assert_registers(sink, whole.state)
        assert sink.digest(since=0) == digest(reference_rows(whole), since=0)


@given(history=histories(), per_write=st.integers(1, 3))
@CONTRACT
def test_load_offsets_gives_the_last_offsets_written(
    new_sink: NewSink, history: list[LogBatch], per_write: int
) -> None:
    folded = fold(history, per_write)
    with new_sink() as sink:
        assert sink.load_offsets() == {}
        for changes in folded.writes[:1]:
            sink.write(changes)
        assert sink.load_offsets() == last_offsets(Folded(writes=folded.writes[:1]))
        for changes in folded.writes[1:]:
            sink.write(changes)
        sink.finish()
        assert sink.load_offsets() == last_offsets(folded)


@given(history=histories(), per_write=st.integers(1, 3), twice=st.sets(st.integers(0, 40)))
@CONTRACT
def test_writing_the_same_batch_twice_changes_nothing(
    new_sink: NewSink, history: list[LogBatch], per_write: int, twice: set[int]
) -> None:
    # At-least-once delivery: a batch whose commit was not acknowledged is written again.
    folded = fold(history, per_write)
    with new_sink() as sink:
        for i, changes in enumerate(folded.writes):
            sink.write(changes)
            if i in twice:
                before = held(sink)
                sink.write(changes)
                assert held(sink) == before
        sink.finish()
        assert_same_rows(sink.read_rows(), reference_rows(folded))
        assert sink.load_offsets() == last_offsets(folded)


@given(history=histories(), per_write=st.integers(1, 3))
@CONTRACT
def test_rollups_are_those_derived_from_the_points(
    new_sink: NewSink, history: list[LogBatch], per_write: int
) -> None:
    # PostgresSink adds each batch's new points to their buckets, BulkSink derives them
    # all in finish, InMemoryProjection on reading: three ways to one answer.
    folded = fold(history, per_write)
    with written(new_sink, folded) as sink:
        rows = sink.read_rows()
        points = [PointRow(*p) for p in rows[PERFDATA_POINTS.name]]
        for tier in TIERS:
            derived = rollup_rows(points, tier).values()
            key = tier.table.key_of
            stored = map(tuple, rows[tier.table.name])
            assert sorted(stored, key=key) == sorted(derived, key=key), tier.name
