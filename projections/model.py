"""The whole projection held in memory: the reference every PostgreSQL run must equal.

It is the projection's own logic, not a stand-in for a database, and a sink in its own
right (``projections.sink.Sink``): ``write`` keeps a batch's register rows and its
appended rows, deduplicated by primary key exactly as the PostgreSQL sink's
``ON CONFLICT DO NOTHING`` does (first row wins), and adds the points it really kept to
the rollup tiers and the problem counts, as the PostgreSQL sink does. What it holds
comes from the batches written to it only, never from the fold's state, so it can be
checked against that state. ``expire`` forgets a time-kept table's rows before an
instant, as retention drops partitions.

``apply_batch`` is a convenience for property tests: it folds events into the
projection's own ``state`` and writes the resulting batch.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from typing import Any

from projections import fold
from projections.digest import Since, digest, in_sites, metric_sites
from projections.rollups import EXACT, TIERS, rollup_rows
from projections.rows import PointRow, ProblemCountRow
from projections.sink import Offsets, RowsByTable
from projections.state import APPEND_TABLES, REGISTER_TABLES, Changes, Key, ProjectionState
from projections.table import R, Table
from projections.tables import (
    OFFSETS,
    PERFDATA_METRICS,
    PERFDATA_POINTS,
    PERFDATA_PROBLEMS,
    TABLES,
)
from schemas.event import Event


class InMemoryProjection:
    """The projection in memory: a sink (``write``...) and, for tests, a fold (``apply_batch``)."""

    def __init__(self) -> None:
        #: The fold's state for ``apply_batch``; a caller folding with a state of its own
        #: writes its batches here with ``write`` and leaves this one empty.
        self.state = ProjectionState()
        self.registers: dict[Table[Any], dict[Key, Any]] = {t: {} for t in REGISTER_TABLES}
        self.appended: dict[Table[Any], dict[Key, Any]] = {t: {} for t in APPEND_TABLES}
        self.derived: dict[Table[Any], dict[Key, Any]] = {t.table: {} for t in TIERS}
        self.derived[PERFDATA_PROBLEMS] = {}

    def apply_batch(self, events: Iterable[Event]) -> Changes:
        """Fold ``events`` into ``state`` as one batch, write it, and return it."""
        changes = Changes()
        for event in events:
            fold.apply(self.state, event, changes)
        self.write(changes)
        return changes

    def write(self, changes: Changes) -> None:
        """Keep a batch: its final register rows, its appended rows not yet held, and the
        tiers and problem counts of the points it really added."""
        for table, rows in changes.registers.items():
            self.registers[table].update(rows)
        inserted: list[PointRow] = []
        for table, appended in changes.appends.items():
            kept = self.appended[table]
            for row in appended:
                key = table.key_of(row)
                if key not in kept:
                    kept[key] = row
                    if table is PERFDATA_POINTS:
                        inserted.append(row)
        for tier in TIERS:
            held = self.derived[tier.table]
            for key, add in rollup_rows(inserted, tier).items():
                old = held.get(key)
                held[key] = add if old is None else _merged(old, add)
        self._count_problems(inserted)

    def _count_problems(self, inserted: list[PointRow]) -> None:
        counts = self.derived[PERFDATA_PROBLEMS]
        for point in inserted:
            if point.problem is None:
                continue
            key = (point.host_name, point.service_description, point.label)
            old = counts.get(key)
            if old is None:
                # The site is the metric's, filled in when the count is read.
                counts[key] = ProblemCountRow(*key, "", 1, point.check_time, point.problem)
                continue
            later = point.check_time > old.last_time
            counts[key] = old._replace(
                points=old.points + 1,
                last_time=point.check_time if later else old.last_time,
                last_problem=point.problem if later else old.last_problem,
            )

    def expire(self, table: Table[Any], before: int) -> int:
        """Forget the rows of time-kept ``table`` older than ``before``; how many."""
        assert table.time_column is not None, table
        held = self.derived[table] if table.kind == "derived" else self.appended[table]
        time_at = table.column_names.index(table.time_column)
        gone = [k for k, row in held.items() if row[time_at] is not None and row[time_at] < before]
        for key in gone:
            del held[key]
        return len(gone)

    def finish(self) -> None:
        """Nothing is pending: every batch was kept whole when it was written."""

    def load_registers(self) -> RowsByTable:
        return {
            t.name: list(self.registers[t].values()) for t in REGISTER_TABLES if t is not OFFSETS
        }

    def load_offsets(self) -> Offsets:
        offsets: Offsets = {}
        for row in self.table_rows(OFFSETS):
            offsets.setdefault(row.site, {})[row.partition] = row.next_offset
        return offsets

    def table_rows(self, table: Table[R]) -> list[R]:
        """The rows held for ``table`` (register, appended or derived), as the fold made
        them (staged-only columns included)."""
        if table is PERFDATA_PROBLEMS:
            metrics = self.registers[PERFDATA_METRICS]
            counts: list[Any] = [
                row._replace(target_site=metrics[row[:3]].target_site)
                for row in self.derived[table].values()
            ]
            return counts
        if table.kind == "derived":
            return list(self.derived[table].values())
        held = self.registers if table.kind == "register" else self.appended
        return list(held[table].values())

    def rows(self) -> RowsByTable:
        """Every table's rows, digested or not, by table name, as a database stores them."""
        return {t.name: [t.stored(r) for r in self.table_rows(t)] for t in TABLES}

    def read_rows(self, sites: Collection[str] | None = None) -> RowsByTable:
        metrics: list[Any] = self.table_rows(PERFDATA_METRICS)
        metric_site = metric_sites({PERFDATA_METRICS.name: metrics})
        out: RowsByTable = {}
        for table in TABLES:
            if table.digested:
                rows = [table.stored(r) for r in self.table_rows(table)]
                out[table.name] = in_sites(table, rows, sites, metric_site)
        return out

    def digest(self, sites: Collection[str] | None = None, since: Since = None) -> str:
        return digest(self.read_rows(sites), sites, since)


def _merged(old: Any, add: Any) -> Any:
    """One tier bucket from two disjoint sets of its points (every aggregate commutes)."""
    if old.samples == 0:
        return add
    if add.samples == 0:
        return old
    later = add.last_time > old.last_time
    return old._replace(
        samples=old.samples + add.samples,
        sum=EXACT.add(old.sum, add.sum),
        min=min(old.min, add.min),
        max=max(old.max, add.max),
        last_time=add.last_time if later else old.last_time,
        last_value=add.last_value if later else old.last_value,
    )
