"""The projection's layout in PostgreSQL: creating its tables, their time partitions, and
the retention horizons the writer respects.

Tables come from their declarations (``projections.tables``): a table with a
``partition_span`` is ``PARTITION BY RANGE`` of its time column (its primary key then
includes that column, as PostgreSQL requires: an event id still names one row, since an
event has one check time); the perfdata tables have a layout of their own
(``projections.postgres_series``).

The ``retention`` table holds, per time-kept table, the instant from which rows are kept
(``kept_from``). Expiry moves it forward before it drops anything
(``projections.retention``), and the writer leaves out rows older than it, so it never
writes into a partition being dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import psycopg
from psycopg import sql

from projections.postgres_asof import asof_functions
from projections.postgres_blocks import BLOCKS, MOVED, SEALING, blocks_ddl
from projections.postgres_partitions import (
    Partition,
    create_partition,
    list_partitions,
    missing_ranges,
)
from projections.postgres_series import PHYSICAL_COLUMNS, SERIES_TABLES, ddl
from projections.table import Table
from projections.tables import TABLES

__all__ = [
    "GENERATION",
    "PARTITIONED",
    "RETENTION",
    "PartitionCache",
    "copy_projection",
    "create_layout",
    "layout_complete",
    "partitions_of",
    "read_horizons",
]

#: The one-row table holding the projection's generation, bumped by ``replace_with``.
GENERATION = "generation"
#: Per time-kept table, the instant from which its rows are kept.
RETENTION = "retention"
PARTITIONED: tuple[Table[Any], ...] = tuple(t for t in TABLES if t.partition_span is not None)
#: What creating a partition raises when another connection created one meanwhile.
_RACED = (
    psycopg.errors.DuplicateTable,
    psycopg.errors.UniqueViolation,
    psycopg.errors.InvalidObjectDefinition,
)


def _name(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def layout_complete(cur: psycopg.Cursor[Any], schema: str) -> bool:
    """Whether every table of the layout exists in ``schema``."""
    names = [t.name for t in TABLES] + [GENERATION, RETENTION, BLOCKS, SEALING]
    cur.execute(
        "SELECT count(*) FROM unnest(%s::text[]) AS n "
        "WHERE to_regclass(quote_ident(%s) || '.' || quote_ident(n)) IS NOT NULL",
        (names, schema),
    )
    row = cur.fetchone()
    return row is not None and row[0] == len(names)


def create_layout(cur: psycopg.Cursor[Any], schema: str) -> None:
    """Create the schema's missing tables, functions and bookkeeping rows; idempotent."""
    cur.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(schema)))
    for table in TABLES:
        if table not in SERIES_TABLES:
            cur.execute(_create_table(schema, table))
            for index in table.indexes:
                cur.execute(
                    sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                        sql.Identifier(f"{table.name}_{'_'.join(index)}_idx"),
                        _name(schema, table.name),
                        sql.SQL(", ").join(map(sql.Identifier, index)),
                    )
                )
    for statement in (*ddl(schema), *blocks_ddl(schema)):
        cur.execute(statement)
    cur.execute(asof_functions(schema))
    generation = _name(schema, GENERATION)
    cur.execute(sql.SQL("CREATE TABLE IF NOT EXISTS {} (value bigint NOT NULL)").format(generation))
    cur.execute(
        sql.SQL("INSERT INTO {0} SELECT 0 WHERE NOT EXISTS (SELECT FROM {0})").format(generation)
    )
    cur.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (table_name text PRIMARY KEY, kept_from bigint NOT NULL)"
        ).format(_name(schema, RETENTION))
    )


def _create_table(schema: str, table: Table[Any]) -> sql.Composed:
    columns = [
        sql.SQL("{} {}{}").format(
            sql.Identifier(c.name),
            sql.SQL(c.sql_type),
            sql.SQL("" if c.nullable else " NOT NULL"),
        )
        for c in table.stored_columns
    ]
    key = list(table.primary_key)
    partitioned = table.partition_span is not None and table.time_column is not None
    if partitioned and table.time_column not in key:
        key.append(str(table.time_column))
    columns.append(sql.SQL("PRIMARY KEY ({})").format(sql.SQL(", ").join(map(sql.Identifier, key))))
    suffix: sql.Composable = sql.SQL("")
    if partitioned:
        suffix = sql.SQL(" PARTITION BY RANGE ({})").format(sql.Identifier(str(table.time_column)))
    return sql.SQL("CREATE TABLE IF NOT EXISTS {} ({}){}").format(
        _name(schema, table.name), sql.SQL(", ").join(columns), suffix
    )


