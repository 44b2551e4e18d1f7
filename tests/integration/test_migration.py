"""Converting a projection of the previous layout (issue 17, item 6), on a real PostgreSQL.

A legacy schema is built as the sitelog of commit 8837509 left it: the registers (which
did not change) written by today's sink, and the tables that changed made with the
frozen DDL (``projections.postgres_legacy``) and filled with the rows the old code wrote
for the same events (its ``_record_points`` and 5-minute rollups, reproduced here). The
reference is a fresh projection of those events by today's fold (``InMemoryProjection``),
with the retention the conversion applied.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg import sql

from projections.digest import digest
from projections.metrics import MAX_POINT_TIME
from projections.model import InMemoryProjection
from projections.perfdata import parse_perfdata
from projections.postgres import PostgresSink
from projections.postgres_legacy import legacy_ddl, legacy_layout
from projections.postgres_migrate import migrate
from projections.retention import DAY, HOUR, RetentionPolicy
from projections.rollups import EXACT, TIERS, exact
from projections.tables import (
    AUDIT_LOG,
    PERFDATA_METRICS,
    PERFDATA_POINTS,
    STATE_HISTORY,
    STATES,
    TABLES,
)
from schemas.event import Event
from schemas.hlc import HybridLogicalClock
from schemas.monitoring import HostCheckResult, ServiceCheckResult
from schemas.operations import AcknowledgementSet, CommentAdded
from schemas.types import HostState, ServiceState, StateType, now_us
from tests.support.cli import sitelog
from tests.support.scenarios import Scenario, scenarios

HOSTS = {"web-p1": "paris", "db-l1": "lyon"}
SERVICES = ("", "load")
PERFDATA = (
    "load1=0.5;1;2;0; load5=0.25;1;2;0;",
    "load1=1.25;1;3;0;",
    "load1=U;1;2;0;",
    "load1=7;1;2;0; mem=300MB;;;0;1000",
    "mem=1e15B;;;0; big=12345678901234567890c",  # integral floats PostgreSQL prints otherwise
    "'used space'=99%;80;90;0;100 load1=0.1;1;2;0; load1=9;1;2;0;",  # a label printed twice
    "",
)
#: The old layout's tables of perfdata points and rollups, and the ones it did not have.
NEW_ONLY = (
    "perfdata_metrics",
    "perfdata_thresholds",
    "perfdata_points",
    "perfdata_5m",
    "perfdata_1h",
    "perfdata_1d",
    "perfdata_problems",
    "state_history",
    "audit_log",
    "dead_letters",
    "retention",
)

PG_SETTINGS = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


Step = tuple[int, int, int, int, str]

steps = st.lists(
    st.tuples(
        st.integers(0, len(HOSTS) - 1),
        st.integers(0, len(SERVICES) - 1),
        st.integers(1, 9 * 3600),  # seconds since the previous action
        st.integers(0, len(PERFDATA) - 1),
        st.sampled_from(["check", "check", "check", "again", "ack", "comment"]),
    ),
    min_size=1,
    max_size=40,
)
#: A history of every kind of step, over 8 days, for the tests that are not properties.
FIXED_STEPS: list[Step] = [
    (n % 2, (n // 2) % 2, 4 * 3600 + 97 * n, n % len(PERFDATA), "again" if n % 9 == 8 else "check")
    for n in range(48)
] + [(0, 1, 60, 0, "ack"), (1, 0, 60, 1, "comment")]


def history(steps: list[Step], start: int) -> list[Event]:
    """Check results of two hosts (from ``start``, each step some seconds after the one
    before), with perfdata whose thresholds change, values that are missing,
    redelivered results, and operator actions."""
    now = start
    clocks = {
        origin: HybridLogicalClock(wall_ms=lambda: now // 1000)
        for origin in ("poller-paris", "poller-lyon", "operator@central")
    }
    events: list[Event] = []
    for n, (host_i, service_i, seconds, perfdata_i, kind) in enumerate(steps):
        now += seconds * 1_000_000
        host = sorted(HOSTS)[host_i]
        site = HOSTS[host]
        service = SERVICES[service_i] or None
        if kind == "again" and events:
            events.append(events[n % len(events)])  # a producer retry
            continue
        if kind in ("ack", "comment"):
            payload: Any = (
                AcknowledgementSet(
                    host_name=host, service_description=service, author="alice", comment="on it"
                )
                if kind == "ack"
                else CommentAdded(
                    comment_id=f"c{n}",
                    host_name=host,
                    service_description=service,
                    author="bob",
                    text="x",
                )
            )
            origin = "operator@central"
            events.append(
                Event.create(
                    payload, site="central", origin=origin, clock=clocks[origin], target_site=site
                )
            )
            continue
        common: dict[str, Any] = {
            "host_name": host,
            "state_type": StateType.HARD,
            "attempt": 1,
            "max_attempts": 3,
            "output": f"result {n}",
            "perfdata": PERFDATA[perfdata_i],
            "check_time": now,
            "poller": f"poller-{site}",
        }
        if service:
            result: Any = ServiceCheckResult(
                service_description=service, state=ServiceState(n % 3), **common
            )
        else:
            result = HostCheckResult(state=HostState(n % 2), **common)
        origin = f"poller-{site}"
        events.append(
            Event.create(result, site=site, origin=origin, clock=clocks[origin], target_site=site)
        )
    return events


def old_perfdata_rows(events: list[Event]) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    """The rows the old layout held for ``events``: text-keyed points (its
    ``_record_points``, one per (metric, check time, event)) and 5-minute rollups."""
    points: dict[tuple[Any, ...], tuple[Any, ...]] = {}
    for event in events:
        result = event.payload
        if not isinstance(result, HostCheckResult | ServiceCheckResult) or not result.perfdata:
            continue
        if not 0 <= result.check_time < MAX_POINT_TIME:
            continue
        service = result.service_description or ""
        seen: set[str] = set()
        for m in parse_perfdata(result.perfdata).metrics:
            if m.label in seen:
                continue
            seen.add(m.label)
            key = (result.host_name, service, m.label, result.check_time, event.event_id)
            warn = None if m.warn is None else str(m.warn)
            crit = None if m.crit is None else str(m.crit)
            row = (*key, event.target_site, m.value, m.unit, warn, crit, m.min, m.max)
            points.setdefault(key, row)  # ON CONFLICT DO NOTHING
    buckets: dict[tuple[Any, ...], list[tuple[Any, ...]]] = {}
    for row in points.values():
        buckets.setdefault((*row[:3], TIERS[0].bucket_start(row[3])), []).append(row)
    rollups = []
    for key, members in buckets.items():
        values = [r[6] for r in members if r[6] is not None]
        total = None
        for value in values:
            total = EXACT.add(total or Decimal(0), exact(value))
        site = max(r[5] for r in members)
        rollups.append(
            (*key, site, len(values), total, min(values, default=None), max(values, default=None))
        )
    return list(points.values()), rollups


def build_legacy(
    conn: psycopg.Connection[Any], schema: str, events: list[Event]
) -> InMemoryProjection:
    """Make ``schema`` a projection of ``events`` in the old layout; today's reference."""
    model = InMemoryProjection()
    changes = model.apply_batch(events)
    sink = PostgresSink(conn, schema)
    sink.create_tables()
    sink.write(changes)  # the registers, which did not change
    rows = model.rows()
    points, rollups = old_perfdata_rows(events)
    s = sql.Identifier(schema)
    with conn.transaction(), conn.cursor() as cur:
        for name in NEW_ONLY:
            cur.execute(sql.SQL("DROP TABLE {}.{}").format(s, sql.Identifier(name)))
        for name in ("perfdata_points", "perfdata_rollups", "state_history", "audit_log"):
            for statement in legacy_ddl(schema, name):
                cur.execute(statement)
        for statement in legacy_ddl(schema, "dead_letters"):
            cur.execute(statement)
        fill = [
            ("perfdata_points", points),
            ("perfdata_rollups", rollups),
            ("state_history", rows[STATE_HISTORY.name]),
            ("audit_log", rows[AUDIT_LOG.name]),
            ("dead_letters", [("paris", 0, 7, "undecodable", "bad magic byte", None, b"\x01")]),
        ]
        for name, table_rows in fill:
            if table_rows:
                width = len(table_rows[0])
                cur.executemany(
                    sql.SQL("INSERT INTO {}.{} VALUES ({})").format(
                        s, sql.Identifier(name), sql.SQL(", ").join([sql.Placeholder()] * width)
                    ),
                    table_rows,
                )
        assert legacy_layout(cur, schema) is not None
    return model


