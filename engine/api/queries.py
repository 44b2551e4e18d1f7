"""The SQL of the read endpoints, composed with ``psycopg.sql``; no I/O here.

Lists use keyset pagination: rows are ordered by a sort key that ends with the
table's primary key, and a cursor holds the last key served, so the next page starts
strictly after it. A walk through a list therefore never repeats or skips a row whose
sort key does not change during the walk (the default, by name, never changes).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from psycopg import sql

from engine.api.params import encode_cursor
from projections import postgres_asof
from projections.postgres_blocks import BLOCK
from projections.postgres_layout import RETENTION
from projections.table import Table
from projections.tables import STATES


@dataclass
class Select:
    """A SELECT of one table's columns (``r.*`` in column order), plus extra values.

    Clauses are text templates: ``{s}`` stands for the schema, ``{acknowledged}`` and
    ``{in_downtime}`` for the as-of rules over the row ``r``, ``%(name)s`` for a
    parameter. The composed SQL depends on the templates only, never on the values,
    so it is built once per shape and cached as bytes (composing it costs more than
    running it).
    """

    schema: str
    table: Table[Any]
    extra: tuple[str, ...] = ()
    joins: tuple[str, ...] = ()
    where: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)

    def filter(self, clause: str, **params: Any) -> None:
        self.where.append(clause)
        self.params.update(params)

    def page(
        self, sort: Sequence[str], descending: bool, after: tuple[Any, ...] | None, limit: int
    ) -> bytes:
        """One page in ``sort`` order, starting after the key ``after``; limit + 1 rows so
        the caller knows whether another page follows."""
        if after is not None:
            self.params.update({f"after{i}": v for i, v in enumerate(after)})
        self.params["limit"] = limit + 1
        return _compose(
            self.schema,
            self.table,
            self.extra,
            self.joins,
            tuple(self.where),
            (tuple(sort), descending, after is not None),
        )

    def split_page(
        self, rows: list[tuple[Any, ...]], limit: int, sort: str, key: Sequence[str]
    ) -> tuple[list[tuple[Any, ...]], str | None]:
        """The rows of a page fetched with :meth:`page`, and the cursor of the next page
        (None on the last one)."""
        if len(rows) <= limit:
            return rows, None
        rows, names = rows[:limit], self.table.column_names
        return rows, encode_cursor(sort, tuple(rows[-1][names.index(k)] for k in key))

    def query(self) -> bytes:
        return _compose(self.schema, self.table, self.extra, self.joins, tuple(self.where), None)


@functools.lru_cache(maxsize=1024)
def _compose(
    schema: str,
    table: Table[Any],
    extra: tuple[str, ...],
    joins: tuple[str, ...],
    where: tuple[str, ...],
    order: tuple[tuple[str, ...], bool, bool] | None,
) -> bytes:
    s = sql.Identifier(schema)
    text = functools.partial(_text, schema)
    clauses = [text(c) for c in where]
    columns = [sql.SQL("r.{}").format(sql.Identifier(c)) for c in table.column_names]
    query = sql.SQL("SELECT {} FROM {}.{} r{}").format(
        sql.SQL(", ").join([*columns, *map(text, extra)]),
        s,
        sql.Identifier(table.name),
        sql.Composed([text(j) for j in joins]),
    )
    if order is not None:
        sort, descending, after = order
        keys = sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(k)) for k in sort)
        if after:
            marks = sql.SQL(", ").join(sql.Placeholder(f"after{i}") for i in range(len(sort)))
            clauses.append(
                sql.SQL("({}) {} ({})").format(keys, sql.SQL("<" if descending else ">"), marks)
            )
    if clauses:
        query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(clauses)
    if order is not None:
        direction = sql.SQL(" DESC" if descending else " ASC")
        query += sql.SQL(" ORDER BY {} LIMIT %(limit)s").format(
            sql.SQL(", ").join(sql.SQL("r.{}").format(sql.Identifier(k)) + direction for k in sort)
        )
    return query.as_bytes(None)


_ACKNOWLEDGED = sql.SQL("coalesce({}, false)").format(
    postgres_asof.acknowledged_sql(sql.Placeholder("at"), st="r")
)


def _text(schema: str, template: str) -> sql.Composed:
    """A clause template with its rules filled in (see :class:`Select`)."""
    return sql.SQL(template).format(
        s=sql.Identifier(schema),
        acknowledged=_ACKNOWLEDGED,
        in_downtime=postgres_asof.in_downtime_sql(
            schema, sql.SQL("r.host_name"), sql.SQL("r.service_description"), sql.Placeholder("at")
        ),
    )


def states(schema: str, at: int, *, flags: bool = True) -> Select:
    """Current states with their acknowledged and in-downtime flags as of ``at`` (without
    them when not ``flags``: the join they need is there all the same).

    The flags are the as-of rules inlined over the joined rows (see
    ``projections.postgres_asof``), not calls of the schema's functions.
    """
    return Select(
        schema,
        STATES,
        extra=("{acknowledged}", "{in_downtime}") if flags else (),
        joins=(
            " LEFT JOIN {s}.acknowledgements a ON a.host_name = r.host_name"
            " AND a.service_description = r.service_description",
        ),
        params={"at": at},
    )


def problems(select: Select, rank: str, handled: bool | None, after: bool) -> bytes:
    """The problems among ``select``'s states (a ``states`` select without flags), ordered
    unhandled first, then by ``rank`` (a clause over ``r``, worst first), then oldest
    state change first and by name; keyset-paged after ``after0..after4`` when ``after``.
    Each row ends with acknowledged, in_downtime, rank and handled (0 or 1)."""
    return _problems(select.schema, tuple(select.where), rank, handled, after)


#: The subjects in downtime as of ``at``: the in-downtime rule, run only for the subjects
#: of hosts that have a downtime row (a few), instead of once per row of the list. The
#: lists join it by hash; a correlated rule per row cost about 1 µs each and, worse,
#: made the planner's estimate large enough to JIT-compile the query (about 1 s).
_IN_DOWNTIME_SET = (
    "WITH dt AS MATERIALIZED (SELECT r.host_name, r.service_description FROM {s}.states r"
    " WHERE r.host_name IN (SELECT d0.host_name FROM {s}.downtimes d0) AND {in_downtime}) "
)
_IN_DOWNTIME_JOIN = (
    " LEFT JOIN dt ON dt.host_name = r.host_name AND dt.service_description = r.service_description"
)


@functools.lru_cache(maxsize=256)
def _problems(
    schema: str, where: tuple[str, ...], rank: str, handled: bool | None, after: bool
) -> bytes:
    inner = _compose(
        schema,
        STATES,
        (
            "{acknowledged} AS acknowledged",
            "dt.host_name IS NOT NULL AS in_downtime",
            f"{rank} AS rank",
        ),
        (*states(schema, 0).joins, _IN_DOWNTIME_JOIN),
        where,
        None,
    )
    handled_sql = "(p.acknowledged OR p.in_downtime)::int"
    key = f"({handled_sql}, p.rank, p.last_state_change, p.host_name, p.service_description)"
    clauses = []
    if handled is not None:
        clauses.append(handled_sql + (" = 1" if handled else " = 0"))
    if after:
        clauses.append(f"{key} > (%(after0)s, %(after1)s, %(after2)s, %(after3)s, %(after4)s)")
    where_sql = (" WHERE " + " AND ".join(clauses)) if clauses else ""
    return (
        _text(schema, _IN_DOWNTIME_SET).as_bytes(None)
        + f"SELECT p.*, {handled_sql} AS handled FROM (".encode()
        + inner
        + f") p{where_sql} ORDER BY {key[1:-1]} LIMIT %(limit)s".encode()
    )


def state_counts(select: Select) -> bytes:
    """Per (is a host, state) among ``select``'s states (a ``states`` select without
    flags): how many, and how many are unhandled problems as of ``at``."""
    return _state_counts(select.schema, tuple(select.where))


@functools.lru_cache(maxsize=256)
def _state_counts(schema: str, where: tuple[str, ...]) -> bytes:
    text = functools.partial(_text, schema)
    query = text(_IN_DOWNTIME_SET) + sql.SQL(
        "SELECT r.service_description = '' AS is_host, r.state, count(*)::bigint,"
        " (count(*) FILTER (WHERE r.state > 0 AND dt.host_name IS NULL"
        " AND NOT {acknowledged}))::bigint FROM {s}.states r{join}{dt}"
    ).format(
        acknowledged=_ACKNOWLEDGED,
        s=sql.Identifier(schema),
        join=text(states(schema, 0).joins[0]),
        dt=sql.SQL(_IN_DOWNTIME_JOIN),
    )
    if where:
        query += sql.SQL(" WHERE ") + sql.SQL(" AND ").join(text(c) for c in where)
    query += sql.SQL(" GROUP BY 1, 2")
    return query.as_bytes(None)


def filter_acknowledged(select: Select, wanted: bool) -> None:
    """Only acknowledged subjects (or only the others); needs ``states``' join."""
    if wanted:
        # Strict on the joined row, so the planner may start from the few acknowledgements.
        select.filter("a.host_name IS NOT NULL AND {acknowledged}")
    else:
        select.filter("NOT {acknowledged}")