def read_horizons(cur: psycopg.Cursor[Any], schema: str) -> dict[str, int]:
    """The instant from which each time-kept table keeps its rows (absent: all kept)."""
    cur.execute(sql.SQL("SELECT table_name, kept_from FROM {}").format(_name(schema, RETENTION)))
    return {name: int(kept_from) for name, kept_from in cur}


class PartitionCache:
    """The partitions a sink knows to exist, creating the ones its batches need."""

    def __init__(self, schema: str) -> None:
        self.schema = schema
        self._known: dict[str, list[Partition]] | None = None

    def forget(self) -> None:
        """Read the partitions anew next time (after a failure, or a replacement)."""
        self._known = None

    def ensure(
        self, conn: psycopg.Connection[Any], needs: Mapping[tuple[str, int], Iterable[int]]
    ) -> list[str]:
        """Create, each in a short transaction of its own (a new partition locks its
        parent), the partitions the instants of ``needs`` fall in, by (table name, span)
        (``partitions_of``); their names."""
        created = []
        if self._known is None:
            with conn.transaction(), conn.cursor() as cur:
                names = [t.name for t in PARTITIONED] + [BLOCKS]
                self._known = {n: list_partitions(cur, self.schema, n) for n in names}
        for (table, span), instants in needs.items():
            instants = list(instants)
            for attempt in range(3):
                try:
                    created += self._create(conn, table, span, instants)
                    break
                except _RACED:
                    # Another connection (the node's maintenance creating ahead) made one
                    # meanwhile: read them again and cut to what is still missing.
                    if attempt == 2:
                        raise
                    with conn.transaction(), conn.cursor() as cur:
                        self._known[table] = list_partitions(cur, self.schema, table)
        return created

    def _create(
        self, conn: psycopg.Connection[Any], table: str, span: int, instants: list[int]
    ) -> list[str]:
        assert self._known is not None
        known = self._known[table]
        created = []
        for start, end in missing_ranges(known, span, instants):
            with conn.transaction(), conn.cursor() as cur:
                name = create_partition(cur, self.schema, table, start, end)
                # IF NOT EXISTS skips a table of that name made meanwhile: it must cover.
                if not any(
                    p.start <= start and end <= p.end
                    for p in list_partitions(cur, self.schema, table)
                ):
                    raise psycopg.errors.DuplicateTable(f"{name} exists with other bounds")
            created.append(name)
            known.append(Partition(start, end, name))
        return created


def partitions_of(table: Table[Any]) -> tuple[str, int]:
    """A partitioned table's key in ``PartitionCache.ensure``: its name and span."""
    assert table.partition_span is not None, table
    return table.name, table.partition_span


def copy_projection(cur: psycopg.Cursor[Any], source: str, target: str) -> None:
    """Make every table of ``target`` hold what ``source``'s holds (in the caller's
    transaction): its partitions replaced by ``source``'s, metric ids kept as they are."""
    for table in TABLES:
        if table in PARTITIONED:
            for partition in list_partitions(cur, target, table.name):
                cur.execute(sql.SQL("DROP TABLE {}").format(_name(target, partition.name)))
            for partition in list_partitions(cur, source, table.name):
                create_partition(cur, target, table.name, partition.start, partition.end)
        else:
            cur.execute(sql.SQL("TRUNCATE {}").format(_name(target, table.name)))
        columns = sql.SQL(", ").join(
            map(sql.Identifier, PHYSICAL_COLUMNS.get(table.name, table.stored_names))
        )
        cur.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
                _name(target, table.name), columns, columns, _name(source, table.name)
            )
        )
    # The sealed points: their blocks, and up to when they are sealed.
    for partition in list_partitions(cur, target, BLOCKS):
        cur.execute(sql.SQL("DROP TABLE {}").format(_name(target, partition.name)))
    for partition in list_partitions(cur, source, BLOCKS):
        create_partition(cur, target, BLOCKS, partition.start, partition.end)
    for name in (BLOCKS, SEALING, MOVED):
        if name != BLOCKS:
            cur.execute(sql.SQL("TRUNCATE {}").format(_name(target, name)))
        cur.execute(
            sql.SQL("INSERT INTO {} SELECT * FROM {}").format(
                _name(target, name), _name(source, name)
            )
        )
    # New metrics of the target get ids after the ones copied.
    cur.execute(
        sql.SQL(
            "SELECT setval(pg_get_serial_sequence(quote_ident(%s) || '.perfdata_metrics', "
            "'metric_id'), coalesce((SELECT max(metric_id) FROM {}), 0) + 1, false)"
        ).format(_name(target, "perfdata_metrics")),
        (target,),
    )