def expected(model: InMemoryProjection, policy: RetentionPolicy, now: int) -> InMemoryProjection:
    """The reference as retention leaves it after the conversion: points and tiers from
    their horizons on (history and audit trail are expired later, by the node)."""
    for table in (PERFDATA_POINTS, *(t.table for t in TIERS)):
        kept_from = policy.kept_from(table, now)
        if kept_from is not None:
            model.expire(table, kept_from)
    return model


def assert_converted_like(sink: PostgresSink, reference: InMemoryProjection) -> None:
    """The converted projection holds the reference's rows, the metric versions aside,
    which the old layout did not keep: each is "" or the version of the service's state."""
    got, want = sink.read_rows(), reference.rows()
    version_at = PERFDATA_METRICS.column_names.index("version")
    state_version = STATES.column_names.index("version")
    states = {STATES.key_of(r): bytes(r[state_version]) for r in got[STATES.name]}
    for row in got[PERFDATA_METRICS.name]:
        assert bytes(row[version_at]) in (b"", states.get(tuple(row[:2]))), row
    fixed = dict(got)
    versions = {PERFDATA_METRICS.key_of(r): r[version_at] for r in want[PERFDATA_METRICS.name]}
    fixed[PERFDATA_METRICS.name] = [
        (*r[:version_at], versions.get(PERFDATA_METRICS.key_of(r), r[version_at]))
        for r in got[PERFDATA_METRICS.name]
    ]
    for table in TABLES:
        if table.digested:
            assert sorted(map(tuple, fixed[table.name]), key=table.key_of) == sorted(
                map(tuple, want[table.name]), key=table.key_of
            ), table.name
    assert digest(fixed, since=0) == reference.digest(since=0)


