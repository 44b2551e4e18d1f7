"""Sealed perfdata: the points of closed days packed into one row per metric and hour.

A point row costs about 95 bytes in PostgreSQL (a 24-byte tuple header, a line pointer,
24 bytes of data with padding, and its primary-key entry), most of it overhead. Once a
day is over, its points are only read, so the node's maintenance *seals* it, as
TimescaleDB compresses a closed chunk: each metric's points of each hour become one row
of ``perfdata_blocks`` (metric_id, block_start, check_times[], point_values[]), about 17
bytes a point, and the day's partition of ``perfdata_points`` is dropped.

``perfdata_sealing.sealed_before`` says up to which instant points are sealed. Sealing:

1. under the projection's lock held exclusively (the writer holds it shared while it
   writes), ``sealed_before`` moves forward and commits: from then on the writer sends a
   point older than it to the blocks, never to a points partition;
2. each points partition wholly before it is copied into blocks, in one transaction that
   also records the partition as moved (``perfdata_sealing_moved``), so a crash never
   copies it twice;
3. the partition is detached concurrently and dropped.

A late point for a sealed day (a poller's spool emptied after days) is appended to its
block by the writer, only if neither its block nor a points partition not yet dropped
holds it: effectively once, as for any point (``projections.postgres_series``). Between
steps 2 and 3 a point is in both places, so readers take one row per (metric, check
time): :func:`points_source`.
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from projections.postgres_errors import translated
from projections.postgres_lock import autocommit, lock_projection
from projections.postgres_partitions import create_partition, list_partitions, missing_ranges
from projections.tables import DAY

__all__ = [
    "BLOCK",
    "BLOCKS",
    "MOVED",
    "SEALING",
    "append_sealed",
    "blocks_ddl",
    "points_source",
    "read_sealed_before",
    "seal",
    "sealed_rows",
]

#: One block holds one metric's points of one hour.
BLOCK = 3_600_000_000
BLOCKS = "perfdata_blocks"
SEALING = "perfdata_sealing"
MOVED = "perfdata_sealing_moved"
#: A day is sealed once it ended at least this long ago: results arrive late by minutes.
DEFAULT_GRACE = 2 * BLOCK


def _name(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def blocks_ddl(schema: str) -> list[sql.Composed]:
    """The statements creating the blocks table (partitioned by day, as the points are)
    and the sealing bookkeeping."""
    return [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (metric_id integer NOT NULL,"
            " block_start bigint NOT NULL, check_times bigint[] NOT NULL,"
            " point_values double precision[] NOT NULL,"
            " PRIMARY KEY (metric_id, block_start)) PARTITION BY RANGE (block_start)"
        ).format(_name(schema, BLOCKS)),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (sealed_before bigint NOT NULL)").format(
            _name(schema, SEALING)
        ),
        sql.SQL("CREATE TABLE IF NOT EXISTS {} (partition_start bigint PRIMARY KEY)").format(
            _name(schema, MOVED)
        ),
    ]


def read_sealed_before(cur: psycopg.Cursor[Any], schema: str) -> int | None:
    """Up to which instant points are sealed into blocks (None: nothing is)."""
    cur.execute(sql.SQL("SELECT max(sealed_before) FROM {}").format(_name(schema, SEALING)))
    row = cur.fetchone()
    return None if row is None or row[0] is None else int(row[0])


def points_source(schema: str) -> sql.Composed:
    """A FROM item of every point, sealed or not, once each: (metric_id, check_time, value)."""
    return sql.SQL(
        "(SELECT DISTINCT ON (metric_id, check_time) metric_id, check_time, value FROM ("
        " SELECT metric_id, check_time, value FROM {points}"
        " UNION ALL SELECT b.metric_id, u.check_time, u.value FROM {blocks} b,"
        " unnest(b.check_times, b.point_values) AS u(check_time, value)) AS every_point"
        " ORDER BY metric_id, check_time)"
    ).format(points=_name(schema, "perfdata_points"), blocks=_name(schema, BLOCKS))


def append_sealed(schema: str) -> sql.Composed:
    """A CTE body: the rows of CTE ``sealed`` (:func:`sealed_rows`) appended to their
    blocks (unsorted within a block: readers order by check time)."""
    return sql.SQL("""
    INSERT INTO {blocks} AS r
    SELECT metric_id, check_time - check_time % {block}, array_agg(check_time ORDER BY check_time),
           array_agg(value ORDER BY check_time)
    FROM sealed GROUP BY 1, 2
    ON CONFLICT (metric_id, block_start) DO UPDATE
    SET check_times = r.check_times || EXCLUDED.check_times,
        point_values = r.point_values || EXCLUDED.point_values
    """).format(blocks=_name(schema, BLOCKS), block=sql.Literal(BLOCK))


def sealed_rows(schema: str, source: str, sealed_before: int) -> sql.Composed:
    """A CTE body: the staged rows of days sealed (before ``sealed_before``) that are new:
    no block and no points partition holds them."""
    return sql.SQL("""
    SELECT s.* FROM {source} s
    WHERE s.check_time < {sealed_before}
      AND NOT EXISTS (SELECT FROM {blocks} b WHERE b.metric_id = s.metric_id
                      AND b.block_start = s.check_time - s.check_time % {block}
                      AND s.check_time = ANY(b.check_times))
      AND NOT EXISTS (SELECT FROM {points} p WHERE p.metric_id = s.metric_id
                      AND p.check_time = s.check_time)
    """).format(
        source=sql.Identifier(source),
        blocks=_name(schema, BLOCKS),
        points=_name(schema, "perfdata_points"),
        block=sql.Literal(BLOCK),
        sealed_before=sql.Literal(sealed_before),
    )


def seal(
    conn: psycopg.Connection[Any], schema: str, now: int, grace: int = DEFAULT_GRACE
) -> list[str]:
    """Seal every day of points that ended at least ``grace`` before ``now`` (the steps of
    the module's docstring); the points partitions sealed. ``conn`` must not be in a
    transaction; it is left as it was."""
    until = (now - grace) - (now - grace) % DAY
    sealed: list[str] = []
    with translated(f"sealing the points of {schema}"):
        with conn.transaction(), conn.cursor() as cur:
            lock_projection(cur, schema, exclusive=True)
            current = read_sealed_before(cur, schema)
            if current is None or until > current:
                cur.execute(sql.SQL("DELETE FROM {}").format(_name(schema, SEALING)))
                cur.execute(
                    sql.SQL("INSERT INTO {} VALUES (%s)").format(_name(schema, SEALING)),
                    (max(until, current or until),),
                )
            before = max(until, current or until)
        with conn.transaction(), conn.cursor() as cur:
            partitions = [
                p for p in list_partitions(cur, schema, "perfdata_points") if p.end <= before
            ]
        for partition in partitions:
            _move(conn, schema, partition.start, partition.end, partition.name)
            _detach_and_drop(conn, schema, partition.name)
            sealed.append(partition.name)
    return sealed


def _move(conn: psycopg.Connection[Any], schema: str, start: int, end: int, name: str) -> None:
    """Copy one points partition into blocks, once: the copy and its record commit together."""
    with conn.transaction(), conn.cursor() as cur:
        cur.execute(
            sql.SQL("INSERT INTO {} VALUES (%s) ON CONFLICT DO NOTHING RETURNING 1").format(
                _name(schema, MOVED)
            ),
            (start,),
        )
        if cur.fetchone() is None:
            return  # copied by an earlier run that did not get to drop it
        existing = list_partitions(cur, schema, BLOCKS)
        for low, high in missing_ranges(existing, end - start, (start,)):
            create_partition(cur, schema, BLOCKS, low, high)
        cur.execute(
            sql.SQL("""
            INSERT INTO {blocks} AS r
            SELECT metric_id, check_time - check_time % {block},
                   array_agg(check_time ORDER BY check_time), array_agg(value ORDER BY check_time)
            FROM {points} GROUP BY 1, 2
            ON CONFLICT (metric_id, block_start) DO UPDATE
            SET check_times = r.check_times || EXCLUDED.check_times,
                point_values = r.point_values || EXCLUDED.point_values
            """).format(
                blocks=_name(schema, BLOCKS),
                block=sql.Literal(BLOCK),
                points=_name(schema, name),
            )
        )


def _detach_and_drop(conn: psycopg.Connection[Any], schema: str, name: str) -> None:
    # DETACH ... CONCURRENTLY cannot run in a transaction block, and does not block the
    # writer. One left pending by a crash is finished instead (FINALIZE).
    with autocommit(conn), conn.cursor() as cur:
        cur.execute(
            "SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s",
            (schema, name),
        )
        row = cur.fetchone()
        if row is not None:
            how = sql.SQL("FINALIZE" if row[0] else "CONCURRENTLY")
            cur.execute(
                sql.SQL("ALTER TABLE {} DETACH PARTITION {} {}").format(
                    _name(schema, "perfdata_points"), _name(schema, name), how
                )
            )
        cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_name(schema, name)))