def filter_in_downtime(select: Select, wanted: bool) -> None:
    if wanted:
        # A semi-join on the host first: the rule then runs only for hosts with downtimes.
        select.filter(
            "EXISTS (SELECT 1 FROM {s}.downtimes d0 WHERE d0.host_name = r.host_name)"
            " AND {in_downtime}"
        )
    else:
        select.filter("NOT {in_downtime}")


def filter_groups(select: Select, host_group: str | None, service_group: str | None) -> None:
    if host_group is not None:
        select.filter(
            "EXISTS (SELECT 1 FROM {s}.config_hosts h WHERE h.host_name = r.host_name"
            " AND NOT h.removed AND %(host_group)s = ANY(h.groups))",
            host_group=host_group,
        )
    if service_group is not None:
        select.filter(
            "EXISTS (SELECT 1 FROM {s}.config_services c WHERE c.host_name = r.host_name"
            " AND c.service_description = r.service_description AND NOT c.removed"
            " AND %(service_group)s = ANY(c.groups))",
            service_group=service_group,
        )


def like_pattern(text: str) -> str:
    """An ILIKE pattern matching ``text`` anywhere, its wildcards taken literally."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


# Perfdata (engine.api.series). Points and tiers are read by metric id: their primary
# keys are (metric_id, check_time) and (metric_id, bucket_start), in time partitions, so
# each read is one index range scan per partition the range touches (pruned by time).


@functools.lru_cache(maxsize=64)
def perfdata_metrics(schema: str) -> bytes:
    """A subject's metrics (all, or those of ``labels``) with their latest unit,
    thresholds and bounds, and their perfdata problem counts (NULLs when none)."""
    return (
        sql.SQL(
            "SELECT m.metric_id, m.label, m.unit, m.warn, m.crit, m.min, m.max,"
            " pr.points, pr.last_time, pr.last_problem"
            " FROM {s}.perfdata_metrics m LEFT JOIN {s}.perfdata_problems pr USING (metric_id)"
            " WHERE m.host_name = %(host)s AND m.service_description = %(service)s"
            " AND (%(labels)s::text[] IS NULL OR m.label = ANY(%(labels)s::text[]))"
            " ORDER BY m.label"
        )
        .format(s=sql.Identifier(schema))
        .as_bytes(None)
    )


@functools.lru_cache(maxsize=64)
def perfdata_horizons(schema: str) -> bytes:
    """The retention horizon (``kept_from``) of each of ``tables`` that has one."""
    return (
        sql.SQL(
            "SELECT table_name, kept_from FROM {s}.{r} WHERE table_name = ANY(%(tables)s::text[])"
        )
        .format(s=sql.Identifier(schema), r=sql.Identifier(RETENTION))
        .as_bytes(None)
    )


@functools.lru_cache(maxsize=64)
def perfdata_thresholds(schema: str) -> bytes:
    """Per label of ``labels``: the threshold row in force at ``start`` (the latest since
    at or before it), then the changes after it and before ``end``, oldest first."""
    return (
        sql.SQL(
            "SELECT f.* FROM unnest(%(labels)s::text[]) AS l(label), LATERAL ("
            " SELECT t.label, t.since, t.unit, t.warn, t.crit, t.min, t.max"
            " FROM {s}.perfdata_thresholds t"
            " WHERE t.host_name = %(host)s AND t.service_description = %(service)s"
            " AND t.label = l.label AND t.since <= %(start)s"
            " ORDER BY t.since DESC LIMIT 1) f"
            " UNION ALL"
            " SELECT t.label, t.since, t.unit, t.warn, t.crit, t.min, t.max"
            " FROM {s}.perfdata_thresholds t"
            " WHERE t.host_name = %(host)s AND t.service_description = %(service)s"
            " AND t.label = ANY(%(labels)s::text[])"
            " AND t.since > %(start)s AND t.since < %(end)s"
            " ORDER BY 1, 2"
        )
        .format(s=sql.Identifier(schema))
        .as_bytes(None)
    )


@functools.lru_cache(maxsize=64)
def perfdata_raw(schema: str) -> bytes:
    """The points of the metrics ``ids`` in [start, end), by metric then time; ``limit``."""
    return (
        sql.SQL(
            # Points of open days, and of sealed days (projections.postgres_blocks); a
            # point being sealed is in both for a moment, hence DISTINCT ON.
            "SELECT DISTINCT ON (metric_id, check_time) metric_id, check_time, value FROM ("
            " SELECT p.metric_id, p.check_time, p.value FROM {s}.perfdata_points p"
            " WHERE p.metric_id = ANY(%(ids)s::integer[])"
            " AND p.check_time >= %(start)s::bigint AND p.check_time < %(end)s::bigint"
            " UNION ALL SELECT b.metric_id, u.check_time, u.value FROM {s}.perfdata_blocks b,"
            " unnest(b.check_times, b.point_values) AS u(check_time, value)"
            " WHERE b.metric_id = ANY(%(ids)s::integer[])"
            " AND b.block_start > %(start)s::bigint - {block} AND b.block_start < %(end)s::bigint"
            " AND u.check_time >= %(start)s::bigint AND u.check_time < %(end)s::bigint"
            ") AS points ORDER BY metric_id, check_time LIMIT %(limit)s"
        )
        .format(s=sql.Identifier(schema), block=sql.Literal(BLOCK))
        .as_bytes(None)
    )


@functools.lru_cache(maxsize=64)
def perfdata_tier(schema: str, table: str) -> bytes:
    """The buckets of tier ``table`` of the metrics ``ids`` that start in [origin, end),
    merged into windows of ``step`` from ``origin``: per window its start, samples, exact
    sum (numeric), min, max and last value (that of the latest last_time)."""
    return (
        sql.SQL(
            "SELECT r.metric_id,"
            " %(origin)s::bigint + (r.bucket_start - %(origin)s::bigint)"
            " / %(step)s::bigint * %(step)s::bigint AS t,"
            " sum(r.samples)::bigint, sum(r.sum), min(r.min), max(r.max),"
            " (array_agg(r.last_value ORDER BY r.last_time DESC)"
            " FILTER (WHERE r.last_time IS NOT NULL))[1]"
            " FROM {s}.{t} r WHERE r.metric_id = ANY(%(ids)s::integer[])"
            " AND r.bucket_start >= %(origin)s::bigint AND r.bucket_start < %(end)s::bigint"
            " GROUP BY 1, 2 ORDER BY 1, 2"
        )
        .format(s=sql.Identifier(schema), t=sql.Identifier(table))
        .as_bytes(None)
    )


def subject_site(schema: str) -> sql.Composed:
    """The site owning a subject, from its state or else its host's configuration."""
    return sql.SQL(
        "SELECT target_site FROM {s}.states WHERE host_name = %(host)s"
        " AND service_description = %(service)s"
        " UNION ALL SELECT target_site FROM {s}.config_hosts WHERE host_name = %(host)s"
        " LIMIT 1"
    ).format(s=sql.Identifier(schema))
