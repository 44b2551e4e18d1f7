"""The state digest: one hash of a projection's canonical rows, restricted to a site subset.

Rows are taken from every digested table (``Table.digested``), kept when their site is
in the subset (their ``target_site``, or for a metric's points and tiers the metric's),
sorted by primary key, and hashed in a canonical text form. Two nodes whose digests
agree for a subset hold the same rows for it, whatever order they read the events in.
Node-local bookkeeping (offsets, dead letters, perfdata problem counts) is not digested.

The state digest does not depend on retention: by default it covers the tables that
are never expired (the registers, the metric dictionary). Time-kept tables (history,
audit trail, points, tiers, threshold changes) are digested only from an instant
``since`` on, which two nodes, or a rebuild and the live projection, both still hold.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Iterable, Mapping
from decimal import Decimal
from typing import Any

from projections.rollups import EXACT
from projections.table import Table
from projections.tables import METRIC_SERIES, PERFDATA_METRICS, TABLES

__all__ = ["Since", "canonical", "digest", "in_sites", "metric_sites"]


def canonical(value: Any) -> Any:
    if isinstance(value, Decimal):
        # 1.50 and 1.5 are one number; -0 and 0 too (PostgreSQL's numeric has no -0).
        return str(EXACT.plus(value + 0).normalize(EXACT))
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).hex()
    if isinstance(value, list | tuple):
        return [canonical(v) for v in value]
    return value


def metric_sites(rows_by_table: Mapping[str, Iterable[tuple[Any, ...]]]) -> dict[Any, str]:
    """The owning site of each metric (host, service, label)."""
    site_at = PERFDATA_METRICS.column_names.index("target_site")
    return {
        PERFDATA_METRICS.key_of(r): r[site_at] for r in rows_by_table.get(PERFDATA_METRICS.name, ())
    }


def in_sites(
    table: Table[Any],
    rows: Iterable[tuple[Any, ...]],
    sites: Collection[str] | None,
    metric_site: Mapping[Any, str],
) -> list[tuple[Any, ...]]:
    """The rows of ``table`` owned by ``sites`` (all when None)."""
    if sites is None:
        return [tuple(r) for r in rows]
    if table in METRIC_SERIES:
        return [tuple(r) for r in rows if metric_site.get(tuple(r[:3])) in sites]
    site_at = table.column_names.index("target_site")
    return [tuple(r) for r in rows if r[site_at] in sites]


#: From when the time-kept tables are digested: one instant for all, or one per table
#: name (a table not named: from 0 on), or None: not at all.
Since = int | Mapping[str, int] | None


def digest(
    rows_by_table: Mapping[str, Iterable[tuple[Any, ...]]],
    sites: Collection[str] | None = None,
    since: Since = None,
) -> str:
    """SHA-256 (hex) of the digested rows whose site is in ``sites`` (all when None); the
    time-kept tables' rows from ``since`` on, none of them when ``since`` is None."""
    total = hashlib.sha256()
    metric_site = metric_sites(rows_by_table) if sites is not None else {}
    for table in TABLES:
        if not table.digested or (table.time_column is not None and since is None):
            continue
        rows = in_sites(table, rows_by_table.get(table.name, ()), sites, metric_site)
        if table.time_column is not None:
            time_at = table.column_names.index(table.time_column)
            start = since if isinstance(since, int) else (since or {}).get(table.name, 0)
            rows = [r for r in rows if r[time_at] >= start]
        rows.sort(key=table.key_of)
        total.update(f"{table.name} {len(rows)}\n".encode())
        for row in rows:
            # repr keeps float precision exactly and tells None from NaN from infinity.
            total.update(repr(canonical(row)).encode())
            total.update(b"\n")
    return total.hexdigest()
