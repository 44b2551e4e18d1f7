"""Time partitions of the projection's partitioned tables: naming, creating, listing, dropping.

A time-kept table with a ``partition_span`` (``projections.tables``) is declared
``PARTITION BY RANGE`` of its time column in PostgreSQL; each partition holds one span,
aligned on the epoch (a day-span partition holds one UTC day) and is named after its
start: ``perfdata_points_p20261201`` (``..._p20261201t0600`` for a span that is not whole
days). There is no DEFAULT partition: ``DETACH PARTITION CONCURRENTLY``, which expiry
uses so as not to block the writer, refuses to run beside one.

Partitions are created ahead by the node's maintenance (``projections.retention``) and on
demand by the sink for whatever instants a batch brings (a late result, a clock that
is off), each in a short transaction of its own: creating a partition locks its parent
table. A span changed in the configuration applies to partitions created from then on;
one never overlaps another: a new partition is cut to the gap between its neighbours.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import psycopg
from psycopg import sql

__all__ = [
    "Partition",
    "create_partition",
    "list_partitions",
    "missing_ranges",
    "partition_name",
    "span_start",
]

_DAY = 86_400_000_000
_BOUND_RE = re.compile(r"FROM \('?(-?\d+)'?\) TO \('?(-?\d+)'?\)")


@dataclass(frozen=True, order=True)
class Partition:
    """One partition of a partitioned table: [start, end) of its time column."""

    start: int
    end: int
    name: str


def span_start(instant: int, span: int) -> int:
    """The start of the epoch-aligned span holding ``instant``."""
    return instant - instant % span


def partition_name(table: str, start: int) -> str:
    when = datetime.fromtimestamp(start / 1_000_000, UTC)
    suffix = when.strftime("%Y%m%d") if start % _DAY == 0 else when.strftime("%Y%m%dt%H%M%S")
    return f"{table}_p{suffix}"


def list_partitions(cur: psycopg.Cursor[Any], schema: str, table: str) -> list[Partition]:
    """The partitions of ``schema.table``, oldest first."""
    cur.execute(
        "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i "
        "JOIN pg_class c ON c.oid = i.inhrelid JOIN pg_class p ON p.oid = i.inhparent "
        "JOIN pg_namespace n ON n.oid = p.relnamespace "
        "WHERE n.nspname = %s AND p.relname = %s",
        (schema, table),
    )
    out = []
    for name, bound in cur.fetchall():
        match = _BOUND_RE.search(bound or "")
        if match is not None:
            out.append(Partition(int(match[1]), int(match[2]), name))
    return sorted(out)


def missing_ranges(
    existing: list[Partition], span: int, instants: Iterable[int]
) -> list[tuple[int, int]]:
    """The [start, end) ranges to create so that every instant has a partition: its
    epoch-aligned span, cut to the gap between the partitions around the instant."""
    bounds = sorted((p.start, p.end) for p in existing)
    by_span: dict[int, set[int]] = {}
    for t in instants:
        by_span.setdefault(t - t % span, set()).add(t)
    uncovered = [
        t
        for start, members in by_span.items()
        if not any(s <= start and start + span <= e for s, e in bounds)
        for t in members
    ]
    ranges: list[tuple[int, int]] = []
    for t in sorted(uncovered):
        if any(s <= t < e for s, e in bounds):
            continue
        start = max([span_start(t, span), *(e for s, e in bounds if e <= t)])
        end = min([span_start(t, span) + span, *(s for s, e in bounds if s > t)])
        ranges.append((start, end))
        bounds.append((start, end))
    return ranges


def create_partition(
    cur: psycopg.Cursor[Any], schema: str, table: str, start: int, end: int
) -> str:
    """Create the partition [start, end) of ``schema.table``; its name."""
    name = partition_name(table, start)
    cur.execute(
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {}.{} PARTITION OF {}.{} FOR VALUES FROM ({}) TO ({})"
        ).format(
            sql.Identifier(schema),
            sql.Identifier(name),
            sql.Identifier(schema),
            sql.Identifier(table),
            sql.Literal(start),
            sql.Literal(end),
        )
    )
    return name
