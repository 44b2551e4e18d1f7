"""Steady load: simulated days of perfdata written and expired, the database size per day.

Simulated time runs as fast as PostgreSQL takes the points: every metric of the site
(``benchmarks.storage_data``) gets a point per check interval, written through the real
``PostgresSink.write`` in batches of about the projector's size. At the end of each
simulated day the node's maintenance runs as it would (``projections.retention``:
``create_ahead`` then ``expire`` with the policy), and the sizes are taken:
``pg_database_size`` and each perfdata table with all its partitions.

Each table grows until its window is full, then stays level: it drops a partition a
day (a tier kept in longer partitions, every 30 or 365 days) as it fills another.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any

import psycopg

from benchmarks.harness import note
from benchmarks.storage_data import DAY, EPOCH, SECOND, first_changes, point_changes, site_metrics
from benchmarks.storage_size import relation_size
from projections.postgres import PostgresSink
from projections.postgres_blocks import seal
from projections.postgres_expiry import create_ahead, expire
from projections.retention import RetentionPolicy

SCHEMA = "bench_steady"
TABLES = {
    "points": ("perfdata_points", "perfdata_blocks"),
    "5m": ("perfdata_5m",),
    "1h": ("perfdata_1h",),
    "1d": ("perfdata_1d",),
    "metrics": ("perfdata_metrics", "perfdata_thresholds"),
}


@dataclass(frozen=True)
class Day:
    """Sizes at the end of one simulated day, after that day's expiry."""

    day: int  # 1 = the end of the first day
    database: int  # pg_database_size
    tables: dict[str, int]  # bytes by TABLES key
    points_kept: int  # raw points in perfdata_points
    dropped: int  # partitions dropped by that day's expiry
    seconds: float  # wall time writing that day's points


def growth_per_day(days: list[Day], first: int, last: int) -> float:
    """Mean database growth per day between the ends of days ``first`` and ``last``."""
    by_day = {d.day: d.database for d in days}
    return (by_day[last] - by_day[first]) / (last - first)


def levels_from(window: int | None, span: int) -> int | None:
    """The first simulated day after whose expiry a table kept ``window`` in partitions of
    ``span`` keeps as many partitions each day (None: it grows for ever): its window,
    rounded up to whole partitions."""
    if window is None:
        return None
    return -(-window // span) * span // DAY


def run(dsn: str, services: int, interval: int, days: int, policy: RetentionPolicy) -> list[Day]:
    metrics = site_metrics(services, interval)
    step = interval * SECOND
    ticks_per_batch = max(1, 6_000 // len(metrics))
    per_day = len(metrics) * (DAY // step)
    note(
        f"storage steady: {days} days of {len(metrics)} metrics every {interval}s"
        f" ({per_day:,} points a day), retention {policy.describe()}"
    )
    rng = random.Random(17)
    out: list[Day] = []
    with PostgresSink.connect(dsn, SCHEMA) as sink, psycopg.connect(dsn) as conn:
        sink.create_tables()
        create_ahead(conn, SCHEMA, EPOCH)
        sink.write(first_changes(metrics, "paris", EPOCH))
        for day in range(days):
            start, end = EPOCH + day * DAY, EPOCH + (day + 1) * DAY
            started = time.perf_counter()
            for t in range(start, end, ticks_per_batch * step):
                sink.write(
                    point_changes(
                        metrics, range(t, min(t + ticks_per_batch * step, end), step), rng
                    )
                )
            seconds = time.perf_counter() - started
            create_ahead(conn, SCHEMA, end)
            report = expire(conn, SCHEMA, policy, end)
            seal(conn, SCHEMA, end + 2 * 3_600_000_000)  # as the node's maintenance does
            dropped = sum(len(t.dropped) for t in report.tables.values())
            out.append(_sizes(conn, day + 1, dropped, seconds))
            d = out[-1]
            note(
                f"storage steady: day {d.day}: database {d.database / 2**20:.1f} MiB, points"
                f" {d.tables['points'] / 2**20:.1f} MiB ({d.points_kept:,}), 5m"
                f" {d.tables['5m'] / 2**20:.1f} MiB, 1h {d.tables['1h'] / 2**20:.1f} MiB, 1d"
                f" {d.tables['1d'] / 2**20:.1f} MiB; {dropped} partitions dropped; {seconds:.1f}s"
            )
    return out


def _sizes(conn: psycopg.Connection[Any], day: int, dropped: int, seconds: float) -> Day:
    with conn.transaction(), conn.cursor() as cur:
        cur.execute("SELECT pg_database_size(current_database())")
        database = int((cur.fetchone() or (0,))[0])
        tables = {
            key: sum(relation_size(cur, SCHEMA, t).total for t in names)
            for key, names in TABLES.items()
        }
        cur.execute(
            f"SELECT (SELECT count(*) FROM {SCHEMA}.perfdata_points)"
            f" + (SELECT coalesce(sum(cardinality(check_times)), 0) FROM {SCHEMA}.perfdata_blocks)"
        )
        kept = int((cur.fetchone() or (0,))[0])
    return Day(day, database, tables, kept, dropped, seconds)
