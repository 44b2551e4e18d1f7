"""Bytes on disk per raw perfdata point: the new layout against the previous one, same run.

The same points (``benchmarks.storage_data``: realistic host, service and label names,
three metrics per service, thresholds) go, batch by batch in check order:

- into the new layout through the real ``PostgresSink.write``: the metric dictionary
  (``perfdata_metrics``, ``perfdata_thresholds``), points (metric id, check time, value) in
  day partitions, and the 5m / 1h / 1d tiers it maintains;
- into the previous layout (commit 8837509): the text-keyed ``perfdata_points`` under its
  five-column primary key and the 5-minute ``perfdata_rollups``, written as its sink did
  (binary COPY into a staging table, ``INSERT ... ON CONFLICT DO NOTHING``, rollups grown
  by the points inserted).

Sizes are ``pg_total_relation_size`` (heap, indexes, TOAST, free space and visibility maps)
summed over a table and all its partitions, after a ``VACUUM`` of both layouts alike;
heap (main fork) and indexes are also given apart.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql

from benchmarks.harness import note
from benchmarks.storage_data import (
    DAY,
    EPOCH,
    SECOND,
    first_changes,
    legacy_rows,
    point_changes,
    site_metrics,
)
from projections.postgres import PostgresSink
from projections.postgres_blocks import seal
from projections.postgres_legacy import legacy_ddl
from projections.rollups import BUCKET

_LEGACY_COLUMNS = (
    "host_name, service_description, label, check_time, event_id, target_site, value,"
    " unit, warn, crit, min, max"
)
_LEGACY_TYPES = ["text", "text", "text", "int8", "bytea", "text", "float8"]
_LEGACY_TYPES += ["text", "text", "text", "float8", "float8", "text"]
# The previous sink's merge (projections/postgres.py at 8837509, _insert_points_and_rollups).
_LEGACY_MERGE = """
WITH inserted AS (
    INSERT INTO {s}.perfdata_points ({c}) SELECT {c} FROM stage_legacy_points
    ON CONFLICT DO NOTHING
    RETURNING host_name, service_description, label, check_time, event_id),
staged AS (SELECT DISTINCT ON (host_name, service_description, label, check_time, event_id)
           * FROM stage_legacy_points)
INSERT INTO {s}.perfdata_rollups AS r
SELECT s.host_name, s.service_description, s.label,
       s.check_time - s.check_time % {bucket}, max(s.target_site), count(s.value),
       sum(s.value_text::numeric), min(s.value), max(s.value)
FROM inserted JOIN staged s USING (host_name, service_description, label, check_time, event_id)
GROUP BY 1, 2, 3, 4
ON CONFLICT (host_name, service_description, label, bucket_start) DO UPDATE
SET target_site = greatest(r.target_site, EXCLUDED.target_site),
    samples = r.samples + EXCLUDED.samples,
    sum = CASE WHEN r.sum IS NULL THEN EXCLUDED.sum WHEN EXCLUDED.sum IS NULL THEN r.sum
               ELSE r.sum + EXCLUDED.sum END,
    min = least(r.min, EXCLUDED.min), max = greatest(r.max, EXCLUDED.max)
"""


@dataclass(frozen=True)
class Size:
    """Bytes of a table and all its partitions."""

    total: int  # pg_total_relation_size: everything
    heap: int  # pg_relation_size: the main fork
    index: int  # pg_indexes_size


def relation_size(cur: psycopg.Cursor[Any], schema: str, table: str) -> Size:
    cur.execute(
        "SELECT coalesce(sum(pg_total_relation_size(relid)), 0),"
        " coalesce(sum(pg_relation_size(relid)), 0), coalesce(sum(pg_indexes_size(relid)), 0)"
        # pg_partition_tree gives nothing for a table that is not partitioned.
        " FROM (SELECT relid FROM pg_partition_tree(%(t)s::regclass)"
        " UNION SELECT %(t)s::regclass) AS parts",
        {"t": f'"{schema}"."{table}"'},
    )
    total, heap, index = cur.fetchone() or (0, 0, 0)
    return Size(int(total), int(heap), int(index))


@dataclass(frozen=True)
class SizeFigures:
    points: int
    new: dict[str, Size]  # by table
    legacy: dict[str, Size]
    new_seconds: float  # writing every batch
    legacy_seconds: float
    #: The points' index once rebuilt (REINDEX): what a closed day's partition could be.
    reindexed_points_index: int
    #: The same points once their days are sealed into blocks (projections.postgres_blocks).
    sealed: Size

    def per_point(self, size: Size | int) -> float:
        return (size.total if isinstance(size, Size) else size) / self.points

    @property
    def new_points_bytes(self) -> int:
        """Points, and the metric dictionary's share (metrics and their threshold history)."""
        names = ("perfdata_points", "perfdata_metrics", "perfdata_thresholds")
        return sum(self.new[t].total for t in names)


