"""PostgreSQL sink of the projection: tables, loading registers back, writing one batch.

It is the live projection's sink (the contract is ``projections.sink.Sink``).

``write`` applies a batch's ``Changes`` and the consumed offsets in ONE transaction
(effectively-once: after a crash the projection and its offsets agree, and reading
resumes exactly after the last committed batch). A projection can be replaced whole,
while its writer runs, by one rebuilt from the logs (``replace_with``): each schema
has a generation number that every write checks under a shared advisory lock, which
the replacement takes exclusively, so a writer never mixes its old state into the new
projection; it gets :class:`ProjectionReplacedError` and loads the new one back.

Rows go by binary COPY into temporary staging tables, then one statement per table merges them:
registers ``ON CONFLICT DO UPDATE`` (the fold already chose the winning row),
appended rows ``ON CONFLICT DO NOTHING`` (a duplicate event adds nothing), and the
perfdata rollups grow by the points a batch really inserted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager
from typing import Any, Self

import psycopg
from psycopg import sql

from projections.digest import Since, digest
from projections.errors import ProjectionReplacedError
from projections.postgres_blocks import BLOCKS, read_sealed_before
from projections.postgres_columns import add_missing_columns
from projections.postgres_errors import place_of, translated, translating
from projections.postgres_layout import (
    GENERATION,
    PARTITIONED,
    PartitionCache,
    copy_projection,
    create_layout,
    layout_complete,
    partitions_of,
    read_horizons,
)
from projections.postgres_legacy import refuse_legacy_layout
from projections.postgres_lock import lock_projection
from projections.postgres_series import SERIES_TABLES, SeriesStore
from projections.rows import DeadLetterRow, OffsetRow
from projections.sink import Offsets, RowsByTable
from projections.state import Changes
from projections.table import Table
from projections.tables import DAY, DEAD_LETTERS, OFFSETS, PERFDATA_POINTS, STATES, TABLES

_COPY_TYPES = {
    "text": "text",
    "smallint": "int2",
    "integer": "int4",
    "bigint": "int8",
    "boolean": "bool",
    "bytea": "bytea",
    "double precision": "float8",
    "text[]": "text[]",
}

_GENERATION = GENERATION


def connect(dsn: str) -> psycopg.Connection[Any]:
    """A connection to ``dsn`` (not in autocommit); DatabaseUnavailableError if it fails."""
    with translated(f"PostgreSQL at {place_of(dsn)}"):
        return psycopg.connect(dsn, autocommit=False, connect_timeout=10)


def column_list(table: Table[Any]) -> sql.Composable:
    """The table's stored columns, for SQL."""
    return sql.SQL(", ").join(sql.Identifier(c) for c in table.stored_names)


