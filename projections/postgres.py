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

from projections.digest import digest
from projections.errors import ProjectionReplacedError
from projections.postgres_asof import asof_functions
from projections.postgres_columns import add_missing_columns
from projections.postgres_errors import place_of, translated, translating
from projections.rollups import BUCKET
from projections.rows import DeadLetterRow, OffsetRow
from projections.sink import Offsets, RowsByTable
from projections.state import Changes
from projections.table import Table
from projections.tables import (
    DEAD_LETTERS,
    OFFSETS,
    PERFDATA_POINTS,
    PERFDATA_ROLLUPS,
    STATES,
    TABLES,
)

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


#: The one-row table holding the projection's generation, bumped by ``replace_with``.
_GENERATION = "generation"


def connect(dsn: str) -> psycopg.Connection[Any]:
    """A connection to ``dsn`` (not in autocommit); DatabaseUnavailableError if it fails."""
    with translated(f"PostgreSQL at {place_of(dsn)}"):
        return psycopg.connect(dsn, autocommit=False, connect_timeout=10)


def column_list(table: Table[Any]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Identifier(c) for c in table.column_names)


class PostgresSink:
    """One projection in one PostgreSQL schema, written through one connection."""

    def __init__(self, conn: psycopg.Connection[Any], schema: str = "sitelog") -> None:
        self.conn = conn
        self.schema = schema
        self._staged = False
        #: The generation this sink's caller loaded; writes are refused once it changed.
        self.generation: int | None = None

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

    def _complete(self, cur: psycopg.Cursor[Any]) -> bool:
        names = [f"{self.schema}.{name}" for name in (*(t.name for t in TABLES), _GENERATION)]
        cur.execute(
            "SELECT count(*) FROM unnest(%s::text[]) AS n WHERE to_regclass(quote_ident(%s) "
            "|| '.' || quote_ident(split_part(n, '.', 2))) IS NOT NULL",
            (names, self.schema),
        )
        row = cur.fetchone()
        return row is not None and row[0] == len(TABLES) + 1

    @translating("creating projection {schema}")
    def create_tables(self) -> None:
        """Create the schema and its tables if missing, and the columns declared since an
        existing schema was made (``projections.postgres_columns``); idempotent.

        When every table exists nothing is created: ``CREATE INDEX IF NOT EXISTS`` takes a
        SHARE lock before it looks, which would stall a projector writing meanwhile.
        """
        with self.conn.transaction(), self.conn.cursor() as cur:
            if self._complete(cur):
                add_missing_columns(cur, self.schema)
                return
            cur.execute(
                sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(self.schema))
            )
            for table in TABLES:
                columns = [
                    sql.SQL("{} {}{}").format(
                        sql.Identifier(c.name),
                        sql.SQL(c.sql_type),
                        sql.SQL("" if c.nullable else " NOT NULL"),
                    )
                    for c in table.columns
                ]
                columns.append(
                    sql.SQL("PRIMARY KEY ({})").format(
                        sql.SQL(", ").join(map(sql.Identifier, table.primary_key))
                    )
                )
                cur.execute(
                    sql.SQL("CREATE TABLE IF NOT EXISTS {} ({})").format(
                        self._table(table), sql.SQL(", ").join(columns)
                    )
                )
                for index in table.indexes:
                    cur.execute(
                        sql.SQL("CREATE INDEX IF NOT EXISTS {} ON {} ({})").format(
                            sql.Identifier(f"{table.name}_{'_'.join(index)}_idx"),
                            self._table(table),
                            sql.SQL(", ").join(map(sql.Identifier, index)),
                        )
                    )
            cur.execute(asof_functions(self.schema))
            generation = sql.SQL("{}.{}").format(
                sql.Identifier(self.schema), sql.Identifier(_GENERATION)
            )
            cur.execute(
                sql.SQL("CREATE TABLE IF NOT EXISTS {} (value bigint NOT NULL)").format(generation)
            )
            cur.execute(
                sql.SQL("INSERT INTO {0} SELECT 0 WHERE NOT EXISTS (SELECT FROM {0})").format(
                    generation
                )
            )
            add_missing_columns(cur, self.schema)  # of the tables that were there already

    def _stage(self, cur: psycopg.Cursor[Any]) -> None:
        # Temporary tables live as long as the connection; ON COMMIT DELETE ROWS empties
        # them at every commit, so each batch starts from clean staging tables.
        if self._staged:
            return
        for table in TABLES:
            if table.kind == "derived":
                continue
            # Points also stage each value's repr, which the rollup sums add exactly.
            extra = sql.SQL(", value_text text" if table is PERFDATA_POINTS else "")
            cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE IF NOT EXISTS {} (LIKE {}{}) ON COMMIT DELETE ROWS"
                ).format(sql.Identifier(f"stage_{table.name}"), self._table(table), extra)
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
        function = "pg_advisory_xact_lock" if exclusive else "pg_advisory_xact_lock_shared"
        cur.execute(
            sql.SQL("SELECT {}(hashtext(%s))").format(sql.Identifier(function)),
            (f"sitelog projection {self.schema}",),
        )

    def finish(self) -> None:
        """Nothing is pending: each write committed all of its batch (``projections.sink``)."""

    @translating("writing a batch to {schema}")
    def write(self, changes: Changes) -> None:
        """Apply one batch (offsets and dead letters included) in one transaction.

        When the caller loaded a generation, the write is refused with
        ProjectionReplacedError if the projection was replaced since.
        """
        with self.conn.transaction(), self.conn.cursor() as cur:
            if self.generation is not None:
                self._lock(cur, exclusive=False)
                if self._generation(cur) != self.generation:
                    raise ProjectionReplacedError(
                        f"projection {self.schema} was replaced since it was loaded"
                    )
            self._stage(cur)
            for table in TABLES:
                if table.kind == "register":
                    rows: Any = changes.registers[table].values()
                elif table.kind == "append":
                    rows = changes.appends[table]
                else:
                    continue
                if not rows:
                    continue
                self._copy(cur, table, rows)
                if table is PERFDATA_POINTS:
                    self._insert_points_and_rollups(cur)
                else:
                    self._merge(cur, table)

    def _copy(self, cur: psycopg.Cursor[Any], table: Table[Any], rows: Any) -> None:
        stage = sql.Identifier(f"stage_{table.name}")
        columns = column_list(table)
        types = [_COPY_TYPES[c.sql_type] for c in table.columns]
        if table is PERFDATA_POINTS:
            columns = sql.SQL("{}, value_text").format(columns)
            types.append("text")
            rows = ((*row, None if row.value is None else repr(row.value)) for row in rows)
        query = sql.SQL("COPY {} ({}) FROM STDIN (FORMAT BINARY)").format(stage, columns)
        with cur.copy(query) as copy:
            copy.set_types(types)
            for row in rows:
                copy.write_row(row)

    def _merge(self, cur: psycopg.Cursor[Any], table: Table[Any]) -> None:
        stage = sql.Identifier(f"stage_{table.name}")
        keys = sql.SQL(", ").join(map(sql.Identifier, table.primary_key))
        action: sql.Composable
        if table.kind == "append":
            action = sql.SQL("DO NOTHING")
        else:
            action = sql.SQL("DO UPDATE SET {}").format(
                sql.SQL(", ").join(
                    sql.SQL("{0} = EXCLUDED.{0}").format(sql.Identifier(c))
                    for c in table.column_names
                    if c not in table.primary_key
                )
            )
        cur.execute(
            sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} ON CONFLICT ({}) {}").format(
                self._table(table), column_list(table), column_list(table), stage, keys, action
            )
        )

    def _insert_points_and_rollups(self, cur: psycopg.Cursor[Any]) -> None:
        # Only the points this statement really inserts (not a duplicate's) reach the
        # rollups, and every aggregate is order-independent (see projections.rollups).
        # The sum adds the staged value_text (Python's repr), not PostgreSQL's float text,
        # which differs for some large integral values.
        keys = sql.SQL(", ").join(map(sql.Identifier, PERFDATA_POINTS.primary_key))
        cur.execute(
            sql.SQL("""
            WITH inserted AS (
                INSERT INTO {points} ({columns}) SELECT {columns} FROM {stage}
                ON CONFLICT DO NOTHING
                RETURNING {keys}),
            staged AS (SELECT DISTINCT ON ({keys}) * FROM {stage})
            INSERT INTO {rollups} AS r
            SELECT s.host_name, s.service_description, s.label,
                   s.check_time - s.check_time % {bucket}, max(s.target_site), count(s.value),
                   sum(s.value_text::numeric), min(s.value), max(s.value)
            FROM inserted JOIN staged s USING ({keys})
            GROUP BY 1, 2, 3, 4
            ON CONFLICT (host_name, service_description, label, bucket_start) DO UPDATE
            SET target_site = greatest(r.target_site, EXCLUDED.target_site),
                samples = r.samples + EXCLUDED.samples,
                sum = CASE WHEN r.sum IS NULL THEN EXCLUDED.sum
                           WHEN EXCLUDED.sum IS NULL THEN r.sum
                           ELSE r.sum + EXCLUDED.sum END,
                min = least(r.min, EXCLUDED.min), max = greatest(r.max, EXCLUDED.max)
        """).format(
                points=self._table(PERFDATA_POINTS),
                columns=column_list(PERFDATA_POINTS),
                keys=keys,
                stage=sql.Identifier(f"stage_{PERFDATA_POINTS.name}"),
                rollups=self._table(PERFDATA_ROLLUPS),
                bucket=sql.Literal(BUCKET),
            )
        )

    def read_rows(self, sites: Collection[str] | None = None) -> RowsByTable:
        """The digested tables' rows, restricted to ``sites`` when given."""
        out = {}
        with self.conn.transaction(), self.conn.cursor() as cur:
            for table in TABLES:
                if not table.digested:
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

    def digest(self, sites: Collection[str] | None = None) -> str:
        return digest(self.read_rows(sites), sites)

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
            for table in TABLES:
                cur.execute(sql.SQL("TRUNCATE {}").format(self._table(table)))
                cur.execute(
                    sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}.{}").format(
                        self._table(table),
                        column_list(table),
                        column_list(table),
                        sql.Identifier(source),
                        sql.Identifier(table.name),
                    )
                )
            return self.bump_generation()
