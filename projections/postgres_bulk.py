"""A sink for a projection rebuilt into a fresh schema: perfdata points loaded in bulk.

Per batch, the ordinary sink inserts points under their primary key and adds them
to their rollups (a join, a ``DISTINCT ON`` and an upsert per batch): more than half
of a rebuild's PostgreSQL time. A rebuild writes a schema nobody reads yet, so this
sink appends each batch's points to an unlogged table without any index, and
``finish`` inserts them all, duplicates dropped, and derives every rollup with one
``GROUP BY`` each: the same rows, by the same exact sums (``projections.rollups``).
Everything else is written as by :class:`PostgresSink`. Until ``finish``, the points and
rollups are not there to read (``projections.sink.Sink``).
"""

from __future__ import annotations

from typing import Any

import psycopg
from psycopg import sql

from projections.postgres import PostgresSink, column_list
from projections.postgres_errors import translating
from projections.rollups import BUCKET
from projections.tables import PERFDATA_POINTS, PERFDATA_ROLLUPS

_BULK = "bulk_perfdata_points"


class BulkSink(PostgresSink):
    """Writes batches like PostgresSink, except points, which wait for :meth:`finish`."""

    @translating("creating projection {schema}")
    def create_tables(self) -> None:
        super().create_tables()
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                sql.SQL("CREATE UNLOGGED TABLE {} (LIKE {}, value_text text)").format(
                    self._bulk(), self._table(PERFDATA_POINTS)
                )
            )

    def _bulk(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(_BULK))

    def _insert_points_and_rollups(self, cur: psycopg.Cursor[Any]) -> None:
        cur.execute(
            sql.SQL("INSERT INTO {} SELECT * FROM {}").format(
                self._bulk(), sql.Identifier(f"stage_{PERFDATA_POINTS.name}")
            )
        )

    @translating("inserting the points of {schema}")
    def finish(self) -> None:
        """Insert the points once each and derive their rollups; drop the bulk table."""
        keys = sql.SQL(", ").join(map(sql.Identifier, PERFDATA_POINTS.primary_key))
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE distinct_points ON COMMIT DROP AS "
                    "SELECT DISTINCT ON ({keys}) * FROM {bulk}"
                ).format(keys=keys, bulk=self._bulk())
            )
            cur.execute(
                sql.SQL("INSERT INTO {} ({}) SELECT {} FROM distinct_points").format(
                    self._table(PERFDATA_POINTS),
                    column_list(PERFDATA_POINTS),
                    column_list(PERFDATA_POINTS),
                )
            )
            cur.execute(
                sql.SQL("""
                INSERT INTO {rollups}
                SELECT host_name, service_description, label,
                       check_time - check_time % {bucket}, max(target_site), count(value),
                       sum(value_text::numeric), min(value), max(value)
                FROM distinct_points GROUP BY 1, 2, 3, 4
                """).format(rollups=self._table(PERFDATA_ROLLUPS), bucket=sql.Literal(BUCKET))
            )
            cur.execute(sql.SQL("DROP TABLE {}").format(self._bulk()))