class PostgresSink:
    """One projection in one PostgreSQL schema, written through one connection."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str = "sitelog") -> None:
        self.conn = conn
        self.schema = schema
        self._staged = False
        #: The generation this sink's caller loaded; writes are refused once it changed.
        self.generation: int | None = None
        self.series = SeriesStore(schema)
        self.partitions = PartitionCache(schema)

    @classmethod
    def connect(cls, dsn: str, schema: str = "sitelog") -> PostgresSink:
        return cls(connect(dsn), schema)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _table(self, table: Table[Any]) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(table.name))

    @translating("creating projection {schema}")
    def create_tables(self) -> None:
        """Create the schema and its tables if missing (``projections.postgres_layout``),
        and the columns declared since an existing schema was made
        (``projections.postgres_columns``); idempotent.

        When every table exists nothing is created: ``CREATE INDEX IF NOT EXISTS`` takes a
        SHARE lock before it looks, which would stall a projector writing meanwhile.
        A schema of an older sitelog's layout is refused (``LegacyLayoutError``).
        """
        with self.conn.transaction(), self.conn.cursor() as cur:
            refuse_legacy_layout(cur, self.schema)
            if not layout_complete(cur, self.schema):
                create_layout(cur, self.schema)
            add_missing_columns(cur, self.schema)

    def _stage(self, cur: psycopg.Cursor[Any]) -> None:
        # Temporary tables live as long as the connection; ON COMMIT DELETE ROWS empties
        # them at every commit, so each batch starts from clean staging tables.
        if self._staged:
            return
        for table in TABLES:
            if table.kind == "derived" or table in SERIES_TABLES:
                continue
            cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}) ON COMMIT DELETE ROWS"
                ).format(sql.Identifier(f"stage_{table.name}"), self._table(table))
            )
        self._staged = True

    @translating("loading projection {schema}")
    def load_registers(self) -> RowsByTable:
        """Every register row, typed, to rebuild the fold's state after a restart."""
        out = {}
        with self.conn.transaction(), self.conn.cursor() as cur:
            for table in TABLES:
                if table.kind == "register" and table is not OFFSETS:
                    cur.execute(
                        sql.SQL("SELECT {} FROM {}").format(column_list(table), self._table(table))
                    )
                    out[table.name] = [table.make(r) for r in cur]
            self.series.load_ids(cur)
        self.partitions.forget()
        return out

    def load_offsets(self) -> Offsets:
        """The next offset to read, by site and partition."""
        offsets: Offsets = {}
        for row in self.load_offset_rows():
            offsets.setdefault(row.site, {})[row.partition] = row.next_offset
        return offsets

    @translating("loading the offsets of {schema}")
    def load_offset_rows(self) -> list[OffsetRow]:
        """Every partition's offset row: the next offset, and the log identity it was read
        with (the last event consumed, the topic id), by site and partition."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM {}").format(column_list(OFFSETS), self._table(OFFSETS))
            )
            return [OFFSETS.make(row) for row in cur]

    @translating("loading the generation of {schema}")
    def load_generation(self) -> int:
        """Read the projection's generation; later writes check that it has not changed."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            self.generation = self._generation(cur)
        return self.generation

    def _generation(self, cur: psycopg.Cursor[Any]) -> int:
        cur.execute(
            sql.SQL("SELECT value FROM {}.{}").format(
                sql.Identifier(self.schema), sql.Identifier(_GENERATION)
            )
        )
        row = cur.fetchone()
        return int(row[0]) if row else 0

    def _lock(self, cur: psycopg.Cursor[Any], *, exclusive: bool) -> None:
        """Writers share the projection's lock; replacing it takes the lock alone."""
        lock_projection(cur, self.schema, exclusive=exclusive)

    def finish(self) -> None:
        """Nothing is pending: each write committed all of its batch (``projections.sink``)."""

    @translating("writing a batch to {schema}")
    def write(self, changes: Changes) -> None:
        """Apply one batch (offsets and dead letters included) in one transaction.

        When the caller loaded a generation, the write is refused with
        ProjectionReplacedError if the projection was replaced since. The partitions the
        batch needs are created first, each in a short transaction of its own.
        """
        try:
            self._ensure_partitions(changes)
            with self.conn.transaction(), self.conn.cursor() as cur:
                if self.generation is not None:
                    self._lock(cur, exclusive=False)
                    if self._generation(cur) != self.generation:
                        raise ProjectionReplacedError(
                            f"projection {self.schema} was replaced since it was loaded"
                        )
                self._write(cur, changes, read_horizons(cur, self.schema))
        except BaseException:
            self.series.rolled_back()
            self.partitions.forget()
            raise
        self.series.committed()

    def _ensure_partitions(self, changes: Changes) -> None:
        with self.conn.transaction(), self.conn.cursor() as cur:
            horizons = read_horizons(cur, self.schema)
            sealed_before = read_sealed_before(cur, self.schema)
        needs: dict[tuple[str, int], list[int]] = {}
        points = [p.check_time for p in changes.appended(PERFDATA_POINTS)]
        for table in PARTITIONED:
            if table in SERIES_TABLES:
                # Points and every tier by the points' check times: a tier's partitions
                # are whole multiples of its buckets, epoch-aligned like them.
                instants = points
            else:
                time_at = table.column_names.index(str(table.time_column))
                instants = [row[time_at] for row in changes.appended(table)]
            kept_from = horizons.get(table.name)
            if kept_from is not None:
                instants = [t for t in instants if t >= kept_from]
            if table is PERFDATA_POINTS and instants:
                # A point of a sealed day goes to its block (projections.postgres_blocks):
                # its day's blocks partition, whatever sealing does until the write reads
                # how far it went; a sealed day needs no points partition again.
                needs[BLOCKS, DAY] = instants
                if sealed_before is not None:
                    instants = [t for t in instants if t >= sealed_before]
            if instants:
                needs[partitions_of(table)] = instants
        if needs:
            self.partitions.ensure(self.conn, needs)

    def _write(self, cur: psycopg.Cursor[Any], changes: Changes, horizons: dict[str, int]) -> None:
        self._stage(cur)
        for table in TABLES:
            if table in SERIES_TABLES:
                continue
            if table.kind == "register":
                rows: Any = changes.registers[table].values()
            elif table.kind == "append":
                rows = _kept(table, changes.appends[table], horizons.get(table.name))
            else:
                continue
            if not rows:
                continue
            self._copy(cur, table, rows)
            self._merge(cur, table)
        self.series.write(cur, changes, horizons.get(PERFDATA_POINTS.name))

    def _copy(self, cur: psycopg.Cursor[Any], table: Table[Any], rows: Any) -> None:
        stage = sql.Identifier(f"stage_{table.name}")
        types = [_COPY_TYPES[c.sql_type] for c in table.stored_columns]
        query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(stage, column_list(table))
        with cur.copy(query) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def _merge(self, cur: psycopg.Cursor[Any], table: Table[Any]) -> None:
        stage = sql.Identifier(f"stage_{table.name}")
        key = list(table.primary_key)
        if table in PARTITIONED and table.time_column not in key:
            key.append(str(table.time_column))
        keys = sql.SQL(", ").join(map(sql.Identifier, key))
        action: sql.Composable
        if table.kind == "append":
            action = sql.SQL("DO NOTHING")
        else:
            action = sql.SQL("DO UPDATE SET {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                    for c in table.stored_names
                    if c not in table.primary_key
                )
            )
        cur.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
                self._table(table), column_list(table), column_list(table), stage, keys, action
            )
        )

    def read_rows(self, sites: Collection[str] | None = None) -> RowsByTable:
        """The digested tables' rows, restricted to ``sites`` when given."""
        out = {}
        with self.conn.transaction(), self.conn.cursor() as cur:
            for table in TABLES:
                if not table.digested:
                    continue
                if table in SERIES_TABLES:
                    out[table.name] = self.series.read_rows(cur, table, sites)
                    continue
                query: sql.Composed = sql.SQL("SELECT {} FROM {}").format(
                    column_list(table), self._table(table)
                )
                if sites is not None:
                    query += sql.SQL(" WHERE target_site = ANY(%s)")
                    cur.execute(query, (list(sites),))
                else:
                    cur.execute(query)
                out[table.name] = cur.fetchall()
        return out

    def subjects_by_site(self) -> dict[str, tuple[int, int]]:
        """How many hosts and services have a current state, by owning site."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "SELECT target_site, count(*) FILTER (WHERE service_description = ''), "
                    "count(*) FILTER (WHERE service_description <> '') FROM {} GROUP BY 1"
                ).format(self._table(STATES))
            )
            return {site: (hosts, services) for site, hosts, services in cur}

    def digest(self, sites: Collection[str] | None = None, since: Since = None) -> str:
        return digest(self.read_rows(sites), sites, since)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """One transaction holding the projection alone: writers wait until it ends.

        Whoever changes the projection outside its writer (re-processed dead letters)
        does it in here and bumps the generation, so the writer loads it back.
        """
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._lock(cur, exclusive=True)
            yield

    def bump_generation(self) -> int:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                sql.SQL("UPDATE {}.{} SET value = value + 1 RETURNING value").format(
                    sql.Identifier(self.schema), sql.Identifier(_GENERATION)
                )
            )
            row = cur.fetchone()
        return int(row[0]) if row else 0

    def load_dead_letters(self) -> list[DeadLetterRow]:
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                sql.SQL("SELECT {} FROM {} ORDER BY site, partition, record_offset").format(
                    column_list(DEAD_LETTERS), self._table(DEAD_LETTERS)
                )
            )
            return [DeadLetterRow._make(row) for row in cur]

    def delete_dead_letters(self, keys: Collection[tuple[str, int, int]]) -> None:
        """Forget the dead letters at (site, partition, offset): they were re-processed."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.executemany(
                sql.SQL(
                    "DELETE FROM {} WHERE site = %s AND partition = %s AND record_offset = %s"
                ).format(self._table(DEAD_LETTERS)),
                list(keys),
            )

    def replace_with(self, source: str) -> int:
        """Make this projection a copy of schema ``source``, atomically; returns the generation.

        One transaction empties every table and copies the source's rows and offsets
        in, then bumps the generation: readers see the old projection or the new one,
        never a mix, and a running writer's next batch is refused (it reloads).
        """
        with self.conn.transaction(), self.conn.cursor() as cur:
            self._lock(cur, exclusive=True)
            copy_projection(cur, source, self.schema)
            generation = self.bump_generation()
        self.partitions.forget()
        return generation


def _kept(table: Table[Any], rows: list[Any], kept_from: int | None) -> list[Any]:
    """The rows of time-kept ``table`` that retention still keeps (all when no horizon)."""
    if kept_from is None or table.time_column is None:
        return rows
    time_at = table.column_names.index(table.time_column)
    return [r for r in rows if r[time_at] is None or r[time_at] >= kept_from]
