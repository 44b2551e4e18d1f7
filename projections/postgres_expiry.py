"""Retention in PostgreSQL: creating partitions ahead, and expiring what a policy no
longer keeps (``projections.retention`` decides the horizons; this module applies them).

``expire`` goes in three steps, so that the writer never loses a row it should keep nor
writes into a partition being dropped:

1. in ONE transaction holding the projection's advisory lock exclusively (the writer
   holds it shared while it writes, ``PostgresSink.write``), the ``retention`` rows are
   moved forward (never back: a row already gone stays gone) and committed. Every write
   from then on reads the new horizon and leaves out older rows;
2. every partition whose END is at or before its table's horizon holds only expired
   rows: ``ALTER TABLE ... DETACH PARTITION ... CONCURRENTLY`` (which does not block
   the writer; it runs outside any transaction block, so on an autocommit connection),
   then ``DROP TABLE``. A partition left pending by an interrupted detach
   (``pg_inherits.inhdetachpending``) is finished with ``DETACH ... FINALIZE``, and one
   detached but not dropped (a crash between the two) is dropped, on the next run;
3. the time-kept tables that are not partitioned (threshold changes by ``since``, dead
   letters by ``recorded_at``; a NULL ``recorded_at`` is kept) lose their old rows by
   DELETE in small batches, each its own transaction.

Registers are never touched. psycopg errors become sitelog's (``postgres_errors``): a
lost server is a ``DatabaseUnavailableError``, which the node's maintenance retries.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import psycopg
from psycopg import sql

from projections.postgres_blocks import BLOCKS
from projections.postgres_errors import translated
from projections.postgres_layout import PARTITIONED, RETENTION, read_horizons
from projections.postgres_lock import autocommit, lock_projection
from projections.postgres_partitions import create_partition, list_partitions, missing_ranges
from projections.table import Table
from projections.tables import PERFDATA_POINTS, TABLES

if TYPE_CHECKING:
    from projections.retention import RetentionPolicy

__all__ = ["ExpiryReport", "TableExpiry", "TableStats", "create_ahead", "expire", "table_stats"]

#: Rows per DELETE of a non-partitioned table: short transactions, short locks.
DELETE_BATCH = 5_000
_SUFFIX_RE = re.compile(r"^_p(\d{8})(t\d{6})?$")


@dataclass
class TableExpiry:
    """What one run did to one time-kept table."""

    table: str
    kept_from: int
    dropped: list[str] = field(default_factory=list)
    deleted_rows: int = 0
    bytes_freed: int = 0


@dataclass
class ExpiryReport:
    """What one run of ``expire`` did, by table name."""

    tables: dict[str, TableExpiry] = field(default_factory=dict)

    @property
    def dropped(self) -> list[str]:
        return [name for t in self.tables.values() for name in t.dropped]

    @property
    def bytes_freed(self) -> int:
        return sum(t.bytes_freed for t in self.tables.values())

    def summary(self) -> str:
        """One line: what was dropped and deleted, and from when each table is kept."""
        gone = [
            f"{t.table} -{len(t.dropped)} partitions" for t in self.tables.values() if t.dropped
        ]
        gone += [
            f"{t.table} -{t.deleted_rows} rows" for t in self.tables.values() if t.deleted_rows
        ]
        kept = " ".join(f"{t.table}>={_day(t.kept_from)}" for t in self.tables.values())
        freed = f" ({self.bytes_freed / 1e6:.1f} MB freed)" if self.bytes_freed else ""
        return f"expired {', '.join(gone) or 'nothing'}{freed}; kept from: {kept or 'all'}"


@dataclass(frozen=True)
class TableStats:
    """A table's size on disk (indexes and TOAST included) and estimated rows, summed
    over its partitions; rows are PostgreSQL's estimate (``pg_class.reltuples``)."""

    bytes: int
    rows: int


def _day(instant: int) -> str:
    return datetime.fromtimestamp(instant / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%MZ")


def _name(schema: str, name: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(name))


def expire(
    conn: psycopg.Connection[Any], schema: str, policy: RetentionPolicy, now: int
) -> ExpiryReport:
    """Apply ``policy`` at ``now`` to ``schema`` (the three steps above); what it did.

    ``conn`` must not be in a transaction; it is left as it was (autocommit or not).
    """
    report = ExpiryReport()
    with translated(f"expiring projection {schema}"), autocommit(conn):
        wanted = policy.horizons(now)
        with conn.transaction(), conn.cursor() as cur:
            lock_projection(cur, schema, exclusive=True)
            for name, instant in wanted.items():
                cur.execute(
                    sql.SQL(
                        "INSERT INTO {} AS r (table_name, kept_from) VALUES (%s, %s) "
                        "ON CONFLICT (table_name) DO UPDATE "
                        "SET kept_from = greatest(r.kept_from, EXCLUDED.kept_from)"
                    ).format(_name(schema, RETENTION)),
                    (name, instant),
                )
            horizons = read_horizons(cur, schema)
        for table in TABLES:
            if table.name not in wanted:
                continue
            done = report.tables[table.name] = TableExpiry(table.name, horizons[table.name])
            if table in PARTITIONED:
                _drop_partitions(conn, schema, table.name, done)
            else:
                _delete_rows(conn, schema, table, done)
            if table is PERFDATA_POINTS:
                # Sealed points are points too (projections.postgres_blocks).
                blocks = report.tables[BLOCKS] = TableExpiry(BLOCKS, done.kept_from)
                _drop_partitions(conn, schema, BLOCKS, blocks)
    return report


def _drop_partitions(
    conn: psycopg.Connection[Any], schema: str, table: str, done: TableExpiry
) -> None:
    parent = _name(schema, table)
    with conn.cursor() as cur:
        # First what an interrupted run left: a detach pending, a table detached.
        cur.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "JOIN pg_class p ON p.oid = i.inhparent JOIN pg_namespace n ON n.oid = p.relnamespace "
            "WHERE n.nspname = %s AND p.relname = %s AND i.inhdetachpending",
            (schema, table),
        )
        for (pending,) in cur.fetchall():
            cur.execute(
                sql.SQL("ALTER TABLE {} DETACH PARTITION {} FINALIZE").format(
                    parent, _name(schema, pending)
                )
            )
        for orphan in _detached(cur, schema, table, done.kept_from):
            _drop(cur, schema, orphan, done)
        for partition in list_partitions(cur, schema, table):
            if partition.end > done.kept_from:
                continue  # it may hold a row within the window
            size = _size(cur, schema, partition.name)
            cur.execute(
                sql.SQL("ALTER TABLE {} DETACH PARTITION {} CONCURRENTLY").format(
                    parent, _name(schema, partition.name)
                )
            )
            _drop(cur, schema, partition.name, done, size)


