"""Converting, in place, a projection made by the previous layout (``projections.postgres_legacy``).

``migrate`` does it in ONE transaction holding the projection's advisory lock exclusively
(as ``PostgresSink.exclusive``), so that no writer runs meanwhile, and bumps the
generation, so that a writer that ran before reloads; a failure leaves the old layout
as it was. The tables of the old layout are renamed aside (``legacy_perfdata_points``...),
today's layout is created beside them (``projections.postgres_layout``), and:

- the metric dictionary gets one row per (host, service, label) of the old points, with
  the site, unit, thresholds and bounds of its latest point (by check time, then event
  id). Its version is the version of that point's result when the service's current
  state (``states.version``) is that result, else ``b""``, which sorts before every
  version: any later result wins the register, as it would have;
- the threshold history gets a row at each check time where a metric's unit, thresholds
  or bounds differ from its previous point's (the first point's included);
- points are one per (metric, check time), the first by event id where two results share
  a check time; only those within the points' retention window are kept;
- the rollup tiers are derived from ALL the old points (so they keep what raw retention
  drops), exactly as the live sink adds points to them (``insert_points_and_tiers``):
  each value's exact sum is that of its Python ``repr``, staged beside it here as the
  sink stages it, never PostgreSQL's float text. Buckets older than a tier's own window
  are not written (expiry would drop them). The old 5-minute rollups are a function of
  the old points (the old layout deleted nothing); the buckets that disagree with the
  new 5-minute tier are counted in the report (none, unless points were deleted by hand);
- state history and audit trail rows move into the partitioned tables, all of them
  (retention applies at the next expiry); dead letters set aside before ``recorded_at``
  existed are stamped with ``now``.

Perfdata problem counts start empty: the old layout did not keep what failed to parse.
The old tables are dropped at the end, unless ``keep_old``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

from projections.errors import DatabaseError
from projections.postgres_columns import add_missing_columns
from projections.postgres_errors import translated
from projections.postgres_layout import GENERATION, RETENTION, create_layout
from projections.postgres_legacy import legacy_tables
from projections.postgres_lock import lock_projection
from projections.postgres_partitions import create_partition, list_partitions, missing_ranges
from projections.postgres_series import _tier_upsert
from projections.retention import RetentionPolicy
from projections.rollups import TIERS
from projections.table import Table
from projections.tables import AUDIT_LOG, PERFDATA_POINTS, STATE_HISTORY

__all__ = ["MigrationReport", "migrate"]

_STAGE = "migrate_points"
_CHUNK = 50_000
_KEY = sql.SQL("host_name, service_description, label")


@dataclass
class MigrationReport:
    """What a conversion did; ``converted`` is None when there was nothing to convert."""

    schema: str
    converted: str | None = None
    metrics: int = 0
    thresholds: int = 0
    points_kept: int = 0
    points_dropped: int = 0  # older than the points' window
    points_merged: int = 0  # a second result of a metric at the same check time
    points_from: int | None = None
    tier_buckets: dict[str, int] = field(default_factory=dict)
    rollups_differing: int = 0
    state_history: int = 0
    audit_log: int = 0
    dead_letters_stamped: int = 0
    kept_old: tuple[str, ...] = ()
    generation: int | None = None

    def lines(self) -> list[str]:
        """The report as printed by ``sitelog migrate``."""
        if self.converted is None:
            return [f"projection {self.schema} has today's layout: nothing to convert"]
        tiers = ", ".join(f"{n} {self.tier_buckets.get(t.name, 0)}" for t, n in _TIER_NAMES)
        window = "all kept" if self.points_from is None else f"kept from {_iso(self.points_from)}"
        out = [
            f"converted projection {self.schema} ({self.converted}), generation {self.generation}",
            f"  metrics {self.metrics}, threshold changes {self.thresholds}",
            f"  points kept {self.points_kept}, dropped by retention {self.points_dropped}"
            f" ({window}), merged (same metric and check time) {self.points_merged}",
            f"  rollup buckets: {tiers}",
            f"  state history rows {self.state_history}, audit rows {self.audit_log},"
            f" dead letters stamped {self.dead_letters_stamped}",
        ]
        if self.rollups_differing:
            out.append(
                f"  warning: {self.rollups_differing} old 5-minute rollups differ from the"
                " points they were made of (points deleted by hand?); the tiers follow the points"
            )
        if self.kept_old:
            out.append(f"  old tables kept: {', '.join(self.kept_old)}")
        return out


_TIER_NAMES = [(tier, tier.name) for tier in TIERS]


def _iso(instant: int) -> str:
    return datetime.fromtimestamp(instant / 1_000_000, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _name(schema: str, table: str) -> sql.Composed:
    return sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(table))


def _horizons(policy: RetentionPolicy, now: int) -> dict[Table[Any], int | None]:
    """From when the points and each tier keep their rows, as expiry computes it:
    ``now - window`` down to the partition boundary (nothing within the window is lost)."""
    return {t: policy.kept_from(t, now) for t in (PERFDATA_POINTS, *(t.table for t in TIERS))}


def _record_horizon(cur: psycopg.Cursor[Any], schema: str, table: str, at: int) -> None:
    """What was left out is gone: the writer leaves out rows older than it, as after expiry."""
    cur.execute(
        sql.SQL(
            "INSERT INTO {} AS r (table_name, kept_from) VALUES (%s, %s) ON CONFLICT (table_name)"
            " DO UPDATE SET kept_from = greatest(r.kept_from, EXCLUDED.kept_from)"
        ).format(_name(schema, RETENTION)),
        (table, at),
    )


def migrate(
    conn: psycopg.Connection[Any],
    schema: str,
    policy: RetentionPolicy,
    now: int,
    *,
    keep_old: bool = False,
) -> MigrationReport:
    """Convert ``schema`` from the previous layout (see the module's docstring)."""
    report = MigrationReport(schema)
    with translated(f"migrating projection {schema}"), conn.transaction(), conn.cursor() as cur:
        lock_projection(cur, schema, exclusive=True)
        cur.execute("SELECT FROM pg_namespace WHERE nspname = %s", (schema,))
        if cur.fetchone() is None:
            raise DatabaseError(f"there is no projection {schema} (no such schema) to convert")
        found = legacy_tables(cur, schema)
        if not found:
            return report
        report.converted = ", ".join(found.values())
        for table in found:
            _set_aside(cur, schema, table)
        create_layout(cur, schema)
        add_missing_columns(cur, schema)
        cur.execute(
            sql.SQL("UPDATE {} SET recorded_at = %s WHERE recorded_at IS NULL").format(
                _name(schema, "dead_letters")
            ),
            (now,),
        )
        report.dead_letters_stamped = cur.rowcount
        if "perfdata_points" in found:
            _metrics(cur, schema, report)
            _points_and_tiers(conn, cur, schema, policy, now, report)
            if "perfdata_rollups" in found:
                report.rollups_differing = _rollups_differing(cur, schema, policy, now)
        if "state_history" in found:
            report.state_history = _move(cur, schema, STATE_HISTORY)
        if "audit_log" in found:
            report.audit_log = _move(cur, schema, AUDIT_LOG)
        cur.execute(
            sql.SQL("UPDATE {} SET value = value + 1 RETURNING value").format(
                _name(schema, GENERATION)
            )
        )
        row = cur.fetchone()
        report.generation = int(row[0]) if row else None
        for table in found:
            if keep_old:
                report.kept_old += (f"legacy_{table}",)
            else:
                cur.execute(sql.SQL("DROP TABLE {}").format(_name(schema, f"legacy_{table}")))
    return report


def _set_aside(cur: psycopg.Cursor[Any], schema: str, table: str) -> None:
    """Rename ``table`` and its indexes (their names are the new tables' too) aside."""
    aside = f"legacy_{table}"
    cur.execute("SELECT to_regclass(%s)", (f"{_quoted(schema)}.{_quoted(aside)}",))
    row = cur.fetchone()
    if row is not None and row[0] is not None:
        raise DatabaseError(
            f"projection {schema}: cannot set {table} aside, {schema}.{aside} exists already"
            f" (from an earlier conversion?): drop it or rename it first"
        )
    cur.execute(
        "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_class t ON t.oid = x.indrelid JOIN pg_namespace n ON n.oid = t.relnamespace"
        " WHERE n.nspname = %s AND t.relname = %s ORDER BY i.relname",
        (schema, table),
    )
    indexes = [name for (name,) in cur.fetchall()]
    cur.execute(
        sql.SQL("ALTER TABLE {} RENAME TO {}").format(_name(schema, table), sql.Identifier(aside))
    )
    # Short names: "legacy_" before a long index name would pass PostgreSQL's 63 bytes.
    for n, index in enumerate(indexes):
        cur.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}").format(
                _name(schema, index), sql.Identifier(f"{aside}_{n}_idx")
            )
        )


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _distinct_points(schema: str, columns: str) -> sql.Composed:
    """The old points, one per (metric, check time): the first by event id."""
    return sql.SQL(
        "SELECT DISTINCT ON (host_name, service_description, label, check_time) {} FROM {}"
        " ORDER BY host_name, service_description, label, check_time, event_id"
    ).format(sql.SQL(columns), _name(schema, "legacy_perfdata_points"))


