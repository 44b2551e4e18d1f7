"""Retention against the real PostgreSQL: expiry drops exactly the partitions wholly older
than their window, leaves registers and the digest alone, agrees with the in-memory model
expired the same way, runs while the projector writes, and runs in a node on a schedule.

Histories are check results and acknowledgements folded with the projection's own fold
(``projections.fold``), their check and event times spread over the past; every write
goes through ``PostgresSink.write`` as the projector's does (generation loaded, so under
the projection's shared lock).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import threading
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import psycopg
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from psycopg import sql

from engine.log.kafka import KafkaSettings
from engine.node.config import NodeConfig, NodeRole
from engine.node.maintenance import Maintenance
from engine.node.node import Node
from engine.web import NodeServer
from projections.fold import fold_batch
from projections.model import InMemoryProjection
from projections.postgres import PostgresSink
from projections.postgres_expiry import create_ahead, expire
from projections.postgres_layout import PARTITIONED, read_horizons
from projections.postgres_partitions import create_partition, list_partitions
from projections.retention import (
    DAY,
    HOUR,
    KEYS,
    TABLE_OF_KEY,
    RetentionPolicy,
)
from projections.rows import DeadLetterRow
from projections.state import Changes, ProjectionState
from projections.tables import DEAD_LETTERS, PERFDATA_POINTS, PERFDATA_THRESHOLDS, STATE_HISTORY
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import ServiceCheckResult
from schemas.operations import AcknowledgementSet
from schemas.types import ServiceState, StateType, now_us

NOW = 1_796_000_000_000_000 + 13 * HOUR  # an instant mid-day, UTC
#: Short windows, so that a few hundred events cover every case.
POLICY = RetentionPolicy(
    points=3 * DAY,
    tier_5m=10 * DAY,
    tier_1h=60 * DAY,
    tier_1d=400 * DAY,
    state_history=40 * DAY,
    audit_log=40 * DAY,
    dead_letters=2 * DAY,
    thresholds=20 * DAY,
)


def history_times(now: int) -> list[int]:
    """Every 6 hours over the last 20 days, every 10 days back to 450 days ago."""
    recent = [now - i * 6 * HOUR for i in range(80)]
    old = [now - 20 * DAY - i * 10 * DAY - 7 * HOUR for i in range(43)]
    return sorted(recent + old)


def events_at(times: list[int], host: str = "web-1") -> list[Event]:
    """Check results (state and thresholds changing every time) and now and then an ack."""
    clock = HybridLogicalClock()
    out = []
    for i, t in enumerate(times):
        result = ServiceCheckResult(
            host_name=host,
            service_description="load",
            state=ServiceState(2 * (i % 2)),
            state_type=StateType.HARD,
            attempt=1,
            max_attempts=3,
            output=f"load {i}",
            perfdata=f"load1={i % 7}.5;{i};{i + 10};0; rta={i}ms",
            check_time=t,
        )
        out.append(Event.create(result, site="paris", origin="poller-1", clock=clock, event_time=t))
        if i % 5 == 0:
            ack = AcknowledgementSet(host_name=host, service_description="load", author="alice")
            out.append(Event.create(ack, site="paris", origin="op", clock=clock, event_time=t))
    return out


def batches(state: ProjectionState, events: list[Event], size: int = 25) -> Iterator[Changes]:
    for start in range(0, len(events), size):
        changes = Changes()
        fold_batch(state, list(enumerate(events[start : start + size], start)), (), changes)
        yield changes


def letter(offset: int, recorded_at: int | None) -> DeadLetterRow:
    return DeadLetterRow("paris", 0, offset, "undecodable", "bad", None, b"x", recorded_at)


@pytest.fixture
def sink(pg_dsn: str, pg_schema: str) -> Iterator[PostgresSink]:
    with PostgresSink.connect(pg_dsn, pg_schema) as made:
        made.create_tables()
        made.load_generation()
        try:
            yield made
        finally:
            with made.conn.transaction():
                made.conn.execute(
                    sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(pg_schema))
                )


@pytest.fixture
def conn(pg_dsn: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(pg_dsn) as made:
        yield made


def fill(sink: PostgresSink, model: InMemoryProjection, events: list[Event]) -> ProjectionState:
    state = ProjectionState()
    for changes in batches(state, events):
        sink.write(changes)
        model.write(changes)
    return state


def partitions(conn: psycopg.Connection[Any], schema: str) -> dict[str, list[Any]]:
    with conn.transaction(), conn.cursor() as cur:
        return {t.name: list_partitions(cur, schema, t.name) for t in PARTITIONED}


def horizons(conn: psycopg.Connection[Any], schema: str) -> dict[str, int]:
    with conn.transaction(), conn.cursor() as cur:
        return read_horizons(cur, schema)


def expired_model(model: InMemoryProjection, kept: dict[str, int]) -> InMemoryProjection:
    for key in KEYS:
        table = TABLE_OF_KEY[key]
        if table.name in kept and table.digested:
            model.expire(table, kept[table.name])
    return model


def test_expiry_drops_exactly_the_partitions_wholly_older_than_the_window(
    sink: PostgresSink, conn: psycopg.Connection[Any]
) -> None:
    # A partition across the horizon (made with another span, then writes fill the gaps
    # around it): it holds rows within the window, so it stays.
    history_horizon = POLICY.kept_from(STATE_HISTORY, NOW)
    assert history_horizon is not None
    across = (history_horizon - 5 * DAY, history_horizon + 10 * DAY)
    with sink.conn.transaction(), sink.conn.cursor() as cur:
        straddling = create_partition(cur, sink.schema, STATE_HISTORY.name, *across)
    model = InMemoryProjection()
    fill(sink, model, events_at(history_times(NOW)))
    letters = Changes()
    for offset, when in enumerate([NOW - 2 * DAY - 1, NOW - 2 * DAY, NOW - DAY, None]):
        letters.append(DEAD_LETTERS, letter(offset, when))
    sink.write(letters)
    before = partitions(conn, sink.schema)
    registers = sink.digest()
    assert registers == model.digest()

    report = expire(conn, sink.schema, POLICY, NOW)

    after = partitions(conn, sink.schema)
    kept = horizons(conn, sink.schema)
    for table in PARTITIONED:
        window, span = POLICY.window(table), table.partition_span
        assert window is not None and span is not None
        horizon = kept[table.name]
        assert horizon == POLICY.kept_from(table, NOW)
        assert horizon <= NOW - window
        gone = {p.name for p in before[table.name] if p.end <= horizon}
        assert set(report.tables[table.name].dropped) == gone, table.name
        assert {p.name for p in after[table.name]} == {p.name for p in before[table.name]} - gone
        # A partition older than the window is gone; one holding a kept instant stays.
        assert all(p.end > NOW - window - span for p in after[table.name])
    assert report.tables[PERFDATA_POINTS.name].dropped, "the history reaches past the window"
    assert straddling in {p.name for p in after[STATE_HISTORY.name]}
    assert any(p.end == across[0] for p in before[STATE_HISTORY.name])  # the gap before it
    assert report.bytes_freed > 0
    assert sink.digest() == registers  # registers and the metric dictionary untouched
    assert sink.digest(since=kept) == expired_model(model, kept).digest(since=kept)
    # Threshold changes and dead letters by age; a dead letter without a time is kept.
    assert report.tables[PERFDATA_THRESHOLDS.name].deleted_rows > 0
    assert kept[PERFDATA_THRESHOLDS.name] == NOW - 20 * DAY
    assert [d.record_offset for d in sink.load_dead_letters()] == [1, 2, 3]
    assert report.tables[DEAD_LETTERS.name].deleted_rows == 1

    # Again at the same instant: nothing more to do. A longer window later never brings
    # a horizon back (the rows are gone).
    again = expire(conn, sink.schema, POLICY, NOW)
    assert again.dropped == [] and horizons(conn, sink.schema) == kept
    longer = dataclasses.replace(POLICY, points=9 * DAY)
    assert expire(conn, sink.schema, longer, NOW).dropped == []
    assert horizons(conn, sink.schema) == kept


def test_a_late_point_older_than_the_horizon_is_dropped_and_counted(
    sink: PostgresSink, conn: psycopg.Connection[Any]
) -> None:
    state = fill(sink, InMemoryProjection(), events_at(history_times(NOW)[-10:]))
    expire(conn, sink.schema, POLICY, NOW)
    kept = horizons(conn, sink.schema)[PERFDATA_POINTS.name]
    late = events_at([kept - HOUR, kept + HOUR], host="late-1")
    for changes in batches(state, late):
        sink.write(changes)
    assert sink.series.dropped_points == 2  # load1 and rta of the check before the horizon
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL(
                "SELECT p.check_time FROM {}.perfdata_points p JOIN {}.perfdata_metrics m "
                "USING (metric_id) WHERE m.host_name = 'late-1' ORDER BY 1"
            ).format(sql.Identifier(sink.schema), sql.Identifier(sink.schema))
        )
        assert [t for (t,) in cur] == [kept + HOUR, kept + HOUR]


def test_what_an_interrupted_run_left_is_finished_on_the_next(
    sink: PostgresSink, conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    fill(sink, InMemoryProjection(), events_at(history_times(NOW)))
    horizon = POLICY.kept_from(PERFDATA_POINTS, NOW)
    assert horizon is not None
    old = [p for p in partitions(conn, sink.schema)[PERFDATA_POINTS.name] if p.end <= horizon]
    parent = sql.SQL("{}.perfdata_points").format(sql.Identifier(sink.schema))
    with psycopg.connect(pg_dsn, autocommit=True) as other, psycopg.connect(pg_dsn) as reader:
        # Detached, not dropped: a crash between the two statements.
        other.execute(
            sql.SQL("ALTER TABLE {} DETACH PARTITION {}.{} CONCURRENTLY").format(
                parent, sql.Identifier(sink.schema), sql.Identifier(old[0].name)
            )
        )
        # Pending: a detach interrupted while it waited for a reader of the table.
        reader.execute(sql.SQL("SELECT count(*) FROM {}").format(parent))
        other.execute("SET statement_timeout = '300ms'")
        with pytest.raises(psycopg.errors.QueryCanceled):
            other.execute(
                sql.SQL("ALTER TABLE {} DETACH PARTITION {}.{} CONCURRENTLY").format(
                    parent, sql.Identifier(sink.schema), sql.Identifier(old[1].name)
                )
            )
        reader.rollback()
        row = other.execute(
            "SELECT inhdetachpending FROM pg_inherits WHERE inhrelid = to_regclass(%s)",
            (f"{sink.schema}.{old[1].name}",),
        ).fetchone()
        assert row == (True,)

    report = expire(conn, sink.schema, POLICY, NOW)

    assert set(report.tables[PERFDATA_POINTS.name].dropped) == {p.name for p in old}
    row = conn.execute(
        "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relname = ANY(%s)",
        (sink.schema, [p.name for p in old]),
    ).fetchone()
    conn.commit()
    assert row == (0,)


def test_expiry_while_the_projector_writes_loses_nothing_within_retention(
    sink: PostgresSink, conn: psycopg.Connection[Any], pg_dsn: str
) -> None:
    model = InMemoryProjection()
    start = NOW - 5 * DAY
    state = fill(sink, model, events_at(history_times(start)))
    # Written meanwhile: the days expiry moves through, all within every window.
    live = events_at([start - DAY + i * 10 * 60_000_000 for i in range(6 * 24 * 6)], "live-1")
    pending = list(batches(state, live, size=10))
    errors: list[BaseException] = []

    def write() -> None:
        try:
            for changes in pending:
                sink.write(changes)
        except BaseException as exc:
            errors.append(exc)

    writer = threading.Thread(target=write)
    writer.start()
    runs, dropped = 0, 0
    while writer.is_alive() or runs < 5:
        # Simulated time: each run a few hours later, as a node's maintenance would be.
        at = start + min(runs, 8) * 3 * HOUR
        create_ahead(conn, sink.schema, at)
        dropped += len(expire(conn, sink.schema, POLICY, at).dropped)
        runs += 1
    writer.join(timeout=60)
    assert not writer.is_alive() and errors == []
    for changes in pending:
        model.write(changes)
    assert dropped > 0 and runs >= 5
    kept = horizons(conn, sink.schema)
    assert sink.series.dropped_points == 0  # every live point was within retention
    assert sink.digest() == model.digest()
    assert sink.digest(since=kept) == expired_model(model, kept).digest(since=kept)


def test_create_ahead_makes_today_and_the_next_span(
    sink: PostgresSink, conn: psycopg.Connection[Any]
) -> None:
    created = create_ahead(conn, sink.schema, NOW)
    assert create_ahead(conn, sink.schema, NOW) == []
    found = partitions(conn, sink.schema)
    for table in PARTITIONED:
        span = table.partition_span
        assert span is not None
        covered = found[table.name]
        for instant in (NOW, NOW + span):
            assert any(p.start <= instant < p.end for p in covered), (table.name, instant)
    assert len(created) == 2 * len(PARTITIONED)


def samples(text: str, name: str) -> dict[str, float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name:
                out[s.labels.get("table", "")] = s.value
    return out


async def test_a_node_runs_maintenance_on_a_schedule_and_shows_it_in_metrics(
    pg_dsn: str, bootstrap: str
) -> None:
    schema = f"rn_{uuid.uuid4().hex[:10]}"
    now = now_us()
    with PostgresSink.connect(pg_dsn, schema) as seed:
        seed.create_tables()
        seed.load_generation()
        fill(seed, InMemoryProjection(), events_at(history_times(now)))
    kafka = KafkaSettings(bootstrap, connect_timeout=5.0)
    config = NodeConfig(
        name="central-r",
        role=NodeRole.CENTRAL,
        site="central",
        dsn=pg_dsn,
        schema=schema,
        listen="127.0.0.1:0",
        sites={"central": kafka},
        retention=POLICY,
        retention_check_interval=0.2,
    )
    try:
        async with Node(config) as node, NodeServer(node) as server:
            assert await node.maintenance.wait_runs(3, timeout=30)
            text = await asyncio.to_thread(
                lambda: urllib.request.urlopen(f"{server.url}/metrics", timeout=10).read().decode()
            )
            oldest = samples(text, "sitelog_table_oldest_kept")
            kept = node.maintenance.last_report
            assert kept is not None
            for name, done in kept.tables.items():
                assert oldest[name] == done.kept_from / 1e6
            assert samples(text, "sitelog_expiry_runs_total")[""] >= 3
            assert samples(text, "sitelog_expiry_dropped_partitions_total")["perfdata_points"] > 0
            assert samples(text, "sitelog_table_bytes")["perfdata_points"] > 0
            assert samples(text, "sitelog_table_bytes")["states"] > 0
            assert "sitelog_table_rows" in text
            assert samples(text, "sitelog_expiry_last_run_timestamp")[""] > now / 1e6
    finally:
        with psycopg.connect(pg_dsn, autocommit=True) as admin:
            admin.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


async def test_an_unreachable_database_is_one_log_line_and_is_retried(
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry = CollectorRegistry()
    maintenance = Maintenance(
        "postgresql://sitelog@127.0.0.1:9/none", "s", POLICY, check_interval=0.2, registry=registry
    )
    with caplog.at_level(logging.WARNING, logger="engine.node.maintenance"):
        async with maintenance:
            deadline = asyncio.get_running_loop().time() + 20
            while (registry.get_sample_value("sitelog_expiry_failures_total") or 0) < 3:
                assert asyncio.get_running_loop().time() < deadline
                await asyncio.sleep(0.05)
    lines = [r for r in caplog.records if r.name == "engine.node.maintenance"]
    assert len(lines) == 1 and "PostgreSQL unavailable" in lines[0].getMessage()
    assert maintenance.runs == 0