@pytest.fixture
def legacy_schema(pg_dsn: str) -> Iterator[tuple[psycopg.Connection[Any], str]]:
    schema = f"t_{uuid.uuid4().hex[:12]}"
    conn = psycopg.connect(pg_dsn)
    yield conn, schema
    with conn.transaction():
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))
    conn.close()


START = (1_765_000_000_000_000 // DAY) * DAY  # a midnight, 2025-12-06


@given(drawn=steps, points_days=st.integers(1, 4), later=st.integers(0, 5 * 24))
@PG_SETTINGS
def test_a_converted_projection_equals_a_fresh_one_within_retention(
    pg_dsn: str, drawn: list[Step], points_days: int, later: int
) -> None:
    events = history(drawn, START)
    schema = f"t_{uuid.uuid4().hex[:12]}"
    policy = RetentionPolicy(points=points_days * DAY, tier_5m=5 * DAY)
    now = START + points_days * DAY + later * HOUR
    with psycopg.connect(pg_dsn) as conn:
        try:
            model = build_legacy(conn, schema, events)
            report = migrate(conn, schema, policy, now)
            assert report.converted is not None
            assert report.rollups_differing == 0
            sink = PostgresSink(conn, schema)
            sink.create_tables()  # no longer refused
            reference = expected(model, policy, now)
            assert_converted_like(sink, reference)
            assert report.points_kept == len(reference.rows()[PERFDATA_POINTS.name])
            with conn.transaction(), conn.cursor() as cur:
                assert legacy_layout(cur, schema) is None
                cur.execute(
                    sql.SQL("SELECT count(*) FROM {}.dead_letters WHERE recorded_at = %s").format(
                        sql.Identifier(schema)
                    ),
                    (now,),
                )
                assert cur.fetchone() == (1,)
            again = migrate(conn, schema, policy, now)
            assert again.converted is None
        finally:
            with conn.transaction():
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


@given(scenario=scenarios())
@PG_SETTINGS
def test_a_converted_scenario_equals_its_fresh_projection(pg_dsn: str, scenario: Scenario) -> None:
    # Every kind of event over several sites, all within retention (the policy keeps all).
    schema = f"t_{uuid.uuid4().hex[:12]}"
    policy = RetentionPolicy(*([None] * 8))
    with psycopg.connect(pg_dsn) as conn:
        try:
            model = build_legacy(conn, schema, scenario.events)
            migrate(conn, schema, policy, now_us())
            assert_converted_like(PostgresSink(conn, schema), model)
        finally:
            with conn.transaction():
                conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def _toml(path: Path, dsn: str, schema: str, points: str) -> Path:
    path.write_text(
        f'[node]\nname = "n1"\nrole = "remote"\nsite = "paris"\n'
        f'[database]\ndsn = "{dsn}"\nschema = "{schema}"\n'
        f'[retention]\npoints = "{points}"\n'
        # Nothing listens there: the projection is refused before any broker is asked.
        f'[sites.central]\nbootstrap_servers = "127.0.0.1:9"\n'
        f'[sites.paris]\nbootstrap_servers = "127.0.0.1:9"\n'
    )
    return path


def test_a_node_refuses_an_old_schema_in_one_line_and_migrate_converts_it(
    pg_dsn: str, legacy_schema: tuple[psycopg.Connection[Any], str], tmp_path: Path
) -> None:
    conn, schema = legacy_schema
    start = (now_us() // DAY - 6) * DAY
    events = history(FIXED_STEPS, start)
    model = build_legacy(conn, schema, events)
    toml = _toml(tmp_path / "node.toml", pg_dsn, schema, "3d")

    refusals = [
        sitelog("node", "--config", str(toml), timeout=60),
        sitelog("project", "--dsn", pg_dsn, "--schema", schema, "--site", "paris=127.0.0.1:9"),
    ]
    for refused in refusals:
        assert refused.returncode == 2, refused.stderr
        assert "Traceback" not in refused.stderr
        lines = [line for line in refused.stderr.splitlines() if "error" in line]
        assert lines == [
            f"sitelog: error: projection {schema} has the layout of an older sitelog "
            "(text-keyed perfdata_points, perfdata_rollups, unpartitioned state_history, "
            "unpartitioned audit_log): convert it with 'sitelog migrate --config FILE' "
            "(or --dsn/--schema), or rebuild it with 'sitelog replay'"
        ], refused.stderr

    converted = sitelog("migrate", "--config", str(toml), "--keep-old")
    assert converted.returncode == 0, converted.stderr
    assert f"converted projection {schema}" in converted.stdout
    assert "old tables kept: legacy_perfdata_points" in converted.stdout

    sink = PostgresSink(conn, schema)
    sink.create_tables()
    policy = RetentionPolicy(points=3 * DAY)
    points = sink.read_rows()[PERFDATA_POINTS.name]
    kept_from = policy.kept_from(PERFDATA_POINTS, now_us())
    assert kept_from is not None and all(p[3] >= kept_from for p in points)
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL("SELECT count(*) FROM {}.legacy_perfdata_points WHERE check_time < %s").format(
                sql.Identifier(schema)
            ),
            (kept_from,),
        )
        older = cur.fetchone()
        assert older is not None
    # The tiers of the points older than the window remain.
    reference = model.rows()
    one_day = TIERS[2].table.name
    assert sorted(map(tuple, sink.read_rows()[one_day])) == sorted(map(tuple, reference[one_day]))
    if older[0]:
        assert len(points) < len(reference[PERFDATA_POINTS.name])

    again = sitelog("migrate", "--dsn", pg_dsn, "--schema", schema)
    assert again.returncode == 0, again.stderr
    assert again.stdout.strip() == f"projection {schema} has today's layout: nothing to convert"


def test_a_conversion_that_fails_leaves_the_old_layout_as_it_was(
    pg_dsn: str, legacy_schema: tuple[psycopg.Connection[Any], str]
) -> None:
    conn, schema = legacy_schema
    build_legacy(conn, schema, history(FIXED_STEPS, START))
    with conn.transaction():
        conn.execute(
            sql.SQL("CREATE TABLE {}.legacy_audit_log (x int)").format(sql.Identifier(schema))
        )
    failed = sitelog("migrate", "--dsn", pg_dsn, "--schema", schema)
    assert failed.returncode == 2
    assert "Traceback" not in failed.stderr
    assert failed.stderr.strip() == (
        f"sitelog: error: projection {schema}: cannot set audit_log aside, "
        f"{schema}.legacy_audit_log exists already (from an earlier conversion?): "
        "drop it or rename it first"
    )
    missing = sitelog("migrate", "--dsn", pg_dsn, "--schema", f"{schema}_typo")
    assert missing.returncode == 2
    assert missing.stderr.strip() == (
        f"sitelog: error: there is no projection {schema}_typo (no such schema) to convert"
    )
    with conn.transaction(), conn.cursor() as cur:
        assert legacy_layout(cur, schema) == (
            "text-keyed perfdata_points, perfdata_rollups, unpartitioned state_history, "
            "unpartitioned audit_log"
        )
        cur.execute("SELECT to_regclass(%s)", (f"{schema}.perfdata_metrics",))
        assert cur.fetchone() == (None,)