def _metrics(cur: psycopg.Cursor[Any], schema: str, report: MigrationReport) -> None:
    legacy = _name(schema, "legacy_perfdata_points")
    cur.execute(
        sql.SQL("""
        INSERT INTO {metrics} (host_name, service_description, label, target_site, unit, warn,
                               crit, min, max, version)
        SELECT DISTINCT ON (p.host_name, p.service_description, p.label)
               p.host_name, p.service_description, p.label, p.target_site, p.unit, p.warn,
               p.crit, p.min, p.max,
               -- A version ends with its event id (projections.version).
               CASE WHEN length(s.version) >= length(p.event_id) AND substring(s.version
                         FROM length(s.version) - length(p.event_id) + 1) = p.event_id
                    THEN s.version ELSE ''::bytea END
        FROM {legacy} p LEFT JOIN {states} s
          ON s.host_name = p.host_name AND s.service_description = p.service_description
        ORDER BY p.host_name, p.service_description, p.label, p.check_time DESC,
                 p.event_id DESC
        """).format(
            metrics=_name(schema, "perfdata_metrics"), legacy=legacy, states=_name(schema, "states")
        )
    )
    report.metrics = cur.rowcount
    cur.execute(
        sql.SQL("""
        INSERT INTO {thresholds} (host_name, service_description, label, since, target_site,
                                  unit, warn, crit, min, max)
        SELECT host_name, service_description, label, check_time, target_site, unit, warn,
               crit, min, max
        FROM (SELECT p.*, row_number() OVER w AS n, lag(unit) OVER w AS unit0,
                     lag(warn) OVER w AS warn0, lag(crit) OVER w AS crit0,
                     lag(min) OVER w AS min0, lag(max) OVER w AS max0
              FROM ({points}) p
              WINDOW w AS (PARTITION BY host_name, service_description, label
                           ORDER BY check_time)) c
        WHERE n = 1 OR unit IS DISTINCT FROM unit0 OR warn IS DISTINCT FROM warn0
           OR crit IS DISTINCT FROM crit0 OR min IS DISTINCT FROM min0
           OR max IS DISTINCT FROM max0
        """).format(
            thresholds=_name(schema, "perfdata_thresholds"),
            points=_distinct_points(
                schema,
                "host_name, service_description, label, check_time, target_site, unit, warn,"
                " crit, min, max",
            ),
        )
    )
    report.thresholds = cur.rowcount


