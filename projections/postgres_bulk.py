"""A sink for a projection rebuilt into a fresh schema: perfdata points loaded in bulk.

Per batch, the ordinary sink inserts points under their primary key and adds them to
every rollup tier (a join and three upserts per batch): most of a rebuild's PostgreSQL
time. A rebuild writes a schema nobody reads yet, so this sink appends each batch's
points to an unlogged table without any index, and ``finish`` keeps the first of each
(metric, check time) in reading order, as the ordinary sink does, and inserts them,
deriving every tier and problem count with one ``GROUP BY`` each: the same rows, by the
same exact sums (``projections.rollups``). As in the live sink, a point older than the raw
points' retention horizon (``retention`` table) is not kept, in no tier either, and each
tier is cut at its own horizon. Everything else is written as by :class:`PostgresSink`.
Until ``finish``, the points and tiers are not there to read (``projections.sink.Sink``).
"""

from __future__ import annotations

from psycopg import sql

from projections.postgres import PostgresSink
from projections.postgres_errors import translating
from projections.postgres_layout import read_horizons
from projections.postgres_series import insert_all

_BULK = "bulk_perfdata_points"
_DISTINCT = "distinct_points"


class BulkSink(PostgresSink):
    """Writes batches like PostgresSink, except points, which wait for :meth:`finish`."""

    @translating("creating projection {schema}")
    def create_tables(self) -> None:
        super().create_tables()
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "CREATE UNLOGGED TABLE {} (seq bigserial, metric_id integer,"
                    " check_time bigint, value double precision, value_text text, problem text)"
                ).format(self._bulk())
            )
        self.series.bulk_table = _BULK

    def _bulk(self) -> sql.Composed:
        return sql.SQL("{}.{}").format(sql.Identifier(self.schema), sql.Identifier(_BULK))

    @translating("inserting the points of {schema}")
    def finish(self) -> None:
        """Insert the points once each, derive their tiers; drop the bulk table."""
        with self.conn.transaction(), self.conn.cursor() as cur:
            cur.execute(
                sql.SQL(
                    "CREATE TEMP TABLE {} ON COMMIT DROP AS"
                    " SELECT DISTINCT ON (metric_id, check_time)"
                    " metric_id, check_time, value, value_text, problem"
                    " FROM {} ORDER BY metric_id, check_time, seq"
                ).format(sql.Identifier(_DISTINCT), self._bulk())
            )
            for statement in insert_all(self.schema, _DISTINCT, read_horizons(cur, self.schema)):
                cur.execute(statement)
            cur.execute(sql.SQL("DROP TABLE {}").format(self._bulk()))
        self.series.bulk_table = None