def _legacy_writer(conn: psycopg.Connection[Any], schema: str) -> None:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
        # The previous layout's tables, as its sink created them (frozen DDL).
        for table in ("perfdata_points", "perfdata_rollups"):
            for statement in legacy_ddl(schema, table):
                cur.execute(statement)
        cur.execute(
            sql.SQL(
                "CREATE TEMP TABLE stage_legacy_points (LIKE {}.perfdata_points,"
                " value_text text) ON COMMIT DELETE ROWS"
            ).format(sql.Identifier(schema))
        )


def _legacy_write(
    conn: psycopg.Connection[Any], schema: str, rows: list[tuple[object, ...]]
) -> None:
    merge = sql.SQL(_LEGACY_MERGE).format(
        s=sql.Identifier(schema), c=sql.SQL(_LEGACY_COLUMNS), bucket=sql.Literal(BUCKET)
    )
    with conn.transaction(), conn.cursor() as cur:
        with cur.copy(
            sql.SQL("COPY stage_legacy_points ({}, value_text) FROM STDIN (FORMAT BINARY)").format(
                sql.SQL(_LEGACY_COLUMNS)
            )
        ) as copy:
            copy.set_types(_LEGACY_TYPES)
            for row in rows:
                copy.write_row((*row, repr(row[6])))
        cur.execute(merge)


def measure(dsn: str, services: int, interval: int, days: float) -> SizeFigures:
    """Fill both layouts with the same points; their sizes."""
    metrics = site_metrics(services, interval)
    ticks_per_batch = max(1, 6_000 // len(metrics))  # about the projector's batches of points
    step = interval * SECOND
    end = EPOCH + int(days * DAY)
    batches = [
        range(t, min(t + ticks_per_batch * step, end), step)
        for t in range(EPOCH, end, ticks_per_batch * step)
    ]
    points = len(metrics) * sum(len(b) for b in batches)
    note(f"storage: {points:,} points of {len(metrics)} metrics into both layouts")
    new_seconds = legacy_seconds = 0.0
    with PostgresSink.connect(dsn, "bench_new") as sink, psycopg.connect(dsn) as legacy:
        sink.create_tables()
        sink.write(first_changes(metrics, "paris", EPOCH))
        _legacy_writer(legacy, "bench_legacy")
        # Both layouts get the same values: one generator each, same seed.
        new_rng, legacy_rng = random.Random(17), random.Random(17)
        for ticks in batches:
            changes = point_changes(metrics, ticks, new_rng)
            rows = list(legacy_rows(metrics, ticks, legacy_rng, "paris"))
            started = time.perf_counter()
            sink.write(changes)
            new_seconds += time.perf_counter() - started
            started = time.perf_counter()
            _legacy_write(legacy, "bench_legacy", rows)
            legacy_seconds += time.perf_counter() - started
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("VACUUM")
        new = {
            t: relation_size(cur, "bench_new", t)
            for t in (
                "perfdata_points",
                "perfdata_metrics",
                "perfdata_thresholds",
                "perfdata_5m",
                "perfdata_1h",
                "perfdata_1d",
                "perfdata_problems",
            )
        }
        legacy_sizes = {
            t: relation_size(cur, "bench_legacy", t)
            for t in ("perfdata_points", "perfdata_rollups")
        }
        cur.execute("SELECT count(*) FROM bench_new.perfdata_points")
        stored = cur.fetchone()
        cur.execute("SELECT count(*) FROM bench_legacy.perfdata_points")
        stored_legacy = cur.fetchone()
        # What-if: a B-tree filled in check order splits pages half-empty (every metric
        # appends inside the key range); rebuilt, it is packed at its 90% fillfactor.
        cur.execute("REINDEX TABLE bench_new.perfdata_points")
        reindexed = relation_size(cur, "bench_new", "perfdata_points").index
    # The days over, as the node's maintenance seals them: one row per metric and hour.
    with psycopg.connect(dsn) as conn:
        seal(conn, "bench_new", end + 3 * DAY)
    with psycopg.connect(dsn, autocommit=True) as conn, conn.cursor() as cur:
        cur.execute("VACUUM")
        sealed = relation_size(cur, "bench_new", "perfdata_blocks")
        cur.execute(
            "SELECT coalesce(sum(cardinality(check_times)), 0) FROM bench_new.perfdata_blocks"
        )
        in_blocks = cur.fetchone()
        left = relation_size(cur, "bench_new", "perfdata_points").total
    assert stored and stored[0] == points, f"new layout holds {stored} of {points} points"
    assert stored_legacy and stored_legacy[0] == points, f"previous layout: {stored_legacy}"
    assert in_blocks and in_blocks[0] == points and left == 0, f"sealed {in_blocks} of {points}"
    return SizeFigures(points, new, legacy_sizes, new_seconds, legacy_seconds, reindexed, sealed)