def _points_and_tiers(
    conn: psycopg.Connection[Any],
    cur: psycopg.Cursor[Any],
    schema: str,
    policy: RetentionPolicy,
    now: int,
    report: MigrationReport,
) -> None:
    legacy = _name(schema, "legacy_perfdata_points")
    kept_from = _horizons(policy, now)
    report.points_from = kept_from[PERFDATA_POINTS]
    cur.execute(sql.SQL("SELECT count(*) FROM {}").format(legacy))
    total = _count(cur)
    for table, at in kept_from.items():
        _partitions_for(cur, schema, legacy, "check_time", table, at)
    cur.execute(
        sql.SQL(
            "CREATE TEMP TABLE {} (metric_id integer, check_time bigint, value double precision,"
            " value_text text, problem text) ON COMMIT DROP"
        ).format(sql.Identifier(_STAGE))
    )
    horizons = {t.name: at for t, at in kept_from.items() if at is not None}
    stage = sql.Identifier(_STAGE)
    lowest = -(2**63)
    # Literal bounds, no parameters: the tier statements' SQL holds "%" (modulo). Each tier
    # adds whole buckets from its own horizon, of every old point, as the sink adds them.
    insert = [
        sql.SQL(
            "INSERT INTO {} (metric_id, check_time, value) SELECT metric_id, check_time, value"
            " FROM {} WHERE check_time >= {}"
        ).format(
            _name(schema, PERFDATA_POINTS.name),
            stage,
            sql.Literal(horizons.get(PERFDATA_POINTS.name, lowest)),
        ),
        *(
            sql.SQL(
                "WITH new AS MATERIALIZED"
                " (SELECT * FROM {} WHERE check_time - check_time % {} >= {}) {}"
            ).format(
                stage,
                sql.Literal(tier.bucket),
                sql.Literal(horizons.get(tier.table.name, lowest)),
                _tier_upsert(schema, tier.table.name, tier.bucket),
            )
            for tier in TIERS
        ),
    ]
    read = sql.SQL(
        "SELECT m.metric_id, p.check_time, p.value FROM ({}) p JOIN {} m USING ({})"
    ).format(
        _distinct_points(schema, "host_name, service_description, label, check_time, value"),
        _name(schema, "perfdata_metrics"),
        _KEY,
    )
    distinct = 0
    with conn.cursor(name="legacy_points") as reader:
        reader.execute(read)
        while rows := reader.fetchmany(_CHUNK):
            distinct += len(rows)
            with cur.copy(sql.SQL("COPY {} FROM STDIN (FORMAT BINARY)").format(stage)) as copy:
                copy.set_types(["int4", "int8", "float8", "text", "text"])
                for metric_id, check_time, value in rows:
                    text = None if value is None else repr(value)  # as the live sink stages it
                    copy.write_row((metric_id, check_time, value, text, None))
            cur.execute(insert[0])  # the raw points
            report.points_kept += cur.rowcount
            for statement in insert[1:]:
                cur.execute(statement)
            cur.execute(sql.SQL("TRUNCATE {}").format(stage))
    report.points_merged = total - distinct
    for name, at in horizons.items():
        _record_horizon(cur, schema, name, at)
    report.points_dropped = distinct - report.points_kept
    for tier in TIERS:
        cur.execute(sql.SQL("SELECT count(*) FROM {}").format(_name(schema, tier.table.name)))
        report.tier_buckets[tier.name] = _count(cur)