def _detached(cur: psycopg.Cursor[Any], schema: str, table: str, kept_from: int) -> list[str]:
    """Tables named as partitions of ``table`` starting before ``kept_from`` that are no
    longer partitions: only expiry detaches, and it drops what it detached."""
    cur.execute(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = %s AND c.relkind = 'r' AND NOT c.relispartition "
        "AND left(c.relname, %s) = %s",
        (schema, len(table) + 2, f"{table}_p"),
    )
    out = []
    for (name,) in cur.fetchall():
        match = _SUFFIX_RE.match(name[len(table) :])
        if match is None:
            continue
        start = datetime.strptime(match[1] + (match[2] or "t000000"), "%Y%m%dt%H%M%S")
        if int(start.replace(tzinfo=UTC).timestamp()) * 1_000_000 < kept_from:
            out.append(name)
    return out


def _size(cur: psycopg.Cursor[Any], schema: str, name: str) -> int:
    cur.execute(
        "SELECT pg_total_relation_size(to_regclass(quote_ident(%s) || '.' || quote_ident(%s)))",
        (schema, name),
    )
    row = cur.fetchone()
    return int(row[0]) if row and row[0] is not None else 0


def _drop(
    cur: psycopg.Cursor[Any], schema: str, name: str, done: TableExpiry, size: int | None = None
) -> None:
    if size is None:
        size = _size(cur, schema, name)
    cur.execute(sql.SQL("DROP TABLE IF EXISTS {}").format(_name(schema, name)))
    done.dropped.append(name)
    done.bytes_freed += size


def _delete_rows(
    conn: psycopg.Connection[Any], schema: str, table: Table[Any], done: TableExpiry
) -> None:
    target = _name(schema, table.name)
    column = sql.Identifier(str(table.time_column))
    # NULL < kept_from is not true: a dead letter set aside before recorded_at existed stays.
    query = sql.SQL(
        "DELETE FROM {t} WHERE ctid = ANY(ARRAY(SELECT ctid FROM {t} WHERE {c} < %s LIMIT %s))"
    ).format(t=target, c=column)
    with conn.cursor() as cur:
        size = _size(cur, schema, table.name)
        while True:
            cur.execute(query, (done.kept_from, DELETE_BATCH))
            done.deleted_rows += max(cur.rowcount, 0)
            if cur.rowcount < DELETE_BATCH:
                break
        # Deleted rows free space for reuse, not on disk until VACUUM: an estimate.
        if done.deleted_rows:
            done.bytes_freed += max(size - _size(cur, schema, table.name), 0)


def create_ahead(conn: psycopg.Connection[Any], schema: str, now: int) -> list[str]:
    """Create the partitions of ``now`` and of the span after it for every partitioned
    table, each in a short transaction of its own (a new partition locks its parent);
    the names created."""
    created = []
    with translated(f"creating partitions ahead in {schema}"):
        for table in PARTITIONED:
            span = table.partition_span
            assert span is not None, table
            with conn.transaction(), conn.cursor() as cur:
                existing = list_partitions(cur, schema, table.name)
            for start, end in missing_ranges(existing, span, (now, now + span)):
                with conn.transaction(), conn.cursor() as cur:
                    created.append(create_partition(cur, schema, table.name, start, end))
    return created


def table_stats(conn: psycopg.Connection[Any], schema: str) -> dict[str, TableStats]:
    """Every table's bytes and estimated rows, a partitioned one's summed over its
    partitions (``reltuples`` is -1 until a table is first analysed: counted as 0)."""
    names = [*(t.name for t in TABLES), BLOCKS]  # the sealed points' blocks too
    with translated(f"reading table sizes of {schema}"), conn.transaction(), conn.cursor() as cur:
        cur.execute(
            "SELECT p.relname, sum(pg_total_relation_size(c.oid)), "
            "sum(greatest(c.reltuples, 0)) FROM pg_class p "
            "JOIN pg_namespace n ON n.oid = p.relnamespace "
            "LEFT JOIN pg_inherits i ON i.inhparent = p.oid AND p.relkind = 'p' "
            "JOIN pg_class c ON c.oid = CASE WHEN p.relkind = 'p' THEN i.inhrelid ELSE p.oid END "
            "WHERE n.nspname = %s AND p.relname = ANY(%s) GROUP BY p.relname",
            (schema, names),
        )
        found = {name: TableStats(int(size), int(rows)) for name, size, rows in cur}
    return {name: found.get(name, TableStats(0, 0)) for name in names}