def _rollups_differing(
    cur: psycopg.Cursor[Any], schema: str, policy: RetentionPolicy, now: int
) -> int:
    """How many old 5-minute rollups, within the 5-minute tier's window, the new tier
    does not hold alike (samples, sum, min, max)."""
    horizon = policy.kept_from(TIERS[0].table, now)
    cur.execute(
        sql.SQL("""
        SELECT count(*) FROM {rollups} r
        LEFT JOIN {metrics} m USING (host_name, service_description, label)
        LEFT JOIN {tier} t ON t.metric_id = m.metric_id AND t.bucket_start = r.bucket_start
        WHERE r.bucket_start >= %s AND (t.metric_id IS NULL OR t.samples <> r.samples
              OR t.sum IS DISTINCT FROM r.sum OR t.min IS DISTINCT FROM r.min
              OR t.max IS DISTINCT FROM r.max)
        """).format(
            rollups=_name(schema, "legacy_perfdata_rollups"),
            metrics=_name(schema, "perfdata_metrics"),
            tier=_name(schema, TIERS[0].table.name),
        ),
        (horizon if horizon is not None else -(2**63),),
    )
    return _count(cur)


def _move(cur: psycopg.Cursor[Any], schema: str, table: Table[Any]) -> int:
    """Copy every row of ``legacy_<table>`` into the new partitioned ``table``."""
    legacy = f"legacy_{table.name}"
    _partitions_for(cur, schema, _name(schema, legacy), str(table.time_column), table, None)
    cur.execute(
        "SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
        (schema, legacy),
    )
    present = {name for (name,) in cur.fetchall()}
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in table.stored_names if c in present)
    cur.execute(
        sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {}").format(
            _name(schema, table.name), columns, columns, _name(schema, legacy)
        )
    )
    return cur.rowcount


def _partitions_for(
    cur: psycopg.Cursor[Any],
    schema: str,
    source: sql.Composed,
    column: str,
    table: Table[Any],
    kept_from: int | None,
) -> None:
    """Create the partitions of ``table`` that the instants of ``source.column`` from
    ``kept_from`` on fall in (the spans holding any of them)."""
    span = table.partition_span
    assert span is not None, table
    # Floor-aligned, like postgres_partitions.span_start, also for an instant before 1970.
    cur.execute(
        sql.SQL("SELECT DISTINCT {c} - mod(mod({c}, {s}) + {s}, {s}) FROM {t}").format(
            c=sql.Identifier(column), s=sql.Literal(span), t=source
        )
    )
    starts = [int(start) for (start,) in cur.fetchall()]
    if kept_from is not None:
        starts = [s for s in starts if s + span > kept_from]
    existing = list_partitions(cur, schema, table.name)
    for start, end in missing_ranges(existing, span, starts):
        create_partition(cur, schema, table.name, start, end)


def _count(cur: psycopg.Cursor[Any]) -> int:
    row = cur.fetchone()
    return int(row[0]) if row else 0
